"""The read model in SQL: API v1's documents straight from rows.

:class:`SqlViews` implements core's :class:`~luminary.core.ports.Views` port.
Where the repositories load whole rows and build frozen entities that the
answer then takes apart again, these queries select only the columns the
documents show (a session's twelve columns shrink to five in a user's list,
its timestamps unread) and turn each row into its document at once. A document
embeds what it shows with joins (a post its author and constellation) or with
one query per embedded list for the whole page (a page of users reads every
attempt, session and post of those users in three queries), so the number of
queries stays fixed whatever the data.

The documents equal those :class:`luminary.core.documents.EntityViews` builds
from entities, key for key and in order: the contract tests compare their JSON
byte for byte on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    ScalarSelect,
    Select,
    String,
    Table,
    Text,
    bindparam,
    case,
    func,
    literal_column,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from luminary.core.entities import SessionStatus
from luminary.core.pagination import PageRequest
from luminary.core.ports import Document

from .driver import fetch_all
from .repositories import _STATEMENTS, paged, raise_translated
from .tables import attempts, constellations, posts, sessions, users

__all__ = ["SqlViews"]

#: Decodes the JSON arrays the databases build: orjson (it comes with luminary-http)
#: several times faster than the standard library, which serves when it is missing.
_loads: Callable[[str], Any]
try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - luminary-sql on its own
    from json import loads as _loads

_completed = sessions.c.status == SessionStatus.COMPLETED.value
_minutes = func.coalesce(sessions.c.minutes, 0)

#: The summaries' columns, in their documents' order; a trailing extra column is not shown.
_ATTEMPT = (attempts.c.id, attempts.c.user_id, attempts.c.constellation_id, attempts.c.stars_completed)
_SESSION = (
    sessions.c.id,
    sessions.c.user_id,
    sessions.c.constellation_attempt_id,
    _completed.label("is_completed"),
    _minutes.label("minutes"),
)
_POST = (posts.c.id, posts.c.post_type, posts.c.message, posts.c.study_duration, posts.c.created_at)


# A document per row, written out key by key: twice as fast as dict(zip(keys, row)).


def _attempt_summaries(rows: Iterable[tuple[Any, ...]]) -> list[Document]:
    return [{"id": a, "user_id": u, "constellation_id": c, "stars_completed": s} for a, u, c, s, *_ in rows]


def _session_summaries(rows: Iterable[tuple[Any, ...]]) -> list[Document]:
    return [
        {"id": i, "user_id": u, "constellation_attempt_id": a, "is_completed": d, "minutes": m}
        for i, u, a, d, m, *_ in rows
    ]


def _post_summaries(rows: Iterable[tuple[Any, ...]]) -> list[Document]:
    return [
        {"id": i, "post_type": t, "message": m, "study_duration": d, "created_at": c}
        for i, t, m, d, c, *_ in rows
    ]


def _grouped(
    summaries: Callable[[Iterable[tuple[Any, ...]]], list[Document]],
    rows: Sequence[tuple[Any, ...]],
    owner: int,
) -> dict[int, list[Document]]:
    """The rows' summaries by the value of their column ``owner``; the rows hold each owner's together."""
    return {key: summaries(group) for key, group in groupby(rows, itemgetter(owner))}


_attempt_user = users.alias("attempt_user")
_session_attempt = attempts.alias("session_attempt")


class SqlViews:
    """API v1's documents read from SQL, on the connection of a unit of work."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    # ------------------------------------------------------------ plumbing

    def _run(self, statement: Executable, params: dict[str, Any]) -> Sequence[tuple[Any, ...]]:
        try:
            return fetch_all(self._connection, statement, params)
        except DBAPIError as exc:
            raise_translated(exc)

    def _statement(self, key: Hashable, build: Callable[[], Executable]) -> Executable:
        full_key = ("views", key)
        statement = _STATEMENTS.get(full_key)
        if statement is None:
            statement = _STATEMENTS.setdefault(full_key, build())
        return statement

    def _page(
        self,
        table: Table,
        shape: Hashable,
        base: Callable[[], Select[Any]],
        page: PageRequest,
        order: str,
        **filters: int | None,
    ) -> Sequence[tuple[Any, ...]]:
        statement, params = paged(table, ("views", shape), base, page, order, filters)
        return self._run(statement, params)

    def _one(
        self, shape: Hashable, base: Callable[[], Select[Any]], table: Table, entity_id: int
    ) -> tuple[Any, ...] | None:
        def build() -> Executable:
            return base().where(table.c.id == bindparam("id"))

        rows = self._run(self._statement(("one", shape), build), {"id": entity_id})
        return rows[0] if rows else None

    # ------------------------------------------------------------ users

    def users(self, page: PageRequest) -> Sequence[Document]:
        # Not as one user's JSON below: for a page, three range queries read rows faster than
        # either database builds their JSON (measured: 3.6 against 6.2 ms for 50 users on PostgreSQL).
        return self._users(self._page(users, "user", _user_select, page, "id"))

    def user(self, user_id: int) -> Document | None:
        # One statement: the user's attempts, sessions and posts come as JSON arrays built by the
        # database, in place of three more round trips (and statements) for one document.
        dialect = self._connection.dialect.name
        rows = self._one(("user whole", dialect), partial(_whole_user_select, dialect), users, user_id)
        return None if rows is None else _whole_user(rows)

    def _users(self, rows: Sequence[tuple[Any, ...]]) -> list[Document]:
        if not rows:
            return []
        # A page of users by id holds every user between its first and last id:
        # what they own is found by a range on the owner's index.
        span = {"low": rows[0][0], "high": rows[-1][0]}

        def owned(table: Table, columns: tuple[Any, ...], newest: bool) -> Callable[[], Executable]:
            def build() -> Executable:
                owner = table.c.user_id
                statement = select(*columns).where(owner >= bindparam("low"), owner <= bindparam("high"))
                if newest:
                    # Descending throughout, so that the (user_id, created_at, id) index gives the order.
                    return statement.order_by(owner.desc(), table.c.created_at.desc(), table.c.id.desc())
                return statement.order_by(owner, table.c.id)

            return build

        attempt_rows = self._run(self._statement("user attempts", owned(attempts, _ATTEMPT, False)), span)
        session_rows = self._run(self._statement("user sessions", owned(sessions, _SESSION, True)), span)
        post_rows = self._run(
            self._statement("user posts", owned(posts, (*_POST, posts.c.user_id), True)), span
        )
        own_attempts = _grouped(_attempt_summaries, attempt_rows, 1)
        own_sessions = _grouped(_session_summaries, session_rows, 1)
        own_posts = _grouped(_post_summaries, post_rows, 5)
        documents = []
        for user_id, display_name, total_minutes, current_attempt_id in rows:
            mine = own_attempts.get(user_id, [])
            current = None
            if current_attempt_id is not None:
                current = next((a for a in mine if a["id"] == current_attempt_id), None)
            documents.append(
                {
                    "id": user_id,
                    "display_name": display_name,
                    "total_minutes": total_minutes,
                    "current_attempt_id": current_attempt_id,
                    "current_attempt": current,
                    "constellation_attempts": mine,
                    "sessions": own_sessions.get(user_id, []),
                    "posts": own_posts.get(user_id, []),
                }
            )
        return documents

    # ------------------------------------------------------------ attempts

    def attempts(self, page: PageRequest, *, user_id: int | None = None) -> Sequence[Document]:
        return self._attempts(self._page(attempts, "attempt", _attempt_select, page, "id", user_id=user_id))

    def attempt(self, attempt_id: int) -> Document | None:
        # One statement, the sessions as a JSON array (as for one user).
        dialect = self._connection.dialect.name
        rows = self._run(
            self._statement(("attempt whole", dialect), partial(_whole_attempt_select, dialect)),
            {"id": attempt_id},
        )
        if not rows:
            return None
        attempt_id, user_id, constellation_id, stars, display_name, name, weight, own_sessions = rows[0]
        return _attempt_document(
            (attempt_id, user_id, constellation_id, stars, display_name, name, weight),
            _json_value(own_sessions),
        )

    def _attempts(self, rows: Sequence[tuple[Any, ...]]) -> list[Document]:
        if not rows:
            return []

        def build() -> Executable:
            owner = sessions.c.constellation_attempt_id
            return (
                select(*_SESSION)
                .where(owner.in_(bindparam("ids", expanding=True)))
                # Grouped by attempt, newest first: the order of the (attempt, created_at, id) index.
                .order_by(owner.desc(), sessions.c.created_at.desc(), sessions.c.id.desc())
            )

        ids = sorted({row[0] for row in rows})
        session_rows = self._run(self._statement("attempt sessions", build), {"ids": ids})
        own_sessions = _grouped(_session_summaries, session_rows, 2)
        return [_attempt_document(row, own_sessions.get(row[0], [])) for row in rows]

    # ------------------------------------------------------------ sessions

    def sessions(
        self, page: PageRequest, *, user_id: int | None = None, attempt_id: int | None = None
    ) -> Sequence[Document]:
        rows = self._page(
            sessions,
            "session",
            _session_select,
            page,
            "newest",
            user_id=user_id,
            constellation_attempt_id=attempt_id,
        )
        return [_session_document(row) for row in rows]

    def session(self, session_id: int) -> Document | None:
        row = self._one("session", _session_select, sessions, session_id)
        return None if row is None else _session_document(row)

    # ------------------------------------------------------------ posts

    def posts(
        self, page: PageRequest, *, user_id: int | None = None, constellation_id: int | None = None
    ) -> Sequence[Document]:
        rows = self._page(
            posts, "post", _post_select, page, "newest", user_id=user_id, constellation_id=constellation_id
        )
        return _post_documents(rows)

    def post(self, post_id: int) -> Document | None:
        row = self._one("post", _post_select, posts, post_id)
        return None if row is None else _post_documents([row])[0]

    # ------------------------------------------------------------ what a constellation carries

    def constellation_attempts(
        self, page: PageRequest, *, constellation_id: int, user_id: int | None = None
    ) -> Sequence[Document]:
        rows = self._page(
            attempts,
            "attempt summary",
            lambda: select(*_ATTEMPT),
            page,
            "id",
            constellation_id=constellation_id,
            user_id=user_id,
        )
        return _attempt_summaries(rows)

    def constellation_posts(self, page: PageRequest, *, constellation_id: int) -> Sequence[Document]:
        rows = self._page(
            posts, "post summary", lambda: select(*_POST), page, "newest", constellation_id=constellation_id
        )
        return _post_summaries(rows)

    def constellation_contents(
        self, constellation_ids: Collection[int], limit: int, *, user_id: int | None = None
    ) -> Mapping[int, tuple[Sequence[Document], Sequence[Document]]]:
        # One statement for the attempts and one for the posts of all the constellations (of up to
        # _ARMS of them: a page of v1's), each constellation's rows read from its index and cut
        # there. ROW_NUMBER() OVER (PARTITION BY …) would number every row of every constellation
        # first: measured on the benchmark's 10x data, 5 times slower on SQLite, 1.4 on PostgreSQL.
        ids = sorted(set(constellation_ids))
        dialect = self._connection.dialect.name
        own = user_id is not None
        attempt_rows: list[tuple[Any, ...]] = []
        post_rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), _ARMS):
            chunk = ids[start : start + _ARMS]
            arms = _arms(dialect, len(chunk))
            params: dict[str, Any] = {"limit": limit}
            if dialect == "postgresql":
                params["ids"] = chunk
            else:
                # Padded with ids of nothing, so that a few statements serve every page size.
                params.update((f"id_{n}", cid) for n, cid in enumerate(chunk + [0] * (arms - len(chunk))))
            first_posts = partial(_first, dialect, arms, posts, _POST, _newest)
            post_rows.extend(self._run(self._statement(("first posts", dialect, arms), first_posts), params))
            if own:
                params["user_id"] = user_id
            where = (attempts.c.user_id == bindparam("user_id"),) if own else ()
            first_attempts = partial(_first, dialect, arms, attempts, _ATTEMPT, _by_id, *where)
            key = ("first attempts", dialect, arms, own)
            attempt_rows.extend(self._run(self._statement(key, first_attempts), params))
        carried: dict[int, tuple[list[Document], list[Document]]] = {cid: ([], []) for cid in ids}
        for cid, group in groupby(attempt_rows, itemgetter(4)):
            carried[cid][0].extend(_attempt_summaries(group))
        for cid, group in groupby(post_rows, itemgetter(5)):
            carried[cid][1].extend(_post_summaries(group))
        return carried


