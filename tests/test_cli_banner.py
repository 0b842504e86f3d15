"""``luminary serve`` explains itself; every serve option has a variable; bad values are one line.

The banner names the version, the database (no password) and where that choice
came from, what the migrations just did, the v1 mode, workers and threads, and
how to stop. Most tests run the command in this process, with a server that
stops as soon as it has started (as if SIGTERM came at once); two start the
real ``luminary serve``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
from pathlib import Path

import pytest

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary import core, sql
from luminary.http import __version__, cli
from luminary.http.auth import V1Mode
from luminary.http.banner import Startup, serving, versions
from luminary.http.ratelimits import Limit
from luminary.http.server import Service
from luminary.http.settings import choose_database
from luminary.http.workers import CpuAffinity
from served import serve

ROOT = Path(__file__).resolve().parents[1]
HEAD = sql.head_revision()
SETTINGS = ("LUMINARY_", "DATABASE_URL", "POSTGRES_")

#: Every option of ``luminary serve``, its variable, a value for the variable and what it parses to,
#: then a value for the option and what that parses to (the option wins).
OPTIONS = [
    ("--host", "LUMINARY_HOST", "0.0.0.0", "0.0.0.0", "127.0.0.2", "127.0.0.2"),
    ("--port", "LUMINARY_PORT", "8123", 8123, "0", 0),
    ("--threads", "LUMINARY_THREADS", "3", 3, "2", 2),
    ("--workers", "LUMINARY_WORKERS", "3", 3, "1", 1),
    ("--cpu-affinity", "LUMINARY_CPU_AFFINITY", "off", CpuAffinity.OFF, "on", CpuAffinity.ON),
    ("--no-seed", "LUMINARY_NO_SEED", "yes", True, None, True),
    ("--seed", "LUMINARY_NO_SEED", "true", True, None, False),
    ("--v1", "LUMINARY_V1_MODE", "token", V1Mode.TOKEN, "off", V1Mode.OFF),
    ("--timer-cap-hours", "LUMINARY_TIMER_CAP_HOURS", "2", 2.0, "3.5", 3.5),
    ("--request-timeout", "LUMINARY_REQUEST_TIMEOUT", "5", 5.0, "7", 7.0),
    ("--max-connections-per-address", "LUMINARY_MAX_CONNECTIONS_PER_ADDRESS", "0", 0, "9", 9),
    ("--connection-limit", "LUMINARY_CONNECTION_LIMIT", "50", 50, "60", 60),
    ("--shutdown-grace", "LUMINARY_SHUTDOWN_GRACE", "0", 0.0, "4", 4.0),
    (
        "--cors-origin",
        "LUMINARY_CORS_ORIGINS",
        "https://a.example, https://b.example",
        ("https://a.example", "https://b.example"),
        "https://c.example",
        ("https://c.example",),
    ),
    ("--log-format", "LUMINARY_LOG_FORMAT", "json", "json", "text", "text"),
    ("--no-metrics", "LUMINARY_METRICS", "on", True, None, False),
    ("--metrics", "LUMINARY_METRICS", "off", False, None, True),
    (
        "--rate-limit",
        "LUMINARY_RATE_LIMITS",
        "signin=10/60, read=600/60",
        (("signin", Limit(10, 60)), ("read", Limit(600, 60))),
        "write=120/60",
        (("write", Limit(120, 60)),),
    ),
]
#: Options whose variable is read elsewhere: --database-url's by luminary.http.settings.
ELSEWHERE = {"--database-url": "LUMINARY_DATABASE_URL"}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A working directory without .env, and no Luminary setting in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(SETTINGS):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def one_shot(environment: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """``luminary serve`` in this process stops gracefully as soon as it serves."""
    run = Service.run

    def stop_at_once(service: Service) -> None:
        service.request_stop(signal.SIGTERM)
        run(service)

    environment.setattr(Service, "run", stop_at_once)
    return environment


def start(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    """Run ``luminary serve --port 0 --workers 1 ARGV`` here (no fork); its standard output, line by line."""
    capsys.readouterr()
    assert cli.main(["serve", "--port", "0", "--workers", "1", *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out.splitlines()


def row(lines: list[str], name: str) -> str:
    """The text of the banner's row ``name``, and of the lines continuing it."""
    at = next(i for i, line in enumerate(lines) if line.startswith(f"  {name} "))
    text = [lines[at][2:].removeprefix(name).strip()]
    for line in lines[at + 1 :]:
        if not line.startswith(" " * 12):
            break
        text.append(line.strip())
    return " ".join(text)


