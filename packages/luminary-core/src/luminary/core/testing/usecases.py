"""The behavioural suite: every use case, on every storage implementation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from luminary import core
from luminary.core import Conflict, NotFound, PageRequest, SessionStatus
from luminary.core.testing.support import ContractFixtures, assert_minutes_invariant, snapshot


def _fields(entity):
    import attrs

    return attrs.asdict(entity, recurse=False)


class UseCaseContract(ContractFixtures):
    """The use cases over the store: users, constellations, attempts and their star caps, sessions
    and minute accounting, posts, deletes that take what depends on them, failures that change
    nothing.
    """

    def test_create_and_get_user(self, uow_factory, clock):
        uow = uow_factory()
        user = core.create_user(uow, core.CreateUser("  Grace  "), clock=clock, actor=core.SYSTEM)
        assert user.id > 0
        assert user.display_name == "Grace"
        assert user.total_minutes == 0
        assert user.current_attempt_id is None
        assert core.get_user(uow, user.id, actor=core.SYSTEM) == user

    def test_unknown_user_is_not_found(self, uow_factory):
        with pytest.raises(NotFound, match="User not found!"):
            core.get_user(uow_factory(), 12345, actor=core.SYSTEM)

    def test_huge_id_is_not_found_rather_than_an_error(self, uow_factory):
        with pytest.raises(NotFound):
            core.get_user(uow_factory(), 10**30, actor=core.SYSTEM)
        with pytest.raises(NotFound):
            core.get_session(uow_factory(), 0, actor=core.SYSTEM)

    def test_list_users_by_id_with_cursor(self, uow_factory, clock):
        uow = uow_factory()
        ids = [
            core.create_user(uow, core.CreateUser(f"u{i}"), clock=clock, actor=core.SYSTEM).id
            for i in range(5)
        ]
        first = core.list_users(uow, PageRequest(limit=2), actor=core.SYSTEM)
        assert [u.id for u in first.items] == ids[:2]
        assert first.next_cursor is not None
        second = core.list_users(uow, PageRequest.of(limit=2, cursor=first.next_cursor), actor=core.SYSTEM)
        assert [u.id for u in second.items] == ids[2:4]
        third = core.list_users(uow, PageRequest.of(limit=2, cursor=second.next_cursor), actor=core.SYSTEM)
        assert [u.id for u in third.items] == ids[4:]
        assert third.next_cursor is None
        by_offset = core.list_users(uow, PageRequest.of(limit=3, offset=3), actor=core.SYSTEM)
        assert [u.id for u in by_offset.items] == ids[3:]

    def test_user_detail_bundles_everything(self, world):
        uow = world.uow
        session = core.create_session(
            uow,
            core.CreateSession(constellation_attempt_id=world.attempt.id, minutes=5),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        post = core.create_post(
            uow,
            core.CreatePost(user_id=world.user.id, constellation_id=1, post_type="progress"),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        detail = core.get_user_detail(uow, world.user.id, actor=core.SYSTEM)
        assert detail.user.id == world.user.id
        assert detail.current_attempt == world.attempt
        assert list(detail.attempts) == [world.attempt]
        assert list(detail.sessions) == [session]
        assert list(detail.posts) == [post]
        [listed] = core.list_user_details(uow, PageRequest(), actor=core.SYSTEM).items
        assert listed == detail

    def test_delete_user_removes_attempts_sessions_and_posts(self, world):
        uow = world.uow
        other = core.create_user(uow, core.CreateUser("Bob"), clock=world.clock, actor=core.SYSTEM)
        kept = core.create_session(
            uow,
            core.CreateSession(user_id=other.id, title="Bob's", minutes=3),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        core.create_session(
            uow,
            core.CreateSession(constellation_attempt_id=world.attempt.id, minutes=5),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        core.create_post(
            uow,
            core.CreatePost(user_id=world.user.id, constellation_id=1, post_type="progress"),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        core.delete_user(uow, world.user.id, actor=core.SYSTEM)
        state = snapshot(uow)
        assert [u.id for u in state["users"]] == [other.id]
        assert state["attempts"] == []
        assert state["sessions"] == [kept]
        assert state["posts"] == []
        with pytest.raises(NotFound):
            core.delete_user(uow, world.user.id, actor=core.SYSTEM)

    def test_seed_only_into_an_empty_store(self, uow_factory, clock):
        uow = uow_factory()
        seeded = core.seed_constellations(uow, clock=clock, actor=core.SYSTEM)
        assert [(c.name, c.weight) for c in seeded] == list(core.DEFAULT_CONSTELLATIONS)
        assert core.seed_constellations(uow, clock=clock, actor=core.SYSTEM) == []

    def test_constellation_crud(self, uow_factory, clock):
        uow = uow_factory()
        made = core.create_constellation(
            uow, core.CreateConstellation("Orion", 10), clock=clock, actor=core.SYSTEM
        )
        assert core.get_constellation(uow, made.id, actor=core.SYSTEM) == made
        renamed = core.update_constellation(
            uow, made.id, core.ConstellationPatch(name="Orion's Belt"), clock=clock, actor=core.SYSTEM
        )
        assert renamed.name == "Orion's Belt"
        assert renamed.weight == 10
        reweighted = core.update_constellation(
            uow, made.id, core.ConstellationPatch(weight=12), clock=clock, actor=core.SYSTEM
        )
        assert reweighted.weight == 12
        assert core.get_constellation(uow, made.id, actor=core.SYSTEM) == reweighted
        detail = core.get_constellation_detail(uow, made.id, actor=core.SYSTEM)
        assert (detail.constellation, list(detail.attempts), list(detail.posts)) == (reweighted, [], [])
        core.delete_constellation(uow, made.id, actor=core.SYSTEM)
        with pytest.raises(NotFound, match="Constellation not found!"):
            core.get_constellation(uow, made.id, actor=core.SYSTEM)

    def test_constellation_in_use_cannot_be_deleted_or_reweighted(self, world):
        uow = world.uow
        triangulum = world.constellations[0]
        with pytest.raises(Conflict):
            core.delete_constellation(uow, triangulum.id, actor=core.SYSTEM)
        with pytest.raises(Conflict):
            core.update_constellation(
                uow, triangulum.id, core.ConstellationPatch(weight=2), clock=world.clock, actor=core.SYSTEM
            )
        # Renaming is harmless.
        assert (
            core.update_constellation(
                uow, triangulum.id, core.ConstellationPatch(name="Tri"), clock=world.clock, actor=core.SYSTEM
            ).name
            == "Tri"
        )
        delphinus = world.constellations[1]
        core.create_post(
            uow,
            core.CreatePost(user_id=world.user.id, constellation_id=delphinus.id, post_type="progress"),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        with pytest.raises(Conflict):
            core.delete_constellation(uow, delphinus.id, actor=core.SYSTEM)
        assert core.get_constellation(uow, delphinus.id, actor=core.SYSTEM) == delphinus

    def test_constellation_detail_lists_attempts_and_posts(self, world):
        uow = world.uow
        post = core.create_post(
            uow,
            core.CreatePost(user_id=world.user.id, constellation_id=1, post_type="completion"),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        details = core.list_constellation_details(uow, PageRequest(), actor=core.SYSTEM).items
        assert [d.constellation.name for d in details] == ["Triangulum", "Delphinus", "Big Dipper"]
        assert list(details[0].attempts) == [world.attempt]
        assert list(details[0].posts) == [post]
        assert list(details[1].attempts) == []

    def test_start_attempt_becomes_current(self, world):
        uow = world.uow
        assert world.attempt.stars_completed == 0
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).current_attempt_id == world.attempt.id
        second = core.start_attempt(
            uow,
            core.StartAttempt(world.user.id, world.constellations[1].id),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).current_attempt_id == second.id
        assert core.current_attempt(uow, world.user.id, actor=core.SYSTEM).attempt == second

    def test_start_attempt_needs_user_and_constellation(self, world):
        uow = world.uow
        before = snapshot(uow)
        with pytest.raises(NotFound, match="User not found!"):
            core.start_attempt(uow, core.StartAttempt(999, 1), clock=world.clock, actor=core.SYSTEM)
        with pytest.raises(NotFound, match="Constellation not found!"):
            core.start_attempt(
                uow, core.StartAttempt(world.user.id, 999), clock=world.clock, actor=core.SYSTEM
            )
        assert snapshot(uow) == before

    def test_stars_up_to_weight_then_conflict(self, world):
        uow = world.uow
        a1 = core.add_star(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
        a2 = core.add_star(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
        assert (a1.stars_completed, a2.stars_completed) == (1, 2)
        assert not a2.is_completed
        a3 = core.add_star(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
        assert a3.stars_completed == 3
        assert a3.is_completed
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).current_attempt_id is None
        with pytest.raises(Conflict):
            core.add_star(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
        assert core.get_attempt(uow, world.attempt.id, actor=core.SYSTEM) == a3

    def test_complete_attempt_is_idempotent(self, world):
        uow = world.uow
        done = core.complete_attempt(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
        assert done.stars_completed == 3
        assert done.completed_at is not None
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).current_attempt_id is None
        again = core.complete_attempt(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
        assert again == done
        with pytest.raises(NotFound, match="No current attempt"):
            core.current_attempt(uow, world.user.id, actor=core.SYSTEM)

    def test_completing_an_old_attempt_keeps_the_current_one(self, world):
        uow = world.uow
        newer = core.start_attempt(
            uow, core.StartAttempt(world.user.id, 2), clock=world.clock, actor=core.SYSTEM
        )
        core.complete_attempt(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).current_attempt_id == newer.id

    def test_completed_constellations(self, world):
        uow = world.uow
        assert core.completed_constellations(uow, world.user.id, actor=core.SYSTEM).constellations == []
        core.complete_attempt(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
        again = core.start_attempt(
            uow, core.StartAttempt(world.user.id, 1), clock=world.clock, actor=core.SYSTEM
        )
        core.complete_attempt(uow, again.id, clock=world.clock, actor=core.SYSTEM)
        result = core.completed_constellations(uow, world.user.id, actor=core.SYSTEM)
        # One entry per completed attempt; ``distinct`` has each constellation once.
        assert [d.constellation.name for d in result.constellations] == ["Triangulum", "Triangulum"]
        assert [d.constellation.name for d in result.distinct] == ["Triangulum"]
        assert result.user.id == world.user.id
        light = core.completions(uow, world.user.id, actor=core.SYSTEM)
        assert light.user == result.user
        assert light.constellations == [d.constellation for d in result.constellations]
        with pytest.raises(NotFound):
            core.completions(uow, 999, actor=core.SYSTEM)

    def test_attempt_lists_and_details(self, world):
        uow = world.uow
        other = core.create_user(uow, core.CreateUser("Bob"), clock=world.clock, actor=core.SYSTEM)
        theirs = core.start_attempt(uow, core.StartAttempt(other.id, 2), clock=world.clock, actor=core.SYSTEM)
        session = core.create_session(
            uow,
            core.CreateSession(constellation_attempt_id=world.attempt.id),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        assert [a.id for a in core.list_attempts(uow, PageRequest(), actor=core.SYSTEM).items] == [
            world.attempt.id,
            theirs.id,
        ]
        assert [
            a.id for a in core.list_attempts(uow, PageRequest(), user_id=other.id, actor=core.SYSTEM).items
        ] == [theirs.id]
        with pytest.raises(NotFound):
            core.list_attempts(uow, PageRequest(), user_id=999, actor=core.SYSTEM)
        # At one constellation, page by page.
        again = core.start_attempt(uow, core.StartAttempt(other.id, 1), clock=world.clock, actor=core.SYSTEM)
        at_triangulum = core.list_attempts(uow, PageRequest(limit=1), constellation_id=1, actor=core.SYSTEM)
        assert [a.id for a in at_triangulum.items] == [world.attempt.id]
        assert at_triangulum.next_cursor is not None
        rest = core.list_attempts(
            uow,
            PageRequest(limit=5, after=core.Cursor.decode(at_triangulum.next_cursor)),
            constellation_id=1,
            actor=core.SYSTEM,
        )
        assert ([a.id for a in rest.items], rest.next_cursor) == ([again.id], None)
        assert [
            a.id for a in core.list_attempts(uow, PageRequest(), constellation_id=2, actor=core.SYSTEM).items
        ] == [theirs.id]
        both = core.list_attempts(uow, PageRequest(), user_id=other.id, constellation_id=1, actor=core.SYSTEM)
        assert [a.id for a in both.items] == [again.id]
        with pytest.raises(NotFound):
            core.list_attempts(uow, PageRequest(), constellation_id=999, actor=core.SYSTEM)
        core.delete_attempt(uow, again.id, actor=core.SYSTEM)
        detail = core.get_attempt_detail(uow, world.attempt.id, actor=core.SYSTEM)
        assert detail.user.id == world.user.id
        assert detail.constellation.name == "Triangulum"
        assert list(detail.sessions) == [session]
        listed = core.list_attempt_details(uow, PageRequest(), user_id=world.user.id, actor=core.SYSTEM).items
        assert listed == [detail]

    def test_delete_attempt_takes_its_sessions_and_minutes(self, world):
        uow = world.uow
        s1 = core.create_session(
            uow,
            core.CreateSession(constellation_attempt_id=world.attempt.id, minutes=20),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        core.complete_session(uow, s1.id, clock=world.clock, actor=core.SYSTEM)
        loose = core.create_session(
            uow,
            core.CreateSession(user_id=world.user.id, title="Reading", minutes=7),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        core.complete_session(uow, loose.id, clock=world.clock, actor=core.SYSTEM)
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 27
        core.delete_attempt(uow, world.attempt.id, actor=core.SYSTEM)
        user = core.get_user(uow, world.user.id, actor=core.SYSTEM)
        assert user.total_minutes == 7
        assert user.current_attempt_id is None
        assert [s.id for s in snapshot(uow)["sessions"]] == [loose.id]
        with pytest.raises(NotFound, match="Constellation attempt not found!"):
            core.get_attempt(uow, world.attempt.id, actor=core.SYSTEM)

    def test_session_from_attempt_takes_the_constellation_name(self, world):
        uow = world.uow
        session = core.create_session(
            uow,
            core.CreateSession(constellation_attempt_id=world.attempt.id, minutes=30),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        assert session.title == "Triangulum"
        assert session.user_id == world.user.id
        assert session.status is SessionStatus.PLANNED
        assert not session.is_completed
        assert session.created_at == session.updated_at

    def test_learning_session_from_a_title_alone(self, uow_factory, clock):
        uow = uow_factory()
        session = core.create_session(
            uow, core.CreateSession(title="Learn Flask", status="planned"), clock=clock, actor=core.SYSTEM
        )
        assert (session.title, session.user_id, session.constellation_attempt_id) == (
            "Learn Flask",
            None,
            None,
        )
        assert session.minutes is None
        assert core.get_session(uow, session.id, actor=core.SYSTEM) == session
        done = core.complete_session(uow, session.id, clock=clock, actor=core.SYSTEM)
        assert done.is_completed

    def test_session_needs_title_or_attempt(self, uow_factory, clock):
        with pytest.raises(core.ValidationFailed) as caught:
            core.create_session(uow_factory(), core.CreateSession(minutes=3), clock=clock, actor=core.SYSTEM)
        assert caught.value.errors[0].field == "title"

    def test_session_attempt_must_belong_to_the_user(self, world):
        uow = world.uow
        other = core.create_user(uow, core.CreateUser("Bob"), clock=world.clock, actor=core.SYSTEM)
        with pytest.raises(core.ValidationFailed) as caught:
            core.create_session(
                uow,
                core.CreateSession(user_id=other.id, constellation_attempt_id=world.attempt.id),
                clock=world.clock,
                actor=core.SYSTEM,
            )
        assert caught.value.errors[0].field == "constellation_attempt_id"
        with pytest.raises(NotFound):
            core.create_session(
                uow, core.CreateSession(user_id=999, title="x"), clock=world.clock, actor=core.SYSTEM
            )
        with pytest.raises(NotFound):
            core.create_session(
                uow, core.CreateSession(constellation_attempt_id=999), clock=world.clock, actor=core.SYSTEM
            )

    def test_complete_then_cancel_moves_minutes(self, world):
        uow = world.uow
        session = core.create_session(
            uow,
            core.CreateSession(constellation_attempt_id=world.attempt.id, minutes=30),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 0
        done = core.complete_session(uow, session.id, clock=world.clock, actor=core.SYSTEM)
        assert done.is_completed
        assert done.completed_at is not None
        assert core.total_minutes(uow, world.user.id, actor=core.SYSTEM).total_minutes == 30
        assert (
            core.complete_session(uow, session.id, clock=world.clock, actor=core.SYSTEM) == done
        )  # idempotent
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 30
        cancelled = core.cancel_session(uow, session.id, clock=world.clock, actor=core.SYSTEM)
        assert cancelled.status is SessionStatus.CANCELLED
        assert cancelled.completed_at is None
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 0
        assert core.cancel_session(uow, session.id, clock=world.clock, actor=core.SYSTEM) == cancelled
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 0

    def test_session_created_completed_counts_at_once(self, world):
        uow = world.uow
        session = core.create_session(
            uow,
            core.CreateSession(user_id=world.user.id, title="Done", status="completed", minutes=12),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        assert session.is_completed
        assert session.completed_at is not None
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 12

    def test_minutes_derived_from_started_at(self, world):
        uow = world.uow
        start = world.clock.now()
        session = core.create_session(
            uow,
            core.CreateSession(user_id=world.user.id, title="Timed", started_at=start),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        world.clock.advance(timedelta(minutes=42, seconds=59))
        done = core.complete_session(uow, session.id, clock=world.clock, actor=core.SYSTEM)
        assert done.minutes == 42
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 42

    def test_explicit_minutes_win_over_started_at(self, world):
        uow = world.uow
        session = core.create_session(
            uow,
            core.CreateSession(
                user_id=world.user.id, title="Timed", started_at="2025-12-01T09:00:00+00:00", minutes=5
            ),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        assert core.complete_session(uow, session.id, clock=world.clock, actor=core.SYSTEM).minutes == 5

    def test_patch_changes_only_what_is_sent(self, uow_factory, clock):
        uow = uow_factory()
        session = core.create_session(
            uow,
            core.CreateSession(title="Learn Flask", description="routing"),
            clock=clock,
            actor=core.SYSTEM,
        )
        patched = core.update_session(
            uow,
            session.id,
            core.SessionPatch(status="in_progress", difficulty="medium"),
            clock=clock,
            actor=core.SYSTEM,
        )
        assert patched.status is SessionStatus.IN_PROGRESS
        assert patched.difficulty == "medium"
        assert (patched.title, patched.description, patched.created_at) == (
            "Learn Flask",
            "routing",
            session.created_at,
        )
        assert patched.updated_at > session.updated_at
        assert core.get_session(uow, session.id, actor=core.SYSTEM) == patched

    def test_patching_minutes_of_a_completed_session_moves_the_total(self, world):
        uow = world.uow
        session = core.create_session(
            uow,
            core.CreateSession(user_id=world.user.id, title="x", minutes=10),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        core.update_session(
            uow, session.id, core.SessionPatch(status="completed"), clock=world.clock, actor=core.SYSTEM
        )
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 10
        core.update_session(
            uow, session.id, core.SessionPatch(minutes=25), clock=world.clock, actor=core.SYSTEM
        )
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 25
        reopened = core.update_session(
            uow, session.id, core.SessionPatch(status="planned"), clock=world.clock, actor=core.SYSTEM
        )
        assert reopened.completed_at is None
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 0
        core.update_session(
            uow, session.id, core.SessionPatch(minutes=None), clock=world.clock, actor=core.SYSTEM
        )
        core.update_session(
            uow, session.id, core.SessionPatch(status="completed"), clock=world.clock, actor=core.SYSTEM
        )
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 0

    def test_patch_refuses_a_null_title_and_times_out_of_order(self, uow_factory, clock):
        uow = uow_factory()
        session = core.create_session(uow, core.CreateSession(title="x"), clock=clock, actor=core.SYSTEM)
        # A field a patch does not have is the API's to refuse or ignore (test_http_v2, test_http_v1):
        # in Python it is a TypeError, like any unknown keyword.
        with pytest.raises(TypeError):
            core.SessionPatch(titel="y")
        with pytest.raises(core.ValidationFailed) as caught:
            core.update_session(
                uow, session.id, core.SessionPatch(title=None), clock=clock, actor=core.SYSTEM
            )
        assert caught.value.errors[0].field == "title"
        with pytest.raises(core.ValidationFailed) as caught:
            core.update_session(
                uow,
                session.id,
                core.SessionPatch(started_at="2025-12-02T00:00:00Z", completed_at="2025-12-01T00:00:00Z"),
                clock=clock,
                actor=core.SYSTEM,
            )
        assert caught.value.errors[0].field == "completed_at"
        assert core.get_session(uow, session.id, actor=core.SYSTEM) == session

    def test_completing_before_the_start_contradicts_the_session(self, uow_factory, clock):
        # One time given, the other stored or the moment of completion: a conflict, not a bad field.
        uow = uow_factory()
        later = core.create_session(
            uow,
            core.CreateSession(title="x", started_at="2099-01-01T00:00:00Z"),
            clock=clock,
            actor=core.SYSTEM,
        )
        before = snapshot(uow)
        with pytest.raises(Conflict):
            core.complete_session(uow, later.id, clock=clock, actor=core.SYSTEM)
        with pytest.raises(Conflict):
            core.update_session(
                uow,
                later.id,
                core.SessionPatch(completed_at="2098-01-01T00:00:00Z"),
                clock=clock,
                actor=core.SYSTEM,
            )
        with pytest.raises(Conflict):
            core.create_session(
                uow,
                core.CreateSession(title="y", status="completed", started_at="2099-01-01T00:00:00Z"),
                clock=clock,
                actor=core.SYSTEM,
            )
        assert snapshot(uow) == before

    def test_delete_session_takes_back_minutes(self, world):
        uow = world.uow
        session = core.create_session(
            uow,
            core.CreateSession(user_id=world.user.id, title="x", minutes=10),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        core.complete_session(uow, session.id, clock=world.clock, actor=core.SYSTEM)
        core.delete_session(uow, session.id, actor=core.SYSTEM)
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 0
        with pytest.raises(NotFound, match="Session not found!"):
            core.get_session(uow, session.id, actor=core.SYSTEM)

    def test_sessions_newest_first_with_filters(self, world):
        uow = world.uow
        made = [
            core.create_session(
                uow,
                core.CreateSession(constellation_attempt_id=world.attempt.id),
                clock=world.clock,
                actor=core.SYSTEM,
            )
            for _ in range(3)
        ]
        loose = core.create_session(
            uow, core.CreateSession(title="loose"), clock=world.clock, actor=core.SYSTEM
        )
        assert [s.id for s in core.list_sessions(uow, PageRequest(), actor=core.SYSTEM).items] == [
            loose.id
        ] + [s.id for s in reversed(made)]
        by_attempt = core.list_sessions(
            uow, PageRequest(limit=2), attempt_id=world.attempt.id, actor=core.SYSTEM
        )
        assert [s.id for s in by_attempt.items] == [made[2].id, made[1].id]
        rest = core.list_sessions(
            uow,
            PageRequest.of(limit=2, cursor=by_attempt.next_cursor),
            attempt_id=world.attempt.id,
            actor=core.SYSTEM,
        )
        assert [s.id for s in rest.items] == [made[0].id]
        assert rest.next_cursor is None
        by_user = core.list_sessions(uow, PageRequest(), user_id=world.user.id, actor=core.SYSTEM)
        assert len(by_user.items) == 3
        details = core.list_session_details(uow, PageRequest(), actor=core.SYSTEM).items
        assert details[0].user is None
        assert details[0].attempt is None
        assert details[1].user.id == world.user.id
        assert details[1].attempt.id == world.attempt.id
        assert core.get_session_detail(uow, made[0].id, actor=core.SYSTEM) == details[3]
        with pytest.raises(NotFound):
            core.list_sessions(uow, PageRequest(), attempt_id=999, actor=core.SYSTEM)

    def test_sync_minutes_repairs_totals_changed_behind_our_back(self, world):
        uow = world.uow
        session = core.create_session(
            uow,
            core.CreateSession(user_id=world.user.id, title="x", minutes=10),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        core.complete_session(uow, session.id, clock=world.clock, actor=core.SYSTEM)
        assert core.sync_minutes(uow, actor=core.SYSTEM).users_updated == 0
        with uow:
            user = uow.users.get(world.user.id)
            uow.users.update(core.User(**{**_fields(user), "total_minutes": 999}))
            uow.commit()
        report = core.sync_minutes(uow, actor=core.SYSTEM)
        assert report.corrections == {world.user.id: (999, 10)}
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM).total_minutes == 10
        assert_minutes_invariant(uow)

    def test_posts_feed_and_filters(self, world):
        uow = world.uow
        other = core.create_user(uow, core.CreateUser("Bob"), clock=world.clock, actor=core.SYSTEM)
        p1 = core.create_post(
            uow,
            core.CreatePost(
                user_id=world.user.id,
                constellation_id=1,
                post_type="progress",
                message="hi",
                study_duration=30,
            ),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        p2 = core.create_post(
            uow,
            core.CreatePost(user_id=other.id, constellation_id=2, post_type="completion"),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        p3 = core.create_post(
            uow,
            core.CreatePost(user_id=world.user.id, constellation_id=2, post_type="progress"),
            clock=world.clock,
            actor=core.SYSTEM,
        )
        assert (p1.message, p1.study_duration, p1.post_type) == ("hi", 30, core.PostType.PROGRESS)
        assert core.get_post(uow, p1.id, actor=core.SYSTEM) == p1
        assert [p.id for p in core.feed(uow, PageRequest(), actor=core.SYSTEM).items] == [p3.id, p2.id, p1.id]
        assert [
            p.id for p in core.list_posts(uow, PageRequest(), user_id=world.user.id, actor=core.SYSTEM).items
        ] == [p3.id, p1.id]
        assert [
            p.id for p in core.list_posts(uow, PageRequest(), constellation_id=2, actor=core.SYSTEM).items
        ] == [p3.id, p2.id]
        first = core.feed(uow, PageRequest(limit=2), actor=core.SYSTEM)
        assert core.feed(uow, PageRequest.of(limit=2, cursor=first.next_cursor), actor=core.SYSTEM).items == [
            p1
        ]
        details = core.feed_details(uow, PageRequest(), actor=core.SYSTEM).items
        assert [(d.user.display_name, d.constellation.name) for d in details] == [
            ("Ada", "Delphinus"),
            ("Bob", "Delphinus"),
            ("Ada", "Triangulum"),
        ]
        assert core.get_post_detail(uow, p2.id, actor=core.SYSTEM) == details[1]
        assert core.list_post_details(uow, PageRequest(), user_id=other.id, actor=core.SYSTEM).items == [
            details[1]
        ]
        core.delete_post(uow, p2.id, actor=core.SYSTEM)
        with pytest.raises(NotFound, match="Post not found!"):
            core.get_post(uow, p2.id, actor=core.SYSTEM)
        with pytest.raises(NotFound):
            core.list_posts(uow, PageRequest(), constellation_id=999, actor=core.SYSTEM)

    def test_post_needs_existing_user_and_constellation(self, world):
        uow = world.uow
        with pytest.raises(NotFound, match="User not found!"):
            core.create_post(
                uow,
                core.CreatePost(user_id=999, constellation_id=1, post_type="progress"),
                clock=world.clock,
                actor=core.SYSTEM,
            )
        with pytest.raises(NotFound, match="Constellation not found!"):
            core.create_post(
                uow,
                core.CreatePost(user_id=world.user.id, constellation_id=999, post_type="progress"),
                clock=world.clock,
                actor=core.SYSTEM,
            )
        assert snapshot(uow)["posts"] == []

    def test_a_failing_use_case_changes_nothing(self, world):
        uow = world.uow
        before = snapshot(uow)
        with pytest.raises(RuntimeError), uow:
            uow.users.add(core.User(display_name="ghost", created_at=world.clock.now()))
            raise RuntimeError("boom")
        assert snapshot(uow) == before

    def test_nothing_is_kept_without_commit(self, world):
        uow = world.uow
        before = snapshot(uow)
        with uow:
            uow.users.add(core.User(display_name="ghost", created_at=world.clock.now()))
        assert snapshot(uow) == before

    def test_update_user_renames(self, world):
        uow = world.uow
        renamed = core.update_user(
            uow, world.user.id, core.UserPatch(display_name=" Ada L. "), clock=world.clock, actor=core.SYSTEM
        )
        assert renamed.display_name == "Ada L."
        assert renamed.total_minutes == world.user.total_minutes
        assert core.get_user(uow, world.user.id, actor=core.SYSTEM) == renamed
        assert (
            core.update_user(uow, world.user.id, core.UserPatch(), clock=world.clock, actor=core.SYSTEM)
            == renamed
        )
        with pytest.raises(core.ValidationFailed):
            core.update_user(
                uow, world.user.id, core.UserPatch(display_name=""), clock=world.clock, actor=core.SYSTEM
            )
        with pytest.raises(TypeError):
            core.UserPatch(total_minutes=5)
        with pytest.raises(NotFound):
            core.update_user(uow, 999, core.UserPatch(display_name="x"), clock=world.clock, actor=core.SYSTEM)
