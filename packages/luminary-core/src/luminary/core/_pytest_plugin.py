"""The pytest plugin ``luminary-core`` registers: the storage contract kit's asserts are rewritten.

pytest shows the values an ``assert`` compared only in modules it rewrote as it
imported them; test files are, installed libraries are not. pytest loads this
module through the ``pytest11`` entry point of ``luminary-core`` before any test
is collected, so the kit (:mod:`luminary.core.testing`), imported later by the
tests that use it, is rewritten too. The module sits outside the kit so that
loading it imports nothing of the kit. It also declares the ``slow`` mark that
the kit's longest tests carry (deselect them with ``-m "not slow"``). It defines
no fixture and changes nothing else; ``-p no:luminary-core`` turns it off.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("luminary.core.testing")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the kit's mark, so that ``--strict-markers`` accepts it."""
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