# ---------------------------------------------------------------- the banner


def test_a_fresh_sqlite_start_then_a_second_one(one_shot, capsys, tmp_path):
    first = start(capsys)
    assert first[0] == f"Luminary  {versions()}"
    assert row(first, "database") == (
        f"sqlite:///luminary.db (the file {tmp_path / 'luminary.db'}) the default: no --database-url, "
        "LUMINARY_DATABASE_URL, DATABASE_URL or POSTGRES_HOST is set"
    )
    assert row(first, "schema") == f"revision {HEAD}, just migrated from an empty database"
    assert row(first, "seed").startswith("added ")
    assert row(first, "API v1") == "open: no token needed; API v2 needs a bearer token"
    threads = cli.default_threads("sqlite:///luminary.db")
    assert row(first, "workers") == f"1, with {threads} thread{'s' * (threads != 1)} (the default)"
    serving, stopping = first[-2:]
    assert serving.startswith("Serving Luminary on http://127.0.0.1:")
    assert serving.endswith(f" with {threads} thread{'s' * (threads != 1)}")
    assert stopping == "Stop with Ctrl-C or SIGTERM (requests in flight get 30 s)."

    again = start(capsys, "--threads", "2", "--shutdown-grace", "5", "--v1", "token")
    assert row(again, "schema") == f"revision {HEAD}, up to date"
    assert row(again, "seed") == "nothing to add: the database has constellations"
    assert row(again, "API v1") == "token: a bearer token needed, as for API v2"
    assert row(again, "workers") == "1, with 2 threads"
    assert again[-1] == "Stop with Ctrl-C or SIGTERM (requests in flight get 5 s)."


