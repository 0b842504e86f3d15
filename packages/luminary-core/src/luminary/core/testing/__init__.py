"""The storage contract kit: the behavioural tests of :mod:`luminary.core`'s ports, for any store.

Luminary runs these same tests on its in-memory, SQLite and PostgreSQL stores.
A store of yours — a document database, your company's data layer — proves
that it implements the repository protocols of :mod:`luminary.core.ports`
correctly by passing them too.

Install the kit's dependencies with the ``testing`` extra::

    pip install "luminary-core[testing]"

then write one test class that inherits :class:`StorageContract` and provides
a ``uow_factory`` fixture: a callable taking no arguments that makes units of
work (:class:`~luminary.core.UnitOfWork`) over **one fresh, empty store**. The
fixture is called once per test, so each test starts from nothing::

    import pytest
    from luminary.core.testing import StorageContract

    class TestMyStore(StorageContract):
        @pytest.fixture
        def uow_factory(self):
            store = MyStore()
            return store.unit_of_work

and run ``pytest``. Every test of the contract runs against your store, and a
failure names the rule broken. The contract's parts can also be run one by one
(:class:`RepositoryContract` first is a good way to start a new store).

:class:`ConcurrencyContract` is not part of :class:`StorageContract`: inherit it
as well when your store may be used by several threads at once, each with its
own unit of work, and claims that no update is lost then.

Each contract class has the fixtures ``clock`` (a
:class:`~luminary.core.ManualClock` that moves one millisecond per reading)
and ``world`` (a :class:`~luminary.core.testing.support.World`: a user, the
default constellations and an attempt), from
:class:`~luminary.core.testing.support.ContractFixtures`.

Installing ``luminary-core`` registers a small pytest plugin
(``luminary.core._pytest_plugin``) that only asks pytest to rewrite the
kit's ``assert`` statements, so that a failure shows the values compared.
"""

from __future__ import annotations

from luminary.core.testing.account_storage import AccountStorageContract
from luminary.core.testing.accounts import AccountContract
from luminary.core.testing.concurrency import ConcurrencyContract
from luminary.core.testing.goal_storage import GoalStorageContract
from luminary.core.testing.repositories import RepositoryContract
from luminary.core.testing.study import StudyContract
from luminary.core.testing.study_storage import StudyStorageContract
from luminary.core.testing.support import ContractFixtures, UowFactory
from luminary.core.testing.transactions import TransactionContract
from luminary.core.testing.usecases import UseCaseContract
from luminary.core.testing.validation import ValidationContract
from luminary.core.testing.views import ViewsContract

__all__ = [
    "AccountContract",
    "AccountStorageContract",
    "ConcurrencyContract",
    "ContractFixtures",
    "GoalStorageContract",
    "RepositoryContract",
    "StorageContract",
    "StudyContract",
    "StudyStorageContract",
    "TransactionContract",
    "UowFactory",
    "UseCaseContract",
    "ValidationContract",
    "ViewsContract",
]


class StorageContract(
    RepositoryContract,
    AccountStorageContract,
    GoalStorageContract,
    StudyStorageContract,
    ViewsContract,
    UseCaseContract,
    TransactionContract,
    ValidationContract,
    AccountContract,
    StudyContract,
):
    """The whole contract but concurrency: every part above, in one class.

    Inherit it and provide the ``uow_factory`` fixture (see the module's
    documentation). Test names are distinct across the parts, so none hides
    another.
    """