# ---------------------------------------------------------------- statements and documents


#: At most this many constellations' contents are read by one statement (SQLite allows 500 arms
#: in a compound SELECT); fewer are padded up to the next power of two, for few statements.
_ARMS = 256


def _newest(c: ReadOnlyColumnCollection[str, Any]) -> tuple[ColumnElement[Any], ...]:
    return (c.created_at.desc(), c.id.desc())


def _by_id(c: ReadOnlyColumnCollection[str, Any]) -> tuple[ColumnElement[Any], ...]:
    return (c.id,)


def _arms(dialect: str, count: int) -> int:
    """How many constellations a statement reads for ``count``: on SQLite, a power of two."""
    return count if dialect == "postgresql" else 1 << max(count - 1, 0).bit_length()


def _first(
    dialect: str,
    arms: int,
    table: Table,
    columns: Sequence[ColumnElement[Any]],
    order: Callable[[ReadOnlyColumnCollection[str, Any]], tuple[ColumnElement[Any], ...]],
    *where: ColumnElement[bool],
) -> Executable:
    """The first ``:limit`` rows of ``table`` in ``order`` (of its columns), for each constellation,
    as ``columns`` then the constellation's id; each constellation's rows together, in ``order``.

    PostgreSQL joins the array ``:ids`` LATERAL to each one's rows: one statement for any number.
    SQLite has no LATERAL: it reads ``:id_0`` … as the ``arms`` arms of a UNION ALL, which it
    runs one after the other, each a subquery read in its order (as ``_json_array`` relies on).
    """
    owner = table.c.constellation_id

    def rows(of: ColumnElement[Any]) -> Select[Any]:
        return (
            select(*columns, owner.label("owner"))
            .where(owner == of, *where)
            .order_by(*order(table.c))
            .limit(bindparam("limit"))
        )

    if dialect == "postgresql":
        wanted = func.unnest(bindparam("ids", type_=ARRAY(BigInteger))).table_valued("id").render_derived()
        found = rows(wanted.c.id).lateral()
        return (
            select(*found.c).select_from(wanted.join(found, true())).order_by(found.c.owner, *order(found.c))
        )
    return union_all(*(select(*rows(bindparam(f"id_{n}")).subquery(f"arm_{n}").c) for n in range(arms)))