def test_a_start_after_an_older_luminary_says_from_which_revision(one_shot, capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    sql.upgrade(url, "0002")
    lines = start(capsys, "--database-url", url, "--no-seed")
    assert row(lines, "database") == f"{url} set by --database-url"
    assert row(lines, "schema") == f"revision {HEAD}, just migrated from revision 0002"
    assert row(lines, "seed") == "off (--no-seed or LUMINARY_NO_SEED)"


def test_the_banner_names_a_dotenv_file_and_what_it_wins_over(one_shot, capsys, tmp_path):
    # The confusion to end: a set-up wrote .env, then PostgreSQL was asked for in the environment.
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///from-dotenv.db\n")
    one_shot.setenv("POSTGRES_HOST", "db.internal")
    one_shot.setenv("POSTGRES_PASSWORD", "s3cret")
    lines = start(capsys)
    assert row(lines, "database") == (
        f"sqlite:///from-dotenv.db (the file {tmp_path / 'from-dotenv.db'}) set by DATABASE_URL in "
        f"{tmp_path / '.env'}, which wins over the POSTGRES_* variables in the environment"
    )
    assert "s3cret" not in "\n".join(lines)


POSTGRES = {
    "POSTGRES_HOST": "db.internal",
    "POSTGRES_USER": "lum",
    "POSTGRES_PASSWORD": "p@ss:w/rd",
    "POSTGRES_DB": "stars",
}


@pytest.mark.parametrize(
    ("cli_value", "environ", "dotenv", "url", "reason"),
    [
        (
            "sqlite:///cli.db",
            {"DATABASE_URL": "sqlite:///env.db"},
            "",
            "sqlite:///cli.db (the file {cwd}/cli.db)",
            "set by --database-url, which wins over DATABASE_URL in the environment",
        ),
        (
            None,
            {"LUMINARY_DATABASE_URL": "postgresql://lum:hunter2@db/stars"},
            "",
            "postgresql+psycopg://lum:***@db/stars",
            "set by LUMINARY_DATABASE_URL in the environment",
        ),
        (
            None,
            {"DATABASE_URL": "sqlite:////srv/x.db"},
            "",
            "sqlite:////srv/x.db",
            "set by DATABASE_URL in the environment",
        ),
        (
            None,
            {},
            "LUMINARY_DATABASE_URL=postgres://lum:hunter2@db/stars\n",
            "postgresql+psycopg://lum:***@db/stars",
            "set by LUMINARY_DATABASE_URL in {dotenv}",
        ),
        (
            None,
            POSTGRES,
            "",
            "postgresql+psycopg://lum:***@db.internal:5432/stars",
            "set by the POSTGRES_* variables in the environment",
        ),
        (
            None,
            {"POSTGRES_HOST": "db.internal"},
            "POSTGRES_PASSWORD=hunter2\nDATABASE_URL=sqlite:////srv/x.db\n",
            "sqlite:////srv/x.db",
            "set by DATABASE_URL in {dotenv}, which wins over the POSTGRES_* variables in the environment",
        ),
        (
            None,
            {},
            "",
            "sqlite:///luminary.db (the file {cwd}/luminary.db)",
            "the default: no --database-url",
        ),
    ],
    ids=[
        "option",
        "LUMINARY_DATABASE_URL",
        "DATABASE_URL",
        ".env",
        "POSTGRES_*",
        ".env over POSTGRES_*",
        "default",
    ],
)
def test_the_banner_names_the_database_without_its_password_and_where_it_came_from(
    tmp_path, cli_value, environ, dotenv, url, reason
):
    if dotenv:
        (tmp_path / ".env").write_text(dotenv)
    choice = choose_database(cli_value, environ=environ, cwd=tmp_path)
    migration = sql.Migration(None, HEAD)
    lines = Startup(choice, migration, 3, V1Mode.OPEN, 1, 4).lines()
    shown = "\n".join(lines)
    for secret in ("hunter2", "p@ss", "p%40ss"):
        assert secret not in shown
    url = url.format(cwd=Path.cwd())
    assert lines[1] == f"  database  {url}"
    assert lines[2].strip().startswith(reason.format(dotenv=tmp_path / ".env"))


def test_workers_and_threads_say_which_are_defaults():
    choice = choose_database("postgresql://u@db/x", environ={}, cwd=Path("/nonexistent"))
    migration = sql.Migration(HEAD, HEAD)
    both = Startup(choice, migration, 0, V1Mode.OFF, 2, 4, frozenset({"workers", "threads"}))
    assert row(both.lines(), "workers") == "2 (the default), each with 4 threads (the default)"
    assert row(both.lines(), "API v1") == "off: not served; API v2 needs a bearer token"
    chosen = Startup(choice, migration, 0, V1Mode.OPEN, 3, 1)
    assert row(chosen.lines(), "workers") == "3, each with 1 thread"


def test_the_banner_says_metrics_rate_limits_and_cors_origins(one_shot, capsys):
    lines = start(capsys)
    assert row(lines, "metrics") == "on: /metrics, in the Prometheus text format"
    assert row(lines, "limits") == "off: no --rate-limit or LUMINARY_RATE_LIMITS"
    assert (
        row(lines, "CORS") == "none: answers carry no CORS header (no --cors-origin or LUMINARY_CORS_ORIGINS)"
    )
    assert lines.index(next(line for line in lines if line.startswith("  CORS "))) == len(lines) - 3

    lines = start(
        capsys,
        "--no-metrics",
        "--rate-limit",
        "read=600/60",
        "--rate-limit",
        "signin=10/60",
        "--cors-origin",
        "https://app.example.com",
        "--cors-origin",
        "http://localhost:5173",
    )
    assert row(lines, "metrics") == "off (--no-metrics or LUMINARY_METRICS): /metrics is not served"
    # In the README's order of the classes, whatever the order given.
    assert (
        row(lines, "limits")
        == "per client, signin 10 every 60 s, read 600 every 60 s; counted in this process"
    )
    assert row(lines, "CORS") == "https://app.example.com, http://localhost:5173"

    one_shot.setenv("LUMINARY_METRICS", "off")
    one_shot.setenv("LUMINARY_RATE_LIMITS", "write=1200/3600")
    one_shot.setenv("LUMINARY_CORS_ORIGINS", "*")
    lines = start(capsys)
    assert row(lines, "metrics").startswith("off ")
    assert row(lines, "limits") == "per client, write 1,200 every 3600 s; counted in this process"
    assert row(lines, "CORS") == "* (every origin)"


def test_the_limits_row_says_where_they_are_counted():
    migration = sql.Migration(HEAD, HEAD)
    limits = ((("read", Limit(600, 60))),)
    postgres = choose_database("postgresql://u@db/x", environ={}, cwd=Path("/nonexistent"))
    sqlite = choose_database("sqlite:////srv/x.db", environ={}, cwd=Path("/nonexistent"))
    for choice, workers, where in [
        (postgres, 1, "counted in the database, shared by every server on it"),
        (postgres, 4, "counted in the database, shared by every server on it"),
        (sqlite, 1, "counted in this process"),
        (sqlite, 2, "counted by each worker on its own"),
    ]:
        startup = Startup(choice, migration, 0, V1Mode.OPEN, workers, 1, rate_limits=limits)
        assert row(startup.lines(), "limits") == f"per client, read 600 every 60 s; {where}"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("localhost", "http://localhost:8000"),
        ("::1", "http://[::1]:8000"),
        ("::", "http://[::]:8000"),
        ("fe80::1%eth0", "http://[fe80::1%eth0]:8000"),
    ],
)
def test_the_serving_line_writes_the_host_as_a_url_does(host, url):
    assert serving(host, 8000, 1, 1) == f"Serving Luminary on {url} with 1 thread"
    assert serving(host, 8000, 2, 4) == f"Serving Luminary on {url} with 2 workers of 4 threads"
    assert serving(host, 8000, 1, 2, True) == f"Serving Luminary on {url} with 2 threads, on one CPU"
    assert serving(host, 8000, 3, 1, True) == (
        f"Serving Luminary on {url} with 3 workers of 1 thread, each on one CPU"
    )


