"""v2 posts and the feed: ``/api/v2/posts`` and ``/api/v2/feed``."""

from __future__ import annotations

from luminary import core
from luminary.core import Scope, Slice

from .operations import Context, Resource, operation


class Posts(Resource):
    path = "/api/v2/posts"

    @operation(
        "GET /api/v2/posts",
        operation_id="listPosts",
        summary="List posts, newest first",
        tag="posts",
        scope=Scope.READ,
        data="Post",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Post]:
        return core.list_posts(ctx.uow(), ctx.page(), actor=ctx.actor)

    @operation(
        "POST /api/v2/posts",
        operation_id="createPost",
        summary="Share progress in the feed",
        tag="posts",
        scope=Scope.SOCIAL,
        data="Post",
        command=core.CreatePost,
        status=201,
        location="/api/v2/posts/{id}",
        example={
            "user_id": 1,
            "constellation_id": 1,
            "post_type": "progress",
            "message": "Two stars!",
            "study_duration": 25,
        },
    )
    def on_post(self, ctx: Context) -> core.Post:
        return core.create_post(ctx.uow(), ctx.command, clock=ctx.clock, actor=ctx.actor)


class Post(Resource):
    path = "/api/v2/posts/{post_id}"

    @operation(
        "GET /api/v2/posts/{post_id}",
        operation_id="getPost",
        summary="Get a post",
        tag="posts",
        scope=Scope.READ,
        data="Post",
    )
    def on_get(self, ctx: Context) -> core.Post:
        return core.get_post(ctx.uow(), ctx.params["post_id"], actor=ctx.actor)

    @operation(
        "DELETE /api/v2/posts/{post_id}",
        operation_id="deletePost",
        summary="Delete a post",
        tag="posts",
        scope=Scope.SOCIAL,
        status=204,
    )
    def on_delete(self, ctx: Context) -> None:
        core.delete_post(ctx.uow(), ctx.params["post_id"], actor=ctx.actor)


class Feed(Resource):
    path = "/api/v2/feed"

    @operation(
        "GET /api/v2/feed",
        operation_id="getFeed",
        summary="The social feed, newest first",
        tag="posts",
        scope=Scope.READ,
        data="Post",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Post]:
        return core.feed(ctx.uow(), ctx.page(), actor=ctx.actor)


RESOURCES: list[type[Resource]] = [Posts, Post, Feed]
