"""The storage contract kit, run over the dict-of-lists store of the guide."""

import pytest
from dict_store import DictStore

from luminary.core.testing import ConcurrencyContract, StorageContract


class TestDictStore(StorageContract, ConcurrencyContract):
    """Every contract test, on a fresh, empty store each time."""

    @pytest.fixture
    def uow_factory(self):
        # A zero-argument callable that makes units of work over one store.
        return DictStore().unit_of_work
