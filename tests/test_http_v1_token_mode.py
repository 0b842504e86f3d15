"""API v1 served ``token``: the same contract, and a student reaches only what core's policy lets them.

The v1 suite runs in this mode with an administrator's token (``v1_mode`` in
conftest); here a student, Grace, holds the token, and Ada's data is not hers.
"""

from __future__ import annotations

from typing import Any

import pytest

from http_v1_support import V1World, error_of, give_login, make_client, token_for


@pytest.fixture
def world(uow_factory, clock) -> V1World:
    world = V1World.build(uow_factory, clock, v1_mode="token")
    give_login(uow_factory, world.grace, "grace")
    world.client = make_client(
        uow_factory, clock, token=token_for(uow_factory, clock, "grace"), v1_mode="token"
    )
    return world


def get(world: V1World, path: str) -> Any:
    result = world.client.simulate_get(path.format(**world.ids))
    assert result.status_code == 200, result.text
    return result.json


def test_without_a_token_v1_answers_401_in_its_own_error_shape(world):
    result = world.client.simulate_get("/api/feed/", headers={"Authorization": ""})
    assert "token" in error_of(result, 401)
    assert result.headers["www-authenticate"] == 'Bearer realm="luminary"'
    bad = world.client.simulate_get("/api/feed/", headers={"Authorization": "Bearer lum_nope"})
    assert "not a Luminary token" in error_of(bad, 401)


def test_a_student_reads_their_own_user_and_the_public_feed(world):
    assert get(world, "/api/users/{grace}/")["id"] == world.grace
    assert [p["id"] for p in get(world, "/api/feed/")["posts"]] == [world.p3, world.p2, world.p1]
    assert get(world, "/api/users/{ada}/posts/")["posts"]  # posts are public


def test_another_students_data_does_not_exist_for_them(world):
    with world.unchanged():
        assert error_of(world.client.simulate_get(f"/api/users/{world.ada}/"), 404) == "User not found!"
        error_of(world.client.simulate_get(f"/api/users/{world.ada}/total_minutes"), 404)
        error_of(world.client.simulate_get(f"/api/constellation_attempts/{world.a1}"), 404)
        error_of(world.client.simulate_put(f"/api/constellation_attempts/{world.a1}/"), 404)
        error_of(world.client.simulate_delete(f"/api/sessions/{world.s1}"), 404)
        started = world.client.simulate_post(
            f"/api/users/{world.ada}/constellation_attempts/", json={"constellation_id": world.big_dipper}
        )
        assert error_of(started, 404) == "User not found!"


def test_what_a_student_may_see_but_not_change_is_forbidden(world):
    with world.unchanged():
        assert "own posts" in error_of(world.client.simulate_delete(f"/api/posts/{world.p1}"), 403)
        assert "'admin'" in error_of(world.client.simulate_get("/api/users/"), 403)
        error_of(world.client.simulate_post("/api/users/sync-minutes"), 403)
        error_of(world.client.simulate_delete(f"/api/constellations/{world.big_dipper}"), 403)


def test_lists_hold_only_the_students_own_private_data(world):
    triangulum = get(world, "/api/constellations/{triangulum}/")
    assert [a["id"] for a in triangulum["user_attempts"]] == [world.a3]  # Ada's two are hers alone
    assert [a["id"] for a in get(world, "/api/constellation_attempts/")["constellation_attempts"]] == [
        world.a3
    ]
    assert get(world, "/api/sessions/")["data"] == []  # the learning sessions are nobody's, or Ada's


def test_the_constellation_list_carries_only_the_students_own_attempts(world):
    """Each listed constellation is the one its own path answers: the student's attempts, every post."""
    listed = world.client.simulate_get("/api/constellations/")
    assert listed.status_code == 200, listed.text
    by_id = {c["id"]: c for c in listed.json["constellations"]}
    assert [a["id"] for a in by_id[world.triangulum]["user_attempts"]] == [world.a3]
    assert any(c["posts"] for c in by_id.values())
    for cid, constellation in by_id.items():
        assert get(world, f"/api/constellations/{cid}/") == constellation


def test_a_student_studies_through_v1_with_their_token(world):
    attempt = world.client.simulate_post(
        f"/api/users/{world.grace}/constellation_attempts/", json={"constellation_id": world.big_dipper}
    )
    assert attempt.status_code == 201, attempt.text
    session = world.client.simulate_post(
        "/api/sessions/",
        json={"user_id": world.grace, "constellation_attempt_id": attempt.json["id"], "minutes": 25},
    )
    assert session.status_code == 201, session.text
    completed = world.client.simulate_put(f"/api/sessions/{session.json['id']}/complete")
    assert completed.json["is_completed"] is True
    assert get(world, "/api/users/{grace}/total_minutes/")["total_minutes"] == 25
