"""Choosing the database: resolution order, .env files, URL checks, clear errors."""

from __future__ import annotations

import pytest

from luminary.sql import DatabaseError, check_connection, make_engine, resolve_database_url, upgrade
from luminary.sql.config import parse_dotenv
from luminary.sql.errors import redact_url

POSTGRES = {
    "POSTGRES_HOST": "db.internal",
    "POSTGRES_PORT": "6543",
    "POSTGRES_USER": "lum",
    "POSTGRES_PASSWORD": "p@ss:w/rd",
    "POSTGRES_DB": "stars",
}


def resolve(cli=None, tmp_path=None, **environ):
    return resolve_database_url(cli, environ=environ, cwd=tmp_path)


def test_each_source_wins_over_the_ones_after_it(tmp_path):
    everything = {
        "LUMINARY_DATABASE_URL": "sqlite:///luminary-env.db",
        "DATABASE_URL": "sqlite:///database-url.db",
        **POSTGRES,
    }
    assert resolve("sqlite:///cli.db", tmp_path, **everything) == "sqlite:///cli.db"
    assert resolve(None, tmp_path, **everything) == "sqlite:///luminary-env.db"
    del everything["LUMINARY_DATABASE_URL"]
    assert resolve(None, tmp_path, **everything) == "sqlite:///database-url.db"
    del everything["DATABASE_URL"]
    assert (
        resolve(None, tmp_path, **everything)
        == "postgresql+psycopg://lum:p%40ss%3Aw%2Frd@db.internal:6543/stars"
    )
    assert resolve(None, tmp_path) == "sqlite:///luminary.db"


def test_empty_values_count_as_unset(tmp_path):
    assert (
        resolve("", tmp_path, LUMINARY_DATABASE_URL="  ", DATABASE_URL="sqlite:///x.db") == "sqlite:///x.db"
    )


def test_postgres_variables_have_defaults_and_need_a_host(tmp_path):
    assert resolve(None, tmp_path, POSTGRES_HOST="h") == "postgresql+psycopg://postgres@h:5432/postgres"
    assert (
        resolve(None, tmp_path, POSTGRES_HOST="h", POSTGRES_USER="ada")
        == "postgresql+psycopg://ada@h:5432/ada"
    )
    assert resolve(None, tmp_path, POSTGRES_PASSWORD="secret") == "sqlite:///luminary.db"
    with pytest.raises(DatabaseError, match="POSTGRES_PORT"):
        resolve(None, tmp_path, POSTGRES_HOST="h", POSTGRES_PORT="five")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_plain_postgres_urls_use_psycopg_3(tmp_path, scheme):
    url = f"{scheme}://u:pw@host:5432/db"
    assert resolve(url, tmp_path) == "postgresql+psycopg://u:pw@host:5432/db"
    assert resolve(None, tmp_path, DATABASE_URL=url) == "postgresql+psycopg://u:pw@host:5432/db"
    assert resolve("postgresql+psycopg://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"


def test_dotenv_is_read_and_the_environment_wins_over_it(tmp_path):
    (tmp_path / ".env").write_text(
        "# local settings\nDATABASE_URL=sqlite:///from-dotenv.db\nexport POSTGRES_HOST=dotenv-host\n",
        encoding="utf-8",
    )
    assert resolve(None, tmp_path) == "sqlite:///from-dotenv.db"
    assert resolve(None, tmp_path, DATABASE_URL="sqlite:///from-env.db") == "sqlite:///from-env.db"
    assert resolve(None, tmp_path, LUMINARY_DATABASE_URL="sqlite:///first.db") == "sqlite:///first.db"
    assert resolve("sqlite:///cli.db", tmp_path) == "sqlite:///cli.db"


def test_dotenv_parsing():
    text = """
    # comment
    PLAIN=value
    SPACED = spaced value   # trailing comment
    export EXPORTED=yes
    SINGLE='literal \\n # not a comment'
    DOUBLE="line\\nbreak \\"quoted\\" # kept"
    HASH=abc#def
    EMPTY=
    not an assignment
    1BAD=x
    PLAIN=second
    """
    assert parse_dotenv(text) == {
        "PLAIN": "second",
        "SPACED": "spaced value",
        "EXPORTED": "yes",
        "SINGLE": "literal \\n # not a comment",
        "DOUBLE": 'line\nbreak "quoted" # kept',
        "HASH": "abc#def",
        "EMPTY": "",
    }


def test_a_malformed_url_is_one_clear_line_without_the_password(tmp_path):
    with pytest.raises(DatabaseError) as caught:
        resolve("not a url at all", tmp_path)
    assert "not a url at all" in caught.value.message
    with pytest.raises(DatabaseError) as caught:
        resolve(None, tmp_path, DATABASE_URL="postgresql+psycopg://ada:s3cret@host:notaport/db")
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(DatabaseError, match="nosuchdriver"):
        make_engine("nosuchdriver://host/db")


def test_redact_url_hides_passwords_even_in_broken_urls():
    assert redact_url("postgresql://ada:s3cret@host/db") == "postgresql://ada:***@host/db"
    assert redact_url("postgresql://ada:p@ss@host:x/db") == "postgresql://ada:***@host:x/db"
    assert redact_url("sqlite:///luminary.db") == "sqlite:///luminary.db"


def test_an_unreachable_database_is_one_clear_line_without_the_password(tmp_path):
    # Port 1 on the loopback interface: nothing listens there, the refusal is immediate.
    url = "postgresql+psycopg://ada:s3cret@127.0.0.1:1/luminary"
    engine = make_engine(url)
    try:
        with pytest.raises(DatabaseError) as caught:
            check_connection(engine)
    finally:
        engine.dispose()
    message = str(caught.value)
    assert message.startswith(
        "Cannot connect to the database postgresql+psycopg://ada:***@127.0.0.1:1/luminary"
    )
    assert "s3cret" not in message
    assert "\n" not in message
    with pytest.raises(DatabaseError, match="Cannot connect"):
        upgrade(url)
    with pytest.raises(DatabaseError, match="Cannot connect"):
        upgrade(f"sqlite:///{tmp_path / 'missing' / 'folder' / 'x.db'}")
