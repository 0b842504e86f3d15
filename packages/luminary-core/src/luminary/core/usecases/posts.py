"""Use cases on posts and the feed."""

from __future__ import annotations

from ..access import Actor, Scope, change, require, see
from ..clock import Clock
from ..commands import CreatePost
from ..entities import Post
from ..pagination import PageRequest, Slice
from ..ports import UnitOfWork
from ._loading import (
    load_constellation,
    load_post,
    load_user,
    post_page,
)

__all__ = [
    "create_post",
    "delete_post",
    "feed",
    "get_post",
    "list_posts",
]


def create_post(uow: UnitOfWork, command: CreatePost, *, actor: Actor, clock: Clock) -> Post:
    """Share progress on a constellation in the feed.

    Raises:
        Forbidden: The token lacks ``social``.
        NotFound: No such user or constellation, or ``user_id`` is someone else.
    """
    require(actor, Scope.SOCIAL)
    with uow:
        see(actor, load_user(uow, command.user_id).id, "User", command.user_id)
        load_constellation(uow, command.constellation_id)
        post = uow.posts.add(
            Post(
                user_id=command.user_id,
                constellation_id=command.constellation_id,
                post_type=command.post_type,
                message=command.message,
                study_duration=command.study_duration,
                created_at=clock.now(),
            )
        )
        uow.commit()
    return post


def get_post(uow: UnitOfWork, post_id: int, *, actor: Actor) -> Post:
    """Return the post.

    Raises:
        NotFound: No such post.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return load_post(uow, post_id)


def list_posts(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    actor: Actor,
    user_id: int | None = None,
    constellation_id: int | None = None,
) -> Slice[Post]:
    """Return a page of posts, newest first; only a user's, or about a constellation, when given.

    Raises:
        NotFound: ``user_id`` or ``constellation_id`` names nothing.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return post_page(uow, page, user_id, constellation_id)


def feed(uow: UnitOfWork, page: PageRequest, *, actor: Actor) -> Slice[Post]:
    """Return a page of the social feed: every post, newest first."""
    require(actor, Scope.READ)
    return list_posts(uow, page, actor=actor)


def delete_post(uow: UnitOfWork, post_id: int, *, actor: Actor) -> Post:
    """Remove a post: the author's own, or any for an administrator.

    Raises:
        Forbidden: The token lacks ``social``, or the post is someone else's.
        NotFound: No such post.
    """
    require(actor, Scope.SOCIAL)
    with uow:
        post = load_post(uow, post_id)
        change(actor, post.user_id, "posts")
        uow.posts.delete(post.id)
        uow.commit()
    return post
