"""v2 constellations: ``/api/v2/constellations``, the catalogue of study topics."""

from __future__ import annotations

from luminary import core
from luminary.core import Scope, Slice

from .operations import Context, Resource, operation


class Constellations(Resource):
    path = "/api/v2/constellations"

    @operation(
        "GET /api/v2/constellations",
        operation_id="listConstellations",
        summary="List constellations by id",
        tag="constellations",
        scope=Scope.READ,
        data="Constellation",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Constellation]:
        return core.list_constellations(ctx.uow(), ctx.page(), actor=ctx.actor)

    @operation(
        "POST /api/v2/constellations",
        operation_id="createConstellation",
        summary="Create a constellation",
        tag="constellations",
        scope=Scope.ADMIN,
        data="Constellation",
        command=core.CreateConstellation,
        status=201,
        location="/api/v2/constellations/{id}",
        example={"name": "Orion", "weight": 7},
    )
    def on_post(self, ctx: Context) -> core.Constellation:
        return core.create_constellation(ctx.uow(), ctx.command, clock=ctx.clock, actor=ctx.actor)


class Constellation(Resource):
    path = "/api/v2/constellations/{constellation_id}"

    @operation(
        "GET /api/v2/constellations/{constellation_id}",
        operation_id="getConstellation",
        summary="Get a constellation",
        tag="constellations",
        scope=Scope.READ,
        data="Constellation",
    )
    def on_get(self, ctx: Context) -> core.Constellation:
        return core.get_constellation(ctx.uow(), ctx.params["constellation_id"], actor=ctx.actor)

    @operation(
        "PATCH /api/v2/constellations/{constellation_id}",
        operation_id="updateConstellation",
        summary="Rename or reweigh a constellation",
        tag="constellations",
        scope=Scope.ADMIN,
        data="Constellation",
        command=core.ConstellationPatch,
        example={"name": "Ursa Major"},
    )
    def on_patch(self, ctx: Context) -> core.Constellation:
        return core.update_constellation(
            ctx.uow(), ctx.params["constellation_id"], ctx.command, clock=ctx.clock, actor=ctx.actor
        )

    @operation(
        "DELETE /api/v2/constellations/{constellation_id}",
        operation_id="deleteConstellation",
        summary="Delete a constellation nothing refers to",
        tag="constellations",
        scope=Scope.ADMIN,
        status=204,
    )
    def on_delete(self, ctx: Context) -> None:
        core.delete_constellation(ctx.uow(), ctx.params["constellation_id"], actor=ctx.actor)


class ConstellationPosts(Resource):
    path = "/api/v2/constellations/{constellation_id}/posts"

    @operation(
        "GET /api/v2/constellations/{constellation_id}/posts",
        operation_id="listConstellationPosts",
        summary="Posts about a constellation, newest first",
        tag="constellations",
        scope=Scope.READ,
        data="Post",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Post]:
        return core.list_posts(
            ctx.uow(), ctx.page(), constellation_id=ctx.params["constellation_id"], actor=ctx.actor
        )


RESOURCES: list[type[Resource]] = [Constellations, Constellation, ConstellationPosts]
