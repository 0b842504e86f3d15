"""Use cases on posts and the feed."""

from __future__ import annotations

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


def create_post(uow: UnitOfWork, command: CreatePost, *, clock: Clock) -> Post:
    """Share progress on a constellation in the feed.

    Raises:
        NotFound: No such user or constellation.
    """
    with uow:
        load_user(uow, command.user_id)
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


def get_post(uow: UnitOfWork, post_id: int) -> Post:
    """Return the post.

    Raises:
        NotFound: No such post.
    """
    with uow.reading():
        return load_post(uow, post_id)


def list_posts(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    user_id: int | None = None,
    constellation_id: int | None = None,
) -> Slice[Post]:
    """Return a page of posts, newest first; only a user's, or about a constellation, when given.

    Raises:
        NotFound: ``user_id`` or ``constellation_id`` names nothing.
    """
    with uow.reading():
        return post_page(uow, page, user_id, constellation_id)


def feed(uow: UnitOfWork, page: PageRequest) -> Slice[Post]:
    """Return a page of the social feed: every post, newest first."""
    return list_posts(uow, page)


def delete_post(uow: UnitOfWork, post_id: int) -> Post:
    """Remove a post.

    Raises:
        NotFound: No such post.
    """
    with uow:
        post = load_post(uow, post_id)
        uow.posts.delete(post.id)
        uow.commit()
    return post