def _user_select() -> Select[Any]:
    return select(users.c.id, users.c.display_name, users.c.total_minutes, users.c.current_attempt_id)


def _whole_user_select(dialect: str) -> Select[Any]:
    """Users, with their attempts, sessions and posts as three JSON arrays of summaries."""
    owner = users.c.id
    return select(
        *_user_select().selected_columns,
        _json_array(
            dialect,
            [(c.name, c) for c in _ATTEMPT],
            attempts.c.user_id == owner,
            (attempts.c.id,),
        ),
        _json_array(
            dialect,
            _session_summary_fields(),
            sessions.c.user_id == owner,
            (sessions.c.created_at.desc(), sessions.c.id.desc()),
        ),
        _json_array(
            dialect,
            [
                *((c.name, c) for c in _POST[:-1]),
                # As text in UTC, the same on both databases; the document turns it back into a datetime.
                ("created_at", _utc_text(dialect, posts.c.created_at)),
            ],
            posts.c.user_id == owner,
            (posts.c.created_at.desc(), posts.c.id.desc()),
        ),
    )


def _whole_user(row: tuple[Any, ...]) -> Document:
    """The document of a row of :func:`_whole_user_select`."""
    user_id, display_name, total_minutes, current_attempt_id, *arrays = row
    mine, own_sessions, own_posts = (_json_value(value) for value in arrays)
    for post in own_posts:
        post["created_at"] = _utc(post["created_at"])
    current = None
    if current_attempt_id is not None:
        current = next((a for a in mine if a["id"] == current_attempt_id), None)
    return {
        "id": user_id,
        "display_name": display_name,
        "total_minutes": total_minutes,
        "current_attempt_id": current_attempt_id,
        "current_attempt": current,
        "constellation_attempts": mine,
        "sessions": own_sessions,
        "posts": own_posts,
    }


