"""The ``luminary`` command's settings: which database, in what order, from where; .env files."""

from __future__ import annotations

import pytest

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary.http.settings import choose_database, resolve_database_url
from luminary.sql import DatabaseError

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


def test_dotenv_files_are_read_with_python_dotenv(tmp_path):
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
    (tmp_path / ".env").write_text(text, encoding="utf-8")
    from luminary.http.settings import _read_dotenv

    assert _read_dotenv(tmp_path) == {
        "PLAIN": "second",
        "SPACED": "spaced value",
        "EXPORTED": "yes",
        "SINGLE": "literal \\n # not a comment",
        "DOUBLE": 'line\nbreak "quoted" # kept',
        "HASH": "abc#def",
        "EMPTY": "",
        "1BAD": "x",
    }


def test_the_choice_says_where_it_came_from(tmp_path):
    assert choose_database("sqlite:///cli.db", cwd=tmp_path, environ={}).source == "--database-url"
    assert (
        choose_database(None, cwd=tmp_path, environ={"DATABASE_URL": "sqlite:///x.db"}).source
        == "DATABASE_URL"
    )
    assert choose_database(None, cwd=tmp_path, environ=POSTGRES).source == "POSTGRES_*"
    assert choose_database(None, cwd=tmp_path, environ={}).source == "default"
    (tmp_path / ".env").write_text('LUMINARY_DATABASE_URL="sqlite:///dot env.db"\n', encoding="utf-8")
    choice = choose_database(None, cwd=tmp_path, environ={})
    assert (choice.url, choice.source) == ("sqlite:///dot env.db", "LUMINARY_DATABASE_URL (.env)")
    # A variable set, even empty, in the real environment wins over the file.
    assert choose_database(None, cwd=tmp_path, environ={"LUMINARY_DATABASE_URL": " "}).source == "default"


def test_an_unreadable_dotenv_is_one_clear_error(tmp_path):
    (tmp_path / ".env").write_bytes(b"DATABASE_URL=\xff\xfe")
    with pytest.raises(DatabaseError, match=r"Cannot read .*\.env"):
        choose_database(None, cwd=tmp_path, environ={})


def test_a_setting_comes_from_the_environment_before_the_env_file(tmp_path):
    from luminary.http.settings import setting

    (tmp_path / ".env").write_text("LUMINARY_V1_MODE=token\nBLANK=\n")
    assert setting("LUMINARY_V1_MODE", environ={}, cwd=tmp_path) == "token"
    assert setting("LUMINARY_V1_MODE", environ={"LUMINARY_V1_MODE": "off"}, cwd=tmp_path) == "off"
    assert setting("LUMINARY_V1_MODE", environ={"LUMINARY_V1_MODE": " "}, cwd=tmp_path) is None
    assert setting("BLANK", environ={}, cwd=tmp_path) is None
    assert setting("MISSING", environ={}, cwd=tmp_path) is None
