"""The read model (``uow.views``): the documents of every store equal those built from entities.

``luminary.core.documents.EntityViews`` builds API v1's documents from the
repositories' entities; the SQL store answers the same port with queries of its
own. On a world with every shape a document can take (sessions with and
without minutes, user or attempt; posts with text that needs escaping;
timestamps with and without microseconds), each method, page and filter gives
the same JSON byte for byte. On the in-memory store the two are one and the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from luminary import core
from luminary.core import PageRequest, SessionStatus
from luminary.core.documents import EntityViews
from luminary.core.testing.support import ContractFixtures

NAMES = ("Ada", "Zoë ✨", 'Grace "Amazing" Hopper')
MESSAGES = (
    None,
    "Half way!",
    "línea\nnueva\t«tab»",
    "emoji 🌌 and \u2028 separator",
    'quote " back \\ slash',
)


def pages(limit: int) -> list[PageRequest]:
    return [PageRequest(limit=limit), PageRequest(limit=limit, offset=2), PageRequest(limit=100)]


def _encodable(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a document value: {value!r}")


def as_json(document: Any) -> str:
    """A document as JSON, as API v1 writes it (times in ISO 8601); any other value is an error."""
    return json.dumps(document, default=_encodable, ensure_ascii=False, separators=(",", ":"))


def both(uow: core.UnitOfWork, read: Callable[[core.Views], Any]) -> tuple[str, str]:
    with uow.reading():
        return as_json(read(EntityViews(uow))), as_json(read(uow.views))


def all_pages(
    uow: core.UnitOfWork, read: Callable[[core.Views, PageRequest], Sequence[Any]], key: Callable[[Any], Any]
) -> int:
    """Every page, then the pages following by cursor, equal from both read models."""
    for page in pages(3):
        expected, found = both(uow, lambda views, page=page: read(views, page))
        assert found == expected
    # Walk the whole list by cursor, as API v1's batches do.
    page = PageRequest(limit=2)
    seen = 0
    while True:
        expected, found = both(uow, lambda views, page=page: read(views, page))
        assert found == expected
        items = json.loads(found)
        seen += len(items)
        if len(items) < page.limit:
            break
        with uow.reading():
            last = read(uow.views, page)[-1]
        page = PageRequest(limit=2, after=key(last))
    return seen


def by_id(document: Any) -> core.Cursor:
    return core.Cursor(None, document["id"])


def newest(document: Any) -> core.Cursor:
    return core.Cursor(document["created_at"], document["id"])


class ViewsContract(ContractFixtures):
    """``uow.views`` answers the documents :class:`~luminary.core.documents.EntityViews` builds from
    the repositories, equal as JSON byte for byte, for every method, page and filter.
    """

    @pytest.fixture
    def views_world(self, uow_factory) -> dict[str, Any]:
        """Three users, two constellations, attempts, sessions of every kind and posts."""
        system = core.SYSTEM
        clock = core.ManualClock(datetime(2025, 12, 1, 10, 30, tzinfo=UTC))

        def later(seconds: float = 1.5) -> None:
            clock.advance(timedelta(seconds=seconds))

        uow = uow_factory
        people = [core.create_user(uow(), core.CreateUser(name), clock=clock, actor=system) for name in NAMES]
        stars = [
            core.create_constellation(
                uow(), core.CreateConstellation(name, weight), clock=clock, actor=system
            )
            for name, weight in (("Lyra", 3), ('Cygnus "the Swan"', 50))
        ]
        attempts = []
        for i, person in enumerate(people[:2]):
            for star in stars:
                later()
                attempts.append(
                    core.start_attempt(
                        uow(),
                        core.StartAttempt(user_id=person.id, constellation_id=star.id),
                        clock=clock,
                        actor=system,
                    )
                )
                core.add_star(uow(), attempts[-1].id, clock=clock, actor=system)
            if i == 0:
                core.complete_attempt(uow(), attempts[-2].id, clock=clock, actor=system)
        for n, attempt in enumerate(attempts * 2):
            later(0.25 if n % 2 else 1)  # some timestamps with microseconds, some without
            session = core.create_session(
                uow(),
                core.CreateSession(
                    constellation_attempt_id=attempt.id,
                    minutes=None if n % 3 == 0 else 10 + n,
                    description='notes\n\twith "quotes" and \\ slashes' if n % 4 == 0 else None,
                    difficulty="hard" if n % 5 == 0 else None,
                ),
                clock=clock,
                actor=system,
            )
            if n % 2:
                core.complete_session(uow(), session.id, clock=clock, actor=system)
            elif n % 3 == 1:
                core.cancel_session(uow(), session.id, clock=clock, actor=system)
        # Learning sessions of nobody, and one of a user without an attempt.
        later()
        core.create_session(uow(), core.CreateSession(title="Read alone"), clock=clock, actor=system)
        core.create_session(
            uow(),
            core.CreateSession(title="Plan", user_id=people[2].id, status="in_progress"),
            clock=clock,
            actor=system,
        )
        for n, text in enumerate(MESSAGES * 2):
            later(0.5 if n % 2 else 2)
            core.create_post(
                uow(),
                core.CreatePost(
                    user_id=people[n % 3].id,
                    constellation_id=stars[n % 2].id,
                    post_type=("progress", "completion")[n % 2],
                    message=text,
                    study_duration=None if n % 2 else 25 * n,
                ),
                clock=clock,
                actor=system,
            )
        return {
            "users": [p.id for p in people],
            "constellations": [s.id for s in stars],
            "attempts": [a.id for a in attempts],
        }

    def test_users(self, uow_factory, views_world):
        uow = uow_factory()
        assert all_pages(uow, lambda views, page: views.users(page), by_id) == 3
        for user_id in [*views_world["users"], 999]:
            expected, found = both(uow, lambda views, u=user_id: views.user(u))
            assert found == expected

    def test_attempts(self, uow_factory, views_world):
        uow = uow_factory()
        assert all_pages(uow, lambda views, page: views.attempts(page), by_id) == 4
        for user_id in views_world["users"]:
            all_pages(uow, lambda views, page, u=user_id: views.attempts(page, user_id=u), by_id)
        for attempt_id in [*views_world["attempts"], 999]:
            expected, found = both(uow, lambda views, a=attempt_id: views.attempt(a))
            assert found == expected

    def test_sessions(self, uow_factory, views_world):
        uow = uow_factory()
        assert all_pages(uow, lambda views, page: views.sessions(page), newest) == 10
        for user_id in views_world["users"]:
            all_pages(uow, lambda views, page, u=user_id: views.sessions(page, user_id=u), newest)
        for attempt_id in views_world["attempts"]:
            all_pages(uow, lambda views, page, a=attempt_id: views.sessions(page, attempt_id=a), newest)
        with uow.reading():
            every = uow.views.sessions(PageRequest(limit=100))
        statuses = {s["status"] for s in every}
        assert statuses == {"planned", "in_progress", "completed", "cancelled"}
        assert any(s["user"] is None for s in every)
        assert any(s["constellation_attempt"] is None for s in every)
        for session_id in [*(s["id"] for s in every), 999]:
            expected, found = both(uow, lambda views, s=session_id: views.session(s))
            assert found == expected

    def test_posts(self, uow_factory, views_world):
        uow = uow_factory()
        assert all_pages(uow, lambda views, page: views.posts(page), newest) == 10
        for user_id in views_world["users"]:
            all_pages(uow, lambda views, page, u=user_id: views.posts(page, user_id=u), newest)
        for cid in views_world["constellations"]:
            all_pages(uow, lambda views, page, c=cid: views.posts(page, constellation_id=c), newest)
        with uow.reading():
            every = uow.views.posts(PageRequest(limit=100))
        for post_id in [*(p["id"] for p in every), 999]:
            expected, found = both(uow, lambda views, p=post_id: views.post(p))
            assert found == expected

    def test_what_a_constellation_carries(self, uow_factory, views_world):
        uow = uow_factory()
        for cid in views_world["constellations"]:
            all_pages(
                uow, lambda views, page, c=cid: views.constellation_posts(page, constellation_id=c), newest
            )
            all_pages(
                uow, lambda views, page, c=cid: views.constellation_attempts(page, constellation_id=c), by_id
            )
            for user_id in views_world["users"]:
                all_pages(
                    uow,
                    lambda views, page, c=cid, u=user_id: views.constellation_attempts(
                        page, constellation_id=c, user_id=u
                    ),
                    by_id,
                )

    def test_what_many_constellations_carry_at_once(self, uow_factory, views_world):
        """``constellation_contents`` answers, for each constellation, the first page that
        ``constellation_attempts`` and ``constellation_posts`` answer for it, and nothing for an id
        naming no constellation (the keys' order is not part of the answer)."""
        uow = uow_factory()
        stars = views_world["constellations"]

        def carried(views: core.Views, ids: list[int], limit: int, user_id: int | None) -> Any:
            found = views.constellation_contents(ids, limit, user_id=user_id)
            return sorted(found.items())

        def one_by_one(views: core.Views, ids: list[int], limit: int, user_id: int | None) -> Any:
            page = PageRequest(limit=limit)
            return [
                (
                    cid,
                    (
                        views.constellation_attempts(page, constellation_id=cid, user_id=user_id),
                        views.constellation_posts(page, constellation_id=cid),
                    ),
                )
                for cid in sorted(set(ids))
            ]

        for ids in (stars, stars[::-1], stars[:1], [*stars, 999], [999], []):
            for limit in (1, 2, 3, 100):
                for user_id in (None, *views_world["users"]):
                    expected, found = both(uow, lambda views, a=(ids, limit, user_id): carried(views, *a))
                    assert found == expected
                    with uow.reading():
                        assert as_json(carried(uow.views, ids, limit, user_id)) == as_json(
                            one_by_one(uow.views, ids, limit, user_id)
                        )
        with uow.reading():
            every = uow.views.constellation_contents(stars, 100)
        assert all(attempts and posts for attempts, posts in every.values())
        assert every[stars[0]][1] != every[stars[1]][1]

    def test_documents_carry_aware_times_and_real_booleans(self, uow_factory, views_world):
        """What JSON shows depends on the Python types: ``true`` not ``1``, ``+00:00`` on every time."""
        uow = uow_factory()
        with uow.reading():
            user = uow.views.user(views_world["users"][0])
            sessions = uow.views.sessions(PageRequest(limit=100))
        assert user is not None
        assert {type(s["is_completed"]) for s in user["sessions"]} == {bool}
        assert {s["minutes"] for s in user["sessions"] if s["minutes"] == 0}  # minutes unknown show 0
        times = [s[k] for s in sessions for k in ("created_at", "updated_at") if s[k] is not None]
        times += [p["created_at"] for p in user["posts"]]
        assert times
        assert all(isinstance(t, datetime) and t.utcoffset() == timedelta(0) for t in times)
        assert any(t.microsecond for t in times)
        assert any(not t.microsecond for t in times)
        assert all(t.tzinfo is UTC or t.tzname() == "UTC" for t in times)
        assert SessionStatus.COMPLETED.value in {s["status"] for s in sessions}
