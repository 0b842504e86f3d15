"""Several use cases in one transaction.

Each use case opens its unit of work, and commits it when it writes. An
adapter that answers a write with what it wrote (API v1 answers a new session
with its user and attempt) wants the write and the read that follows in one
transaction, so that no concurrent change slips in between — a session deleted
right after it was created would otherwise turn an acknowledged write into a
404::

    with one_transaction(uow_factory()) as uow:
        session = create_session(uow, command, actor=actor, clock=clock)  # its commit waits
        detail = get_session_detail(uow, session.id, actor=actor)         # sees the new session
    # committed here, once, if nothing raised; rolled back otherwise

Inside the block, the use cases' own ``commit()`` only says "my part is
done"; the transaction commits when the block ends without an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType

from .ports import (
    AttemptRepository,
    ConstellationRepository,
    CredentialRepository,
    GoalRepository,
    LoginFailureRepository,
    PostRepository,
    SessionRepository,
    TokenRepository,
    UnitOfWork,
    UserRepository,
    Views,
)

__all__ = ["one_transaction"]


class _Joined:
    """The unit of work handed to each use case of :func:`one_transaction`."""

    def __init__(self, uow: UnitOfWork) -> None:
        # The repositories of the entered unit of work, shared by every use case of the block.
        self._uow = uow
        self.users: UserRepository = uow.users
        self.constellations: ConstellationRepository = uow.constellations
        self.attempts: AttemptRepository = uow.attempts
        self.sessions: SessionRepository = uow.sessions
        self.posts: PostRepository = uow.posts
        self.credentials: CredentialRepository = uow.credentials
        self.tokens: TokenRepository = uow.tokens
        self.login_failures: LoginFailureRepository = uow.login_failures
        self.goals: GoalRepository = uow.goals
        self.views: Views = uow.views

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Nothing: the enclosing transaction commits or rolls back."""

    def reading(self) -> AbstractContextManager[UnitOfWork]:
        """The same transaction, which sees what the block wrote so far."""
        return nullcontext(self)

    def commit(self) -> None:
        """Nothing yet: the transaction commits when the block ends."""

    def rollback(self) -> None:
        """Discard the whole transaction."""
        self._uow.rollback()


@contextmanager
def one_transaction(uow: UnitOfWork) -> Iterator[UnitOfWork]:
    """Run the use cases of the block in one transaction of ``uow``.

    Yields:
        The unit of work to pass to each use case. The transaction commits when
        the block ends, and rolls back if it raises.
    """
    with uow:
        yield _Joined(uow)
        uow.commit()
