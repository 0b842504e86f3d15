"""Use cases on posts and the feed."""

from __future__ import annotations

from ..clock import Clock
from ..entities import Post, PostType
from ..pagination import PageRequest, Slice
from ..ports import UnitOfWork
from ..validation import (
    MESSAGE_MAX,
    STUDY_DURATION_MAX,
    Fields,
    choice,
    integer,
    text,
)
from ._loading import (
    load_constellation,
    load_post,
    load_user,
    lookup_id,
    post_page,
)

__all__ = [
    "create_post",
    "delete_post",
    "feed",
    "get_post",
    "list_posts",
]


def create_post(
    uow: UnitOfWork,
    *,
    clock: Clock,
    user_id: int,
    constellation_id: int,
    post_type: PostType | str,
    message: str | None = None,
    study_duration: int | None = None,
) -> Post:
    """Share progress on a constellation in the feed.

    Raises:
        ValidationFailed: A field is malformed.
        NotFound: No such user or constellation.
    """
    fields = Fields()
    with fields:
        uid = lookup_id(user_id, "user_id")
    with fields:
        cid = lookup_id(constellation_id, "constellation_id")
    with fields:
        kind = choice(post_type, "post_type", PostType)
    with fields:
        checked_message = (
            None if message is None else text(message, "message", maximum=MESSAGE_MAX, minimum=0, strip=False)
        )
    with fields:
        duration = (
            None
            if study_duration is None
            else integer(study_duration, "study_duration", minimum=0, maximum=STUDY_DURATION_MAX)
        )
    fields.check()
    with uow:
        load_user(uow, uid)
        load_constellation(uow, cid)
        post = uow.posts.add(
            Post(
                user_id=uid,
                constellation_id=cid,
                post_type=kind,
                message=checked_message,
                study_duration=duration,
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
