"""Development tasks. ``nox --list`` describes them; arguments after ``--`` reach the tool."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]  # bench, fuzz and build run when asked for

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
    # Drives Debian's headless Chromium (and its chromedriver) through the API explorers.
    "selenium>=4.20",
]
FUZZ_DEPS = ["schemathesis>=4.1,<5"]
# Ruff: mkdocstrings formats the signatures of the API reference with it.
DOCS_DEPS = ["mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10", "mkdocstrings[python]>=1,<2", "ruff>=0.6"]


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
    # pytest and Hypothesis: luminary.core.testing (the storage contract kit) imports them.
    session.install("mypy>=1.10", "types-waitress", "pytest>=8", "hypothesis>=6.100")
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


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into ``site/`` with MkDocs; any warning fails the build.

    The site works offline: open ``site/index.html`` from the file system.
    Arguments after ``--`` reach ``mkdocs build``.
    """
    install_packages(session)
    session.install(*DOCS_DEPS)
    session.run("mkdocs", "build", "--strict", *session.posargs)
    # The reference's docstrings use Sphinx roles, which docs/hooks/sphinx_roles.py rewrites:
    # one left in a reference page means the hook did not run, or missed a form of them. (The
    # guides may show them: their code blocks are source files, docstrings included.)
    import re

    role = re.compile(r":(?:class|func|meth|mod|attr|exc|data|obj):`")
    for page in sorted((ROOT / "site" / "reference").rglob("*.html")):
        if role.search(page.read_text(encoding="utf-8")):
            session.error(f"{page.relative_to(ROOT)} shows a Sphinx role as typed")


#: What ``nox -s build`` runs against the installed luminary-core wheel: the whole contract kit.
KIT_TRIAL = """\
import pytest

from luminary.core import InMemoryStore
from luminary.core.testing import ConcurrencyContract, StorageContract


class TestInMemoryStore(StorageContract, ConcurrencyContract):
    @pytest.fixture
    def uow_factory(self):
        return InMemoryStore().uow_factory()
"""

#: Each package's distribution name, the module it provides, and what its wheel must carry.
DISTRIBUTIONS = [
    ("luminary_core", "luminary.core", "luminary/core/py.typed"),
    ("luminary_sql", "luminary.sql", "luminary/sql/migrations/env.py"),
    ("luminary_http", "luminary.http", "luminary/http/py.typed"),
]


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdists and wheels of the three packages as a release would, and check them.

    ``python -m build`` makes each sdist, then the wheel from that sdist, into
    ``dist/``; ``twine check --strict`` reads their metadata as PyPI would;
    ``check-wheel-contents`` looks for stray or missing files. Then each wheel
    is installed, with its dependencies (the other packages from ``dist/``),
    in a virtual environment of its own, where it is imported and says its
    version; its license must be in the wheel and the sdist.
    """
    import shutil
    import tarfile
    import zipfile

    session.install("build>=1.2", "twine>=5", "check-wheel-contents>=0.6")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for package in PACKAGES:
        session.run("python", "-m", "build", "--outdir", str(dist), package)
    sdists = sorted(dist.glob("*.tar.gz"))
    wheels = sorted(dist.glob("*.whl"))
    if len(sdists) != len(DISTRIBUTIONS) or len(wheels) != len(DISTRIBUTIONS):
        session.error(f"expected {len(DISTRIBUTIONS)} sdists and wheels, found {sdists + wheels}")
    session.run("twine", "check", "--strict", *map(str, sdists + wheels))
    # W004 (a module at a path no import reaches) is let through for luminary-sql's migrations
    # only, which Alembic loads by path (versions/0001_initial_schema.py …); checked here instead.
    sql_wheel = [w for w in wheels if w.name.startswith("luminary_sql-")]
    others = [w for w in wheels if w not in sql_wheel]
    session.run("check-wheel-contents", *map(str, others))
    session.run("check-wheel-contents", "--ignore", "W004", *map(str, sql_wheel))
    for wheel in sql_wheel:
        with zipfile.ZipFile(wheel) as archive:
            for path in archive.namelist():
                parts = path.removesuffix(".py").split("/")
                by_path = path.startswith("luminary/sql/migrations/versions/")
                if path.endswith(".py") and not by_path and not all(p.isidentifier() for p in parts):
                    session.error(f"{wheel.name}: {path} cannot be imported")
    license_text = (ROOT / "LICENSE").read_text()
    for name, module, carried in DISTRIBUTIONS:
        (wheel,) = dist.glob(f"{name}-*.whl")
        (sdist,) = dist.glob(f"{name}-*.tar.gz")
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
            if carried not in names or len(licenses) != 1:
                session.error(f"{wheel.name} lacks {carried} or its license")
            if archive.read(licenses[0]).decode() != license_text:
                session.error(f"{wheel.name} carries another license text")
        with tarfile.open(sdist) as archive:
            if not any(member.name.endswith("/LICENSE") for member in archive.getmembers()):
                session.error(f"{sdist.name} lacks its license")
        venv = Path(session.create_tmp()).resolve() / f"try-{name}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        session.run(
            python, "-m", "pip", "install", "--quiet", "--find-links", str(dist), str(wheel), external=True
        )
        session.run(python, "-c", f"import {module}; print('{name}', {module}.__version__)", external=True)
        if name == "luminary_core":
            # The storage contract kit, from the wheel with its extra, run as a third party would:
            # one class over the in-memory store, in a folder outside the repository.
            session.run(python, "-m", "pip", "install", "--quiet", f"{wheel}[testing]", external=True)
            trial = Path(session.create_tmp()) / "kit-trial"
            shutil.rmtree(trial, ignore_errors=True)
            trial.mkdir()
            (trial / "test_memory_store.py").write_text(KIT_TRIAL)
            with session.chdir(trial):
                session.run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", external=True)