def _attempt_document(row: tuple[Any, ...], own_sessions: list[Document]) -> Document:
    attempt_id, user_id, constellation_id, stars, display_name, name, weight = row
    return {
        "id": attempt_id,
        "user_id": user_id,
        "constellation_id": constellation_id,
        "stars_completed": stars,
        "user": {"id": user_id, "display_name": display_name},
        "constellation": {"id": constellation_id, "name": name, "weight": weight},
        "sessions": own_sessions,
    }


def _session_summary_fields() -> list[tuple[str, ColumnElement[Any]]]:
    """A session summary's keys and columns, as ``_SESSION`` selects them, for a JSON object."""
    return [
        ("id", sessions.c.id),
        ("user_id", sessions.c.user_id),
        ("constellation_attempt_id", sessions.c.constellation_attempt_id),
        ("is_completed", _completed),
        ("minutes", _minutes),
    ]


def _whole_attempt_select(dialect: str) -> Select[Any]:
    """The attempt by id, as ``_attempt_select`` reads it, with its sessions as a JSON array."""
    owner = attempts.c.id
    base = _attempt_select()
    return base.add_columns(
        _json_array(
            dialect,
            _session_summary_fields(),
            sessions.c.constellation_attempt_id == owner,
            (sessions.c.created_at.desc(), sessions.c.id.desc()),
        )
    ).where(owner == bindparam("id"))


