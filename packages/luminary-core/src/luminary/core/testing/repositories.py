"""The repository and unit-of-work contract of ``luminary.core.ports``, on every backend.

These tests call the repositories directly (the use-case suite covers the rest),
so they pin down what the SQL implementation must mirror of the in-memory one:
ids, orders, pages and cursors, bulk methods, deletes and transactions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from luminary.core import (
    Attempt,
    Constellation,
    Cursor,
    PageRequest,
    Post,
    PostType,
    Session,
    SessionStatus,
    User,
    rules,
)
from luminary.core.testing.support import ContractFixtures

T0 = datetime(2025, 12, 1, 10, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def add_user(uow, name="Ada", created=T0, **kw) -> User:
    return uow.users.add(User(display_name=name, created_at=created, **kw))


def add_constellation(uow, name="Lyra", weight=5, created=T0) -> Constellation:
    return uow.constellations.add(Constellation(name=name, weight=weight, created_at=created))


def add_attempt(uow, user, constellation, created=T0, **kw) -> Attempt:
    return uow.attempts.add(
        Attempt(user_id=user.id, constellation_id=constellation.id, created_at=created, **kw)
    )


def add_session(uow, user=None, attempt=None, created=T0, title="Read", **kw) -> Session:
    return uow.sessions.add(
        Session(
            title=title,
            user_id=user.id if user else None,
            constellation_attempt_id=attempt.id if attempt else None,
            created_at=created,
            updated_at=created,
            **kw,
        )
    )


def add_post(uow, user, constellation, created=T0, **kw) -> Post:
    kw.setdefault("post_type", PostType.PROGRESS)
    return uow.posts.add(Post(user_id=user.id, constellation_id=constellation.id, created_at=created, **kw))


def newest_first(items):
    return sorted(items, key=lambda x: (x.created_at, x.id), reverse=True)


class RepositoryContract(ContractFixtures):
    """The repositories called directly: ids, orders, pages and cursors, bulk methods, deletes and
    sums, and the unit of work's commit and rollback.
    """

    @pytest.fixture
    def uow(self, uow_factory):
        """A unit of work kept open for the whole test."""
        with uow_factory() as opened:
            yield opened

    def test_add_assigns_increasing_ids_and_get_returns_the_same_entity(self, uow):
        ada, bob = add_user(uow, "Ada"), add_user(uow, "Bob")
        assert 0 < ada.id < bob.id
        assert uow.users.get(ada.id) == ada
        assert uow.users.get(bob.id, for_update=True) == bob
        assert uow.users.get(bob.id + 1000) is None

    def test_every_field_survives_the_round_trip(self, uow):
        when = datetime(2025, 6, 30, 23, 59, 59, 999_999, tzinfo=UTC)
        user = add_user(uow, "Zoë ✨", created=when, total_minutes=2**40)
        lyra = add_constellation(uow, "Lyra", 1000, created=when)
        attempt = add_attempt(uow, user, lyra, stars_completed=1000, completed_at=when)
        user = attrs.evolve(user, current_attempt_id=attempt.id)
        uow.users.update(user)
        full = add_session(
            uow,
            user,
            attempt,
            created=when,
            title="t" * 200,
            description="line\nline",
            status=SessionStatus.IN_PROGRESS,
            difficulty="hard",
            minutes=1440,
            started_at=when - timedelta(hours=1),
            completed_at=when,
        )
        bare = add_session(uow, title="Alone")
        post = add_post(
            uow, user, lyra, created=when, post_type=PostType.COMPLETION, message="Done!", study_duration=0
        )

        assert uow.users.get(user.id) == user
        assert uow.constellations.get(lyra.id) == lyra
        assert uow.attempts.get(attempt.id) == attempt
        assert uow.sessions.get(full.id) == full
        assert uow.sessions.get(bare.id) == bare
        assert uow.posts.get(post.id) == post
        loaded = uow.sessions.get(full.id)
        assert loaded.created_at.tzinfo is UTC
        assert loaded.created_at.microsecond == 999_999
        assert loaded.status is SessionStatus.IN_PROGRESS
        assert uow.posts.get(post.id).post_type is PostType.COMPLETION

    def test_ids_are_never_reused(self, uow):
        first = add_user(uow, "a")
        uow.users.delete(first.id)
        second = add_user(uow, "b")
        assert second.id > first.id

    def test_get_many_returns_what_exists(self, uow):
        users = [add_user(uow, f"u{i}") for i in range(3)]
        lyra, orion = add_constellation(uow, "Lyra"), add_constellation(uow, "Orion")
        attempt = add_attempt(uow, users[0], lyra)
        ids = [users[0].id, users[2].id, users[2].id, 999_999]
        assert uow.users.get_many(ids) == {users[0].id: users[0], users[2].id: users[2]}
        assert uow.users.get_many([]) == {}
        assert uow.constellations.get_many({orion.id, 12345}) == {orion.id: orion}
        assert uow.constellations.get_many(set()) == {}
        assert uow.attempts.get_many([attempt.id, attempt.id + 1]) == {attempt.id: attempt}
        assert uow.attempts.get_many(()) == {}

    def test_update_replaces_the_stored_entity(self, uow):
        user = add_user(uow)
        lyra = add_constellation(uow)
        attempt = add_attempt(uow, user, lyra)
        session = add_session(uow, user, attempt)
        uow.users.update(attrs.evolve(user, display_name="Ada L.", total_minutes=42))
        uow.constellations.update(attrs.evolve(lyra, name="Lyra II", weight=7))
        uow.attempts.update(attrs.evolve(attempt, stars_completed=3))
        uow.sessions.update(
            attrs.evolve(session, status=SessionStatus.COMPLETED, minutes=30, completed_at=at(60))
        )
        assert uow.users.get(user.id).display_name == "Ada L."
        assert uow.users.get(user.id).total_minutes == 42
        assert uow.constellations.get(lyra.id).weight == 7
        assert uow.attempts.get(attempt.id).stars_completed == 3
        assert uow.sessions.get(session.id).is_completed
        assert uow.users.total_minutes() == {user.id: 42}
        assert uow.constellations.count() == 1

    def test_lists_by_id_page_by_limit_offset_and_cursor(self, uow):
        users = [add_user(uow, f"u{i}") for i in range(7)]
        ids = [u.id for u in users]
        assert [u.id for u in uow.users.list_page(PageRequest(limit=3))] == ids[:3]
        assert [u.id for u in uow.users.list_page(PageRequest(limit=3, offset=5))] == ids[5:]
        assert [u.id for u in uow.users.list_page(PageRequest(limit=3, after=Cursor(None, ids[2])))] == ids[
            3:6
        ]
        assert list(uow.users.list_page(PageRequest(limit=3, after=Cursor(None, ids[-1])))) == []
        constellations = [add_constellation(uow, f"c{i}") for i in range(4)]
        page = uow.constellations.list_page(PageRequest(limit=2, after=Cursor(None, constellations[0].id)))
        assert list(page) == constellations[1:3]

    def test_attempt_lists_filter_by_user_and_constellation(self, uow):
        ada, bob = add_user(uow, "Ada"), add_user(uow, "Bob")
        lyra, orion = add_constellation(uow, "Lyra"), add_constellation(uow, "Orion")
        a1 = add_attempt(uow, ada, lyra)
        b1 = add_attempt(uow, bob, lyra)
        a2 = add_attempt(uow, ada, orion)
        assert list(uow.attempts.list_page(PageRequest())) == [a1, b1, a2]
        assert list(uow.attempts.list_page(PageRequest(), user_id=ada.id)) == [a1, a2]
        assert list(
            uow.attempts.list_page(PageRequest(limit=1, after=Cursor(None, a1.id)), user_id=ada.id)
        ) == [a2]
        assert list(uow.attempts.list_page(PageRequest(offset=1), user_id=ada.id)) == [a2]
        assert list(uow.attempts.list_by_users([ada.id, bob.id])) == [a1, b1, a2]
        assert list(uow.attempts.list_by_users([bob.id])) == [b1]
        assert list(uow.attempts.list_by_users([])) == []
        assert list(uow.attempts.list_by_constellations([orion.id])) == [a2]
        assert list(uow.attempts.list_by_constellations([lyra.id, orion.id])) == [a1, b1, a2]
        assert list(uow.attempts.list_by_constellations([])) == []
        assert uow.attempts.exists_for_constellation(lyra.id)
        assert not uow.attempts.exists_for_constellation(lyra.id + orion.id + 100)

    @pytest.fixture
    def timeline(self, uow):
        """Sessions and posts of two users, with ties in created_at to be broken by id."""
        ada, bob = add_user(uow, "Ada"), add_user(uow, "Bob")
        lyra = add_constellation(uow)
        attempt = add_attempt(uow, ada, lyra)
        seconds = [5, 1, 5, 3, 5, 2, 4]
        sessions = [
            add_session(uow, ada if i % 2 == 0 else bob, attempt if i % 3 == 0 else None, created=at(s))
            for i, s in enumerate(seconds)
        ]
        posts = [
            add_post(uow, ada if i % 2 == 0 else bob, lyra, created=at(s)) for i, s in enumerate(seconds)
        ]
        return ada, bob, attempt, lyra, sessions, posts

    def test_newest_first_lists_break_ties_by_id(self, uow, timeline):
        ada, bob, attempt, lyra, sessions, posts = timeline
        assert list(uow.sessions.list_page(PageRequest())) == newest_first(sessions)
        assert list(uow.posts.list_page(PageRequest())) == newest_first(posts)
        assert list(uow.sessions.list_page(PageRequest(), user_id=bob.id)) == newest_first(
            s for s in sessions if s.user_id == bob.id
        )
        assert list(uow.sessions.list_page(PageRequest(), attempt_id=attempt.id)) == newest_first(
            s for s in sessions if s.constellation_attempt_id == attempt.id
        )
        assert list(
            uow.sessions.list_page(PageRequest(), user_id=bob.id, attempt_id=attempt.id)
        ) == newest_first(
            s for s in sessions if s.constellation_attempt_id == attempt.id and s.user_id == bob.id
        )
        assert list(uow.posts.list_page(PageRequest(), user_id=ada.id)) == newest_first(
            p for p in posts if p.user_id == ada.id
        )
        assert list(uow.posts.list_page(PageRequest(), constellation_id=lyra.id)) == newest_first(posts)

    @pytest.mark.parametrize("limit", [1, 2, 3, 7])
    def test_newest_first_cursor_walks_every_item_once(self, uow, timeline, limit):
        *_, sessions, posts = timeline
        for repository, items in ((uow.sessions, sessions), (uow.posts, posts)):
            seen = []
            page = PageRequest(limit=limit)
            while True:
                rows = list(repository.list_page(page))
                seen.extend(rows)
                if len(rows) < limit:
                    break
                page = PageRequest(limit=limit, after=Cursor(rows[-1].created_at, rows[-1].id))
            assert seen == newest_first(items)

    def test_newest_first_offset_and_id_only_cursor(self, uow, timeline):
        *_, sessions, posts = timeline
        ordered = newest_first(sessions)
        assert list(uow.sessions.list_page(PageRequest(limit=2, offset=3))) == ordered[3:5]
        assert list(uow.posts.list_page(PageRequest(limit=50, offset=6))) == newest_first(posts)[6:]
        # A cursor without a time means "ids below this one", in newest-first order.
        middle = sorted(s.id for s in sessions)[3]
        assert list(uow.sessions.list_page(PageRequest(after=Cursor(None, middle)))) == newest_first(
            s for s in sessions if s.id < middle
        )

    def test_bulk_newest_first_lists(self, uow, timeline):
        ada, bob, attempt, lyra, sessions, posts = timeline
        assert list(uow.sessions.list_by_users([ada.id, bob.id])) == newest_first(sessions)
        assert list(uow.sessions.list_by_users([ada.id])) == newest_first(
            s for s in sessions if s.user_id == ada.id
        )
        assert list(uow.sessions.list_by_users([])) == []
        assert list(uow.sessions.list_by_attempts([attempt.id])) == newest_first(
            s for s in sessions if s.constellation_attempt_id == attempt.id
        )
        assert list(uow.sessions.list_by_attempts([])) == []
        assert list(uow.posts.list_by_users([bob.id])) == newest_first(
            p for p in posts if p.user_id == bob.id
        )
        assert list(uow.posts.list_by_users([])) == []
        assert list(uow.posts.list_by_constellations([lyra.id])) == newest_first(posts)
        assert list(uow.posts.list_by_constellations([])) == []
        assert uow.posts.exists_for_constellation(lyra.id)

    def test_delete_by_attempt_returns_the_deleted_sessions_by_id(self, uow):
        user = add_user(uow)
        lyra = add_constellation(uow)
        attempt, other = add_attempt(uow, user, lyra), add_attempt(uow, user, lyra)
        doomed = [add_session(uow, user, attempt, created=at(10 - i), minutes=i) for i in range(3)]
        kept = add_session(uow, user, other)
        assert list(uow.sessions.delete_by_attempt(attempt.id)) == doomed
        assert list(uow.sessions.delete_by_attempt(attempt.id)) == []
        assert list(uow.sessions.list_page(PageRequest())) == [kept]

    def test_deletes_remove_only_their_rows_and_ignore_absent_ones(self, uow):
        ada, bob = add_user(uow, "Ada"), add_user(uow, "Bob")
        lyra = add_constellation(uow)
        ada_attempt, bob_attempt = add_attempt(uow, ada, lyra), add_attempt(uow, bob, lyra)
        add_session(uow, ada, ada_attempt)
        bob_session = add_session(uow, bob, bob_attempt)
        add_post(uow, ada, lyra)
        bob_post = add_post(uow, bob, lyra)

        uow.sessions.delete_by_user(ada.id)
        uow.posts.delete_by_user(ada.id)
        uow.attempts.delete_by_user(ada.id)
        uow.users.delete(ada.id)
        assert list(uow.users.list_page(PageRequest())) == [bob]
        assert list(uow.attempts.list_page(PageRequest())) == [bob_attempt]
        assert list(uow.sessions.list_page(PageRequest())) == [bob_session]
        assert list(uow.posts.list_page(PageRequest())) == [bob_post]

        uow.sessions.delete(bob_session.id)
        uow.posts.delete(bob_post.id)
        uow.attempts.delete(bob_attempt.id)
        assert uow.sessions.get(bob_session.id) is None
        assert uow.posts.get(bob_post.id) is None
        assert uow.attempts.get(bob_attempt.id) is None
        assert not uow.attempts.exists_for_constellation(lyra.id)
        assert not uow.posts.exists_for_constellation(lyra.id)
        uow.constellations.delete(lyra.id)
        assert uow.constellations.count() == 0
        for repository in (uow.users, uow.constellations, uow.attempts, uow.sessions, uow.posts):
            repository.delete(123_456)  # absent: nothing happens

    def test_minutes_by_user_sums_the_sessions_of_the_statuses_asked_for(self, uow):
        ada, bob, cy = add_user(uow, "Ada"), add_user(uow, "Bob"), add_user(uow, "Cy")
        done = SessionStatus.COMPLETED
        add_session(uow, ada, status=done, minutes=30)
        add_session(uow, ada, status=done, minutes=15)
        add_session(uow, ada, status=SessionStatus.PLANNED, minutes=100)
        add_session(uow, ada, status=SessionStatus.CANCELLED, minutes=100)
        add_session(uow, bob, status=done, minutes=None)
        add_session(uow, None, status=done, minutes=60)
        add_session(uow, cy, status=SessionStatus.IN_PROGRESS, minutes=5)
        assert uow.sessions.minutes_by_user(rules.COUNTED_STATUSES) == {ada.id: 45, bob.id: 0}
        assert uow.sessions.minutes_by_user(set()) == {}
        both = {SessionStatus.COMPLETED, SessionStatus.CANCELLED}
        assert uow.sessions.minutes_by_user(both) == {ada.id: 145, bob.id: 0}
        assert uow.users.total_minutes() == {ada.id: 0, bob.id: 0, cy.id: 0}

    def test_leaving_without_commit_rolls_back(self, uow_factory):
        uow = uow_factory()
        with uow:
            add_user(uow, "kept")
            uow.commit()
            add_user(uow, "after the commit")
        with uow:
            add_user(uow, "rolled back")
            uow.rollback()
            add_user(uow, "left without commit")
        with pytest.raises(RuntimeError), uow:
            add_user(uow, "raised")
            raise RuntimeError
        with uow:
            assert [u.display_name for u in uow.users.list_page(PageRequest())] == ["kept"]

    def test_each_entry_is_a_new_transaction_and_commits_are_seen_by_others(self, uow_factory):
        writer, reader = uow_factory(), uow_factory()
        with writer:
            user = add_user(writer)
            writer.commit()
        with reader:
            assert reader.users.get(user.id) == user
        with writer:
            writer.users.update(attrs.evolve(user, total_minutes=5))
            writer.commit()
        with reader:
            assert reader.users.get(user.id).total_minutes == 5