def _ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine cannot listen on ::1")
def test_an_ipv6_host_is_served_and_named_in_brackets(one_shot, capsys):
    lines = start(capsys, "--host", "::1")
    found = re.fullmatch(r"Serving Luminary on http://\[::1\]:(\d+) with \d+ threads?", lines[-2])
    assert found, lines[-2]
    assert int(found.group(1)) > 0


def test_the_real_command_prints_the_banner_once_with_workers(tmp_path):
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    with serve(url, threads=2, workers=2, cwd=tmp_path) as server:
        pass
    output = "".join(server.output)
    assert output.count(f"Luminary  {versions()}") == 1, output
    assert f"  database  {url}\n            set by --database-url\n" in output
    assert f"  schema    revision {HEAD}, just migrated from an empty database\n" in output
    assert "  workers   2, each with 2 threads\n" in output
    # --cpu-affinity auto: each worker on a CPU of its own when they are one per CPU.
    kept = ", each on one CPU" if len(os.sched_getaffinity(0)) == 2 else ""
    assert f"Serving Luminary on http://127.0.0.1:{server.port} with 2 workers of 2 threads{kept}\n" in output
    assert (
        f"Stop with Ctrl-C or SIGTERM to this process, {server.process.pid}, which stops its workers"
        in output
    )
    assert server.process.returncode == 0


def test_the_real_command_says_up_to_date_on_its_second_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    for said in ("just migrated from an empty database", "up to date"):
        with serve(url, threads=1, cwd=tmp_path) as server:
            pass
        assert f"  schema    revision {HEAD}, {said}\n" in "".join(server.output)
        assert server.process.returncode == 0


# ---------------------------------------------------------------- every option has a variable


def serve_parser() -> argparse.ArgumentParser:
    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = commands.choices["serve"]
    return parser


def test_every_serve_option_has_a_variable_documented_in_the_readme_and_env_example(environment):
    options = {o for action in serve_parser()._actions for o in action.option_strings} - {"-h", "--help"}
    variables = {option: variable for option, variable, *_ in OPTIONS} | ELSEWHERE
    assert options == set(variables)
    readme = (ROOT / "README.md").read_text()
    table = re.split(r"\n##+ ", readme[readme.index("### Serve options") :], maxsplit=1)[0]
    example = (ROOT / ".env.example").read_text()
    for option, variable in variables.items():
        assert f"`{option}" in table, option
        assert f"`{variable}`" in table, variable
        assert f"# {variable}=" in example, variable


@pytest.mark.parametrize(
    ("option", "variable", "value", "parsed", "given", "wins"), OPTIONS, ids=[o[0] for o in OPTIONS]
)
def test_each_variable_reaches_its_option_and_the_option_wins(
    environment, option, variable, value, parsed, given, wins
):
    dest = serve_parser()._option_string_actions[option].dest
    environment.setenv(variable, value)
    assert getattr(cli.build_parser().parse_args(["serve"]), dest) == parsed
    argv = ["serve", option] if given is None else ["serve", option, given]
    assert getattr(cli.build_parser().parse_args(argv), dest) == wins


def test_a_variable_in_dotenv_counts_and_the_environment_wins_over_it(environment, tmp_path):
    (tmp_path / ".env").write_text("LUMINARY_PORT=8100\nLUMINARY_HOST=0.0.0.0\n")
    environment.setenv("LUMINARY_HOST", "127.0.0.3")
    args = cli.build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.3", 8100)


@pytest.mark.parametrize("value", ["1", "true", "YES", " yes ", "True"])
def test_no_seed_takes_yes(environment, value):
    environment.setenv("LUMINARY_NO_SEED", value)
    assert cli.build_parser().parse_args(["serve"]).no_seed is True


