"""Database URLs: checks, psycopg 3 for plain PostgreSQL URLs, clear errors without passwords.

Which database the ``luminary`` command chooses is tested in ``test_http_settings``.
"""

from __future__ import annotations

import pytest

from luminary.sql import DatabaseError, check_connection, make_engine, upgrade
from luminary.sql.config import normalize_url
from luminary.sql.errors import redact_url


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_plain_postgres_urls_use_psycopg_3(scheme):
    assert normalize_url(f"{scheme}://u:pw@host:5432/db") == "postgresql+psycopg://u:pw@host:5432/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_a_malformed_url_is_one_clear_line_without_the_password(tmp_path):
    with pytest.raises(DatabaseError) as caught:
        normalize_url("not a url at all")
    assert "not a url at all" in caught.value.message
    with pytest.raises(DatabaseError) as caught:
        normalize_url("postgresql+psycopg://ada:s3cret@host:notaport/db")
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