def _json_array(
    dialect: str,
    fields: Sequence[tuple[str, ColumnElement[Any]]],
    where: ColumnElement[bool],
    order: Sequence[ColumnElement[Any]],
) -> ScalarSelect[Any]:
    """A JSON array of one object per row where ``where`` holds, in ``order``: ``[]`` for none.

    A boolean field (a column or condition of SQL type Boolean) is a JSON ``true`` or ``false``.
    PostgreSQL orders inside the aggregate. SQLite before 3.44 cannot, so it aggregates an ordered
    subquery of the fields' values, which it never flattens into an aggregate query (and so reads
    in its order), and builds each object in the aggregate itself: an object built in the subquery
    would reach it as text, to be parsed again by ``json()`` (a user's twenty sessions: 34 against
    18 µs).
    """
    if dialect == "postgresql":
        pairs = [part for key, value in fields for part in (literal_column(f"'{key}'"), value)]
        aggregated = func.json_agg(aggregate_order_by(func.json_build_object(*pairs), *order))
        # As text, decoded by _json_value rather than by psycopg's json loader (the standard library's).
        array = func.coalesce(aggregated, literal_column("'[]'::json")).cast(Text)
        return select(array).where(where).scalar_subquery()
    tables = {column.table for _, column in fields if isinstance(column, Column)}
    rows = (
        select(*(value.label(f"f{i}") for i, (_, value) in enumerate(fields)))
        .where(where)
        .order_by(*order)
        .correlate_except(*tables)
        .subquery()
    )
    pairs = []
    for i, (key, value) in enumerate(fields):
        column = rows.c[f"f{i}"]
        pairs += [
            literal_column(f"'{key}'"),
            _json_boolean(column) if isinstance(value.type, Boolean) else column,
        ]
    return select(func.json_group_array(func.json_object(*pairs))).scalar_subquery()


