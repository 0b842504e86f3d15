"""The study timer and study days through HTTP: v2's timer actions, and v1's sessions stamped too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from http_v1_support import V1World, make_client
from http_v2_support import problem_of
from luminary.http import v1


@pytest.fixture
def world(uow_factory, clock) -> V1World:
    return V1World.build(uow_factory, clock)


def post(world: V1World, path: str) -> dict:
    result = world.client.simulate_post(path.format(**world.ids))
    assert result.status_code == 200, result.text
    return result.json["data"]


def test_a_timer_through_v2_from_start_to_stop(world):
    post(world, "/api/v2/sessions/{s3}/start")
    world.clock.advance(timedelta(minutes=25))
    timer = world.client.simulate_get("/api/v2/me/timer").json["data"]
    assert (timer["session_id"], timer["running"], timer["elapsed_seconds"]) == (world.s3, True, 1500)
    paused = post(world, "/api/v2/sessions/{s3}/pause")
    assert paused["running_since"] is None
    assert paused["elapsed_seconds"] == 1500
    world.clock.advance(timedelta(hours=1))
    post(world, "/api/v2/sessions/{s3}/resume")
    world.clock.advance(timedelta(minutes=5))
    stopped = post(world, "/api/v2/sessions/{s3}/stop")
    assert (stopped["status"], stopped["minutes"], stopped["auto_stopped"]) == ("completed", 30, False)
    assert stopped["study_day"] == "2025-12-01"
    assert world.client.simulate_get("/api/v2/me/timer").json == {"data": None}
    minutes = world.client.simulate_get(f"/api/v2/users/{world.ada}/total_minutes").json["data"]
    assert minutes["total_minutes"] == 30


def test_a_second_timer_is_a_409_that_names_the_first(world):
    post(world, "/api/v2/sessions/{s3}/start")
    refused = world.client.simulate_post(f"/api/v2/sessions/{world.s2}/start")
    problem = problem_of(refused, 409)
    assert f"Session {world.s3} (Delphinus) is running" in problem["detail"]


def test_the_cap_is_the_apps_to_choose(uow_factory, clock):
    world = V1World.build(uow_factory, clock)
    world.client = make_client(uow_factory, clock, token=world.token, timer_cap=timedelta(hours=1))
    post(world, "/api/v2/sessions/{s3}/start")
    world.clock.advance(timedelta(hours=5))
    assert world.client.simulate_get("/api/v2/me/timer").json == {"data": None}
    session = world.client.simulate_get(f"/api/v2/sessions/{world.s3}").json["data"]
    assert (session["minutes"], session["auto_stopped"]) == (60, True)


def test_v1_sessions_get_study_days_too_and_v1_shapes_stay(world):
    done = world.client.simulate_put(f"/api/sessions/{world.s1}/complete")
    assert done.status_code == 200
    assert not set(v1.V2_ONLY) & set(done.json)  # the app's session, as it was
    learning = world.client.simulate_get(f"/api/sessions/{world.s1}").json["data"]
    assert not set(v1.V2_ONLY) & set(learning)
    assert world.client.simulate_get(f"/api/v2/sessions/{world.s1}").json["data"]["study_day"] == "2025-12-01"