@pytest.mark.parametrize("value", ["0", "false", "No", ""])
def test_no_seed_takes_no(environment, value):
    environment.setenv("LUMINARY_NO_SEED", value)
    assert cli.build_parser().parse_args(["serve"]).no_seed is False
    assert cli.build_parser().parse_args(["serve", "--no-seed"]).no_seed is True


def test_seeding_is_off_from_the_variable(one_shot, capsys, tmp_path):
    one_shot.setenv("LUMINARY_NO_SEED", "1")
    lines = start(capsys)
    assert row(lines, "seed") == "off (--no-seed or LUMINARY_NO_SEED)"
    lines = start(capsys, "--seed")
    assert row(lines, "seed").startswith("added ")


# ---------------------------------------------------------------- bad values: one line, non-zero


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Parse ``luminary ARGV``: its exit status and its one line on standard error."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    return int(exited.value.code or 0), lines[0]


@pytest.mark.parametrize(
    ("argv", "variables", "said"),
    [
        (["--port", "70000"], {}, "argument --port: '70000' is not a port: a whole number from 1 to 65535"),
        (["--port", "-1"], {}, "argument --port: '-1' is not a port"),
        (
            [],
            {"LUMINARY_PORT": "99999"},
            "'99999' is not a port: a whole number from 1 to 65535, or 0 for any",
        ),
        (["--threads", "0"], {}, "argument --threads: '0' is not a whole number of at least 1"),
        (
            [],
            {"LUMINARY_THREADS": "0"},
            "'0' is not a whole number of at least 1 (from --threads or LUMINARY",
        ),
        (
            [],
            {"LUMINARY_NO_SEED": "maybe"},
            "'maybe' is not true or false (from LUMINARY_NO_SEED): use 1, true",
        ),
        (["--workers", "0"], {}, "argument --workers: '0' is not a whole number of at least 1"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_status_2(environment, capsys, tmp_path, argv, variables, said):
    for name, value in variables.items():
        environment.setenv(name, value)
    status, line = refused(capsys, "serve", *argv)
    assert status == 2
    assert line.startswith("luminary serve: error: ")
    assert said in line
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("nosuch.invalid", "'nosuch.invalid' is neither an IP address nor a host name that resolves ("),
        ("203.0.113.1", ": no interface of this machine has that address"),
    ],
)
def test_a_host_it_cannot_listen_on_is_one_line_and_exit_status_1(environment, capsys, tmp_path, host, said):
    capsys.readouterr()
    assert cli.main(["serve", "--host", host, "--port", "0"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [err.strip()]
    assert err.startswith(f"luminary: cannot listen on {host}:0: ")
    assert said in err
    assert list(tmp_path.iterdir()) == []  # before the database is touched


def test_a_port_in_use_is_one_line_and_exit_status_1(environment, capsys, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        capsys.readouterr()
        assert cli.main(["serve", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"luminary: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine cannot listen on ::1")
def test_an_ipv6_port_in_use_is_named_as_in_a_url(environment, capsys, tmp_path):
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as taken:
        port = taken.getsockname()[1]
        capsys.readouterr()
        assert cli.main(["serve", "--host", "::1", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"luminary: cannot listen on [::1]:{port}: Address already in use\n")


# ---------------------------------------------------------------- --version and db upgrade


def test_version_names_the_three_packages(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    expected = (
        f"luminary-http {__version__}, luminary-sql {sql.__version__}, luminary-core {core.__version__}"
    )
    assert capsys.readouterr().out == expected + "\n"


def test_db_upgrade_names_the_database_and_where_it_came_from(environment, capsys, tmp_path):
    (tmp_path / ".env").write_text("LUMINARY_DATABASE_URL=sqlite:///dot.db\n")
    named = f"sqlite:///dot.db (LUMINARY_DATABASE_URL in {tmp_path / '.env'})"
    capsys.readouterr()
    assert cli.main(["db", "upgrade"]) == 0
    assert (
        capsys.readouterr().out
        == f"Upgraded {named} from no revision (an empty database) to revision {HEAD}.\n"
    )
    assert cli.main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"{named} is at revision {HEAD}, up to date.\n"


def test_the_help_names_each_options_choices_as_they_are_typed():
    # Choices that are enum members would show as {CpuAffinity.AUTO,…} without a metavar.
    text = serve_parser().format_help()
    assert "--cpu-affinity {auto,on,off}" in text
    assert "--v1 {open,token,off}" in text
    assert "CpuAffinity." not in text
    assert "V1Mode." not in text
