"""Bad input gets a domain error naming the field, and changes nothing."""

from __future__ import annotations

import pytest

from luminary import core
from luminary.core import NotFound, ValidationFailed
from luminary.core.testing.support import ContractFixtures, World, snapshot

LONG = "x" * 201


def _calls(w: World):
    """(use case call, the field its error must name) for each kind of bad input."""
    c, u = w.clock, w.user.id
    return [
        # users
        (lambda uow: core.create_user(uow, core.CreateUser(""), clock=c, actor=core.SYSTEM), "display_name"),
        (
            lambda uow: core.create_user(uow, core.CreateUser("   "), clock=c, actor=core.SYSTEM),
            "display_name",
        ),
        (
            lambda uow: core.create_user(uow, core.CreateUser("x" * 1001), clock=c, actor=core.SYSTEM),
            "display_name",
        ),
        (lambda uow: core.create_user(uow, core.CreateUser(42), clock=c, actor=core.SYSTEM), "display_name"),
        (
            lambda uow: core.create_user(uow, core.CreateUser(None), clock=c, actor=core.SYSTEM),
            "display_name",
        ),
        (
            lambda uow: core.create_user(uow, core.CreateUser("bad\x00name"), clock=c, actor=core.SYSTEM),
            "display_name",
        ),
        (
            lambda uow: core.create_user(uow, core.CreateUser("\ud800"), clock=c, actor=core.SYSTEM),
            "display_name",
        ),
        # control characters that str.strip() would remove are refused, not stripped
        (
            lambda uow: core.create_user(uow, core.CreateUser("\x1fAda\x0b"), clock=c, actor=core.SYSTEM),
            "display_name",
        ),
        # constellations
        (
            lambda uow: core.create_constellation(
                uow, core.CreateConstellation("Orion", 0), clock=c, actor=core.SYSTEM
            ),
            "weight",
        ),
        (
            lambda uow: core.create_constellation(
                uow, core.CreateConstellation("Orion", 1001), clock=c, actor=core.SYSTEM
            ),
            "weight",
        ),
        (
            lambda uow: core.create_constellation(
                uow, core.CreateConstellation("Orion", True), clock=c, actor=core.SYSTEM
            ),
            "weight",
        ),
        (
            lambda uow: core.create_constellation(
                uow, core.CreateConstellation("Orion", "5"), clock=c, actor=core.SYSTEM
            ),
            "weight",
        ),
        (
            lambda uow: core.create_constellation(
                uow, core.CreateConstellation("Orion", 2.5), clock=c, actor=core.SYSTEM
            ),
            "weight",
        ),
        (
            lambda uow: core.create_constellation(
                uow, core.CreateConstellation("Orion", float("nan")), clock=c, actor=core.SYSTEM
            ),
            "weight",
        ),
        (
            lambda uow: core.create_constellation(
                uow, core.CreateConstellation("Orion", float("inf")), clock=c, actor=core.SYSTEM
            ),
            "weight",
        ),
        (
            lambda uow: core.create_constellation(
                uow, core.CreateConstellation("", 5), clock=c, actor=core.SYSTEM
            ),
            "name",
        ),
        (
            lambda uow: core.update_constellation(
                uow, 2, core.ConstellationPatch(weight=-1), clock=c, actor=core.SYSTEM
            ),
            "weight",
        ),
        (
            lambda uow: core.update_constellation(
                uow, 2, core.ConstellationPatch(name=None), clock=c, actor=core.SYSTEM
            ),
            "name",
        ),
        # sessions
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=u, title=""), clock=c, actor=core.SYSTEM
            ),
            "title",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=u, title=LONG), clock=c, actor=core.SYSTEM
            ),
            "title",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=u, title="t", minutes=-1), clock=c, actor=core.SYSTEM
            ),
            "minutes",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=u, title="t", minutes=1441), clock=c, actor=core.SYSTEM
            ),
            "minutes",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=u, title="t", minutes=True), clock=c, actor=core.SYSTEM
            ),
            "minutes",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=u, title="t", status="done"), clock=c, actor=core.SYSTEM
            ),
            "status",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=u, title="t", difficulty="d" * 51), clock=c, actor=core.SYSTEM
            ),
            "difficulty",
        ),
        (
            lambda uow: core.create_session(
                uow,
                core.CreateSession(user_id=u, title="t", started_at="yesterday"),
                clock=c,
                actor=core.SYSTEM,
            ),
            "started_at",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=u, title="t", completed_at=12), clock=c, actor=core.SYSTEM
            ),
            "completed_at",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(user_id=True, title="t"), clock=c, actor=core.SYSTEM
            ),
            "user_id",
        ),
        (
            lambda uow: core.create_session(
                uow, core.CreateSession(constellation_attempt_id="1"), clock=c, actor=core.SYSTEM
            ),
            "constellation_attempt_id",
        ),
        (
            lambda uow: core.update_session(
                uow, 1, core.SessionPatch(minutes="ten"), clock=c, actor=core.SYSTEM
            ),
            "minutes",
        ),
        (
            lambda uow: core.update_session(
                uow, 1, core.SessionPatch(status=None), clock=c, actor=core.SYSTEM
            ),
            "status",
        ),
        # posts
        (
            lambda uow: core.create_post(
                uow,
                core.CreatePost(user_id=u, constellation_id=1, post_type="brag"),
                clock=c,
                actor=core.SYSTEM,
            ),
            "post_type",
        ),
        (
            lambda uow: core.create_post(
                uow,
                core.CreatePost(user_id=u, constellation_id=1, post_type=None),
                clock=c,
                actor=core.SYSTEM,
            ),
            "post_type",
        ),
        (
            lambda uow: core.create_post(
                uow,
                core.CreatePost(user_id=u, constellation_id=1, post_type="progress", study_duration=-5),
                clock=c,
                actor=core.SYSTEM,
            ),
            "study_duration",
        ),
        (
            lambda uow: core.create_post(
                uow,
                core.CreatePost(user_id=u, constellation_id=1, post_type="progress", study_duration=False),
                clock=c,
                actor=core.SYSTEM,
            ),
            "study_duration",
        ),
        (
            lambda uow: core.create_post(
                uow,
                core.CreatePost(user_id=u, constellation_id=1, post_type="progress", study_duration=2**31),
                clock=c,
                actor=core.SYSTEM,
            ),
            "study_duration",
        ),
        (
            lambda uow: core.create_post(
                uow,
                core.CreatePost(user_id="1", constellation_id=1, post_type="progress"),
                clock=c,
                actor=core.SYSTEM,
            ),
            "user_id",
        ),
        (
            lambda uow: core.create_post(
                uow,
                core.CreatePost(user_id=u, constellation_id=None, post_type="progress"),
                clock=c,
                actor=core.SYSTEM,
            ),
            "constellation_id",
        ),
        (
            lambda uow: core.create_post(
                uow,
                core.CreatePost(user_id=u, constellation_id=1, post_type="progress", message=7),
                clock=c,
                actor=core.SYSTEM,
            ),
            "message",
        ),
        # attempts: a malformed id is a bad request, not a missing row
        (
            lambda uow: core.start_attempt(uow, core.StartAttempt("one", 1), clock=c, actor=core.SYSTEM),
            "user_id",
        ),
        (lambda uow: core.add_star(uow, 1.5, clock=c, actor=core.SYSTEM), "attempt_id"),
        (lambda uow: core.get_attempt(uow, None, actor=core.SYSTEM), "attempt_id"),
    ]


