"""Development tasks. ``nox --list`` describes them; arguments after ``--`` reach the tool."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]  # bench runs only when asked for

ROOT = Path(__file__).parent
# Installed in dependency order: core, then the adapters that build on it.
PACKAGES = [str(ROOT / "packages" / name) for name in ("luminary-core", "luminary-sql", "luminary-http")]
TEST_DEPS = [
    "pytest>=8",
    "pytest-cov>=5",
    "hypothesis>=6.100",
    "openapi-spec-validator>=0.7",
    # jsonschema's date-time format needs rfc3339-validator, or it checks nothing.
    "jsonschema[format-nongpl]>=4.18",
]
FUZZ_DEPS = ["schemathesis>=4.1,<5"]


def install_packages(session: nox.Session) -> None:
    for package in PACKAGES:
        session.install("-e", package)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (in-memory, SQLite, and PostgreSQL when configured)."""
    install_packages(session)
    session.install(*TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite under coverage, with the lines each module misses (it takes about a third longer)."""
    install_packages(session)
    session.install(*TEST_DEPS)
    session.run("pytest", "--cov=luminary", "--cov-report=term-missing", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common mistakes with ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", *(session.posargs or ["."]))
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the three packages with mypy, strict."""
    install_packages(session)
    session.install("mypy>=1.10", "types-waitress")
    session.run("mypy", "-p", "luminary.core", "-p", "luminary.sql", "-p", "luminary.http", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark the HTTP API against a bare Falcon ceiling; prints figures, asserts nothing.

    Arguments after ``--`` reach the benchmark, e.g. ``nox -s bench -- --seconds 10``.
    """
    install_packages(session)
    session.run("python", "benchmarks/bench.py", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz API v2 with Schemathesis against its own OpenAPI document; fails on any failure.

    Every operation, every check (``--checks all``) and every phase, on a fresh
    in-memory store served on a free loopback port; prints operations, test
    cases, failures and time. A run takes about a minute. Arguments after ``--``
    reach ``fuzz/run_fuzz.py``, e.g. ``nox -s fuzz -- --max-examples 100 --seed 7``
    or ``-- --database-url sqlite:///fuzz.db`` (an empty database).
    """
    install_packages(session)
    session.install(*FUZZ_DEPS)
    session.run("python", "fuzz/run_fuzz.py", *session.posargs)