def _json_boolean(condition: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQLite's 1 or 0 as a JSON ``true`` or ``false``: SQLite has no booleans."""
    return case((condition, func.json(literal_column("'true'"))), else_=func.json(literal_column("'false'")))


def _utc_text(dialect: str, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A timestamp column as ISO 8601 text in UTC (SQLite stores it so already)."""
    if dialect == "postgresql":
        return func.timezone(literal_column("'UTC'"), column)
    return type_coerce(column, String)


def _json_value(value: Any) -> Any:
    # Both databases answer the arrays as text (PostgreSQL's cast in _json_array).
    return _loads(value) if isinstance(value, str) else value


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _attempt_select() -> Select[Any]:
    return select(
        *_ATTEMPT, users.c.display_name, constellations.c.name, constellations.c.weight
    ).select_from(
        attempts.join(users, users.c.id == attempts.c.user_id).join(
            constellations, constellations.c.id == attempts.c.constellation_id
        )
    )


def _session_select() -> Select[Any]:
    return select(
        *_SESSION,
        _attempt_user.c.display_name,
        _session_attempt.c.user_id,
        _session_attempt.c.constellation_id,
        _session_attempt.c.stars_completed,
        sessions.c.title,
        sessions.c.description,
        sessions.c.status,
        sessions.c.difficulty,
        sessions.c.started_at,
        sessions.c.completed_at,
        sessions.c.created_at,
        sessions.c.updated_at,
    ).select_from(
        sessions.outerjoin(_attempt_user, _attempt_user.c.id == sessions.c.user_id).outerjoin(
            _session_attempt, _session_attempt.c.id == sessions.c.constellation_attempt_id
        )
    )


def _session_document(row: tuple[Any, ...]) -> Document:
    (
        session_id,
        user_id,
        attempt_id,
        is_completed,
        minutes,
        display_name,
        attempt_user_id,
        constellation_id,
        stars,
        title,
        description,
        status,
        difficulty,
        started_at,
        completed_at,
        created_at,
        updated_at,
    ) = row
    return {
        "id": session_id,
        "user_id": user_id,
        "constellation_attempt_id": attempt_id,
        "is_completed": is_completed,
        "minutes": minutes,
        "user": None if display_name is None else {"id": user_id, "display_name": display_name},
        "constellation_attempt": None
        if attempt_user_id is None
        else {
            "id": attempt_id,
            "user_id": attempt_user_id,
            "constellation_id": constellation_id,
            "stars_completed": stars,
        },
        "title": title,
        "description": description,
        "status": status,
        "difficulty": difficulty,
        "started_at": started_at,
        "completed_at": completed_at,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def _post_select() -> Select[Any]:
    return select(
        posts.c.id,
        posts.c.user_id,
        posts.c.constellation_id,
        posts.c.post_type,
        posts.c.message,
        posts.c.study_duration,
        posts.c.created_at,
        users.c.display_name,
        constellations.c.name,
        constellations.c.weight,
    ).select_from(
        posts.join(users, users.c.id == posts.c.user_id).join(
            constellations, constellations.c.id == posts.c.constellation_id
        )
    )


def _post_documents(rows: Iterable[tuple[Any, ...]]) -> list[Document]:
    # One comprehension rather than a call per row: a feed page is a hundred of them.
    # The page made as JSON by the database instead (json_object per post, the timestamp
    # formatted in SQL) was measured, a page of 100 in the driver alone: SQLite 289-332 µs
    # against 337-445 for rows, these documents and orjson, barely less and the same bytes;
    # PostgreSQL (json_build_object) 146-157 µs of this process's CPU against 355-432, but
    # 1.3 ms a page in all against 0.8 (the server's JSON costs more than it saves here, on
    # the same cores) and not the same bytes (its JSON has spaces). Not done.
    return [
        {
            "id": post_id,
            "user_id": user_id,
            "constellation_id": constellation_id,
            "post_type": post_type,
            "message": message,
            "study_duration": duration,
            "created_at": created_at,
            "user": {"id": user_id, "display_name": display_name},
            "constellation": {"id": constellation_id, "name": name, "weight": weight},
        }
        for (
            post_id,
            user_id,
            constellation_id,
            post_type,
            message,
            duration,
            created_at,
            display_name,
            name,
            weight,
        ) in rows
    ]