class ValidationContract(ContractFixtures):
    """Bad input is refused naming its field and changes nothing; unknown ids are
    :class:`~luminary.core.NotFound`.
    """

    def test_every_bad_input_names_its_field_and_changes_nothing(self, uow_factory, clock):
        world = World.build(uow_factory, clock)
        core.create_session(
            world.uow,
            core.CreateSession(user_id=world.user.id, title="existing"),
            clock=clock,
            actor=core.SYSTEM,
        )
        uow = world.uow
        before = snapshot(uow)
        for call, field in _calls(world):
            with pytest.raises(ValidationFailed) as caught:
                call(uow)
            assert field in [e.field for e in caught.value.errors], (field, caught.value.errors)
            assert snapshot(uow) == before, field

    def test_all_failing_fields_are_reported_together(self, uow_factory, clock):
        with pytest.raises(ValidationFailed) as caught:
            core.create_constellation(
                uow_factory(), core.CreateConstellation("", True), clock=clock, actor=core.SYSTEM
            )
        assert [e.field for e in caught.value.errors] == ["name", "weight"]
        assert "name: must not be empty" in str(caught.value)

    @pytest.mark.parametrize(
        "call",
        [
            lambda w, uow: core.add_star(uow, 999, clock=w.clock, actor=core.SYSTEM),
            lambda w, uow: core.complete_attempt(uow, 10**30, clock=w.clock, actor=core.SYSTEM),
            lambda w, uow: core.delete_attempt(uow, -1, actor=core.SYSTEM),
            lambda w, uow: core.complete_session(uow, 999, clock=w.clock, actor=core.SYSTEM),
            lambda w, uow: core.cancel_session(uow, 999, clock=w.clock, actor=core.SYSTEM),
            lambda w, uow: core.update_session(
                uow, 999, core.SessionPatch(title="x"), clock=w.clock, actor=core.SYSTEM
            ),
            lambda w, uow: core.delete_session(uow, 999, actor=core.SYSTEM),
            lambda w, uow: core.delete_post(uow, 999, actor=core.SYSTEM),
            lambda w, uow: core.delete_constellation(uow, 999, actor=core.SYSTEM),
            lambda w, uow: core.update_constellation(
                uow, 999, core.ConstellationPatch(name="x"), clock=w.clock, actor=core.SYSTEM
            ),
            lambda w, uow: core.get_user_detail(uow, 999, actor=core.SYSTEM),
            lambda w, uow: core.total_minutes(uow, 999, actor=core.SYSTEM),
            lambda w, uow: core.completed_constellations(uow, 999, actor=core.SYSTEM),
            lambda w, uow: core.current_attempt(uow, 999, actor=core.SYSTEM),
            lambda w, uow: core.list_post_details(uow, core.PageRequest(), user_id=999, actor=core.SYSTEM),
        ],
    )
    def test_unknown_ids_are_not_found_and_change_nothing(self, uow_factory, clock, call):
        world = World.build(uow_factory, clock)
        uow = world.uow
        before = snapshot(uow)
        with pytest.raises(NotFound):
            call(world, uow)
        assert snapshot(uow) == before
