"""Use cases on the constellation catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from ..access import Actor, Scope, require
from ..clock import Clock
from ..commands import ConstellationPatch, CreateConstellation, changes
from ..entities import Constellation
from ..errors import Conflict
from ..pagination import PageRequest, Slice
from ..ports import UnitOfWork
from ._loading import (
    by_id,
    load_constellation,
)

__all__ = [
    "CONSTELLATION_FIELDS",
    "DEFAULT_CONSTELLATIONS",
    "create_constellation",
    "delete_constellation",
    "get_constellation",
    "list_constellations",
    "seed_constellations",
    "update_constellation",
]


#: The constellations a new Luminary starts with: (name, weight).
DEFAULT_CONSTELLATIONS: tuple[tuple[str, int], ...] = (
    ("Triangulum", 3),
    ("Delphinus", 5),
    ("Big Dipper", 7),
)


#: The constellation fields :func:`update_constellation` may change.
CONSTELLATION_FIELDS = frozenset(f.name for f in attrs.fields(ConstellationPatch))


def create_constellation(
    uow: UnitOfWork, command: CreateConstellation, *, actor: Actor, clock: Clock
) -> Constellation:
    """Create a constellation.

    Args:
        uow: The unit of work to run in.
        command: Its name and weight.
        clock: Gives ``created_at``.
    """
    require(actor, Scope.ADMIN)
    with uow:
        constellation = uow.constellations.add(
            Constellation(name=command.name, weight=command.weight, created_at=clock.now())
        )
        uow.commit()
    return constellation


def seed_constellations(
    uow: UnitOfWork,
    *,
    actor: Actor,
    clock: Clock,
    defaults: Iterable[tuple[str, int]] = DEFAULT_CONSTELLATIONS,
) -> Sequence[Constellation]:
    """Add the default constellations to a store that has none.

    Returns:
        The constellations added; empty when the store already had some.
    """
    require(actor, Scope.ADMIN)
    with uow:
        if uow.constellations.count():
            return []
        now = clock.now()
        added = [uow.constellations.add(Constellation(name=n, weight=w, created_at=now)) for n, w in defaults]
        uow.commit()
    return added


def get_constellation(uow: UnitOfWork, constellation_id: int, *, actor: Actor) -> Constellation:
    """Return the constellation.

    Raises:
        NotFound: No such constellation.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return load_constellation(uow, constellation_id, field="constellation_id")


def list_constellations(uow: UnitOfWork, page: PageRequest, *, actor: Actor) -> Slice[Constellation]:
    """Return a page of constellations, by id."""
    require(actor, Scope.READ)
    with uow.reading():
        return Slice.cut(uow.constellations.list_page(page.probe()), page, by_id)


def update_constellation(
    uow: UnitOfWork, constellation_id: int, patch: ConstellationPatch, *, actor: Actor, clock: Clock
) -> Constellation:
    """Rename a constellation or change its weight.

    Args:
        uow: The unit of work to run in.
        constellation_id: The constellation to change.
        patch: A new name, weight, or both; absent fields keep their value.
        clock: Unused today; kept so every write takes a clock.

    Raises:
        NotFound: No such constellation.
        Conflict: The weight would change while attempts refer to the
            constellation (their stars are counted against it).
    """
    require(actor, Scope.ADMIN)
    with uow:
        # Locked before attempts are looked for: an attempt being started holds
        # the row ``for_share`` (start_attempt), so it either committed before
        # this lock was granted, and is seen, or waits until this commits.
        constellation = load_constellation(uow, constellation_id, for_update=True)
        updated = attrs.evolve(constellation, **changes(patch))
        if updated.weight != constellation.weight and uow.attempts.exists_for_constellation(constellation.id):
            raise Conflict("Cannot change the weight of a constellation that has attempts!")
        if updated != constellation:
            uow.constellations.update(updated)
        uow.commit()
    return updated


def delete_constellation(uow: UnitOfWork, constellation_id: int, *, actor: Actor) -> Constellation:
    """Remove a constellation nothing refers to (rule 5).

    Raises:
        NotFound: No such constellation.
        Conflict: Attempts or posts still refer to it.
    """
    require(actor, Scope.ADMIN)
    with uow:
        constellation = load_constellation(uow, constellation_id)
        cid = constellation.id
        if uow.attempts.exists_for_constellation(cid) or uow.posts.exists_for_constellation(cid):
            raise Conflict("Cannot delete a constellation that has attempts or posts!")
        if uow.goals.exists_for_constellation(cid):
            raise Conflict("Cannot delete a constellation that students have goals about!")
        uow.constellations.delete(constellation.id)
        uow.commit()
    return constellation
