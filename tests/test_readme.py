"""The README's curl examples run as written against a fresh ``luminary serve``.

The tour comes first, then the learning-session examples, on one server: the
learning sessions must not touch what the tour made (its completed session and
its minutes). Needs ``curl`` and ``bash``, as the README does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from served import serve

README = Path(__file__).resolve().parents[1] / "README.md"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("curl") and shutil.which("bash")), reason="needs curl and bash"),
]


def _curl_blocks() -> dict[str, str]:
    """The README's shell blocks that talk to the server, by the heading above them."""
    blocks: dict[str, str] = {}
    for heading, body in re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", README.read_text(), re.S | re.M):
        for block in re.findall(r"```sh\n(.*?)```", body, re.S):
            if "localhost:8000" in block:
                blocks[heading] = block
    return blocks


def _run(block: str, port: int) -> list[str]:
    # Each answer on a line of its own (curl -s prints none after a body).
    prelude = 'set -euo pipefail\ncurl() { command curl "$@"; echo; }\n'
    script = prelude + block.replace("localhost:8000", f"localhost:{port}")
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_the_tour_then_the_learning_sessions_as_written(tmp_path):
    blocks = _curl_blocks()
    assert set(blocks) == {"A tour with curl", "Learning sessions", "Accounts and tokens", "A week of study"}
    with serve(f"sqlite:///{tmp_path / 'readme.db'}") as server:
        tour = _run(blocks["A tour with curl"], server.port)
        assert tour[-1] == '{"user_id":1,"display_name":"Ada","total_minutes":25}'
        learning = _run(blocks["Learning sessions"], server.port)
        assert learning[0].startswith('{"data":{"id":2,"title":"Learn Flask","status":"planned"')
        assert '"status":"in_progress","user_id":null' in learning[-4]
        assert '"difficulty":"medium"' in learning[-4]
        assert learning[-3] == learning[-4]  # read back as changed
        assert learning[-2] == '{"error":"title: must not be empty"}'
        assert learning[-1] == "204"
        accounts = _run(blocks["Accounts and tokens"], server.port)
        assert accounts[0].startswith('{"data":{"id":2,"display_name":"Grace"')
        assert '"login":"grace","is_admin":false,"scopes":["read","study","account"]' in accounts[1]
        assert accounts[2].startswith('{"data":{"id":2,"user_id":2,"constellation_id":2,"stars_completed":0')
        assert '"status":404' in accounts[3]
        assert accounts[4:] == ["204", "401"]
        week = [json.loads(line)["data"] for line in _run(blocks["A week of study"], server.port)]
        assert (week[1]["time_zone"], week[1]["day_start_hour"]) == ("Europe/Paris", 4)
        assert (week[2]["status"], week[2]["elapsed_seconds"]) == ("in_progress", 0)
        assert week[3]["running"] is True
        assert week[4]["running_since"] is None
        assert week[5]["running_since"] is not None
        stopped, logged = week[6], week[7]
        assert (stopped["status"], stopped["minutes"], stopped["auto_stopped"]) == ("completed", 0, False)
        assert stopped["study_day"] == logged["study_day"]  # today, in Paris, from 4 in the morning
        days = week[8]
        assert (days["by"], len(days["buckets"]), days["minutes"], days["sessions"]) == ("day", 7, 25, 2)
        assert days["buckets"][-1] == {
            "start": logged["study_day"],
            "end": logged["study_day"],
            "minutes": 25,
            "sessions": 2,
        }
        assert (week[9]["by"], week[9]["minutes"]) == ("month", 25)
        assert (week[10]["current"], week[10]["studied_today"], week[10]["today"]) == (
            1,
            True,
            logged["study_day"],
        )
        api = server.client()
        # The tour's session and minutes are as the tour left them.
        status, minutes = api.request("GET", "/api/users/1/total_minutes")
        assert (status, minutes["total_minutes"]) == (200, 25)
        status, sessions = api.request("GET", "/api/constellation_attempts/1/sessions")
        assert [(s["id"], s["status"], s["minutes"]) for s in sessions["sessions"]] == [(1, "completed", 25)]
        api.close()
