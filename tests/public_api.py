"""``luminary.core``'s public API as text: one line per public name, or per member of a public class.

The storage contract kit's names (``luminary.core.testing.__all__``) follow, as
``testing.<name>``; a contract class is one line, not one per test it holds.

    python tests/public_api.py > packages/luminary-core/api/<version>.txt

writes the record of a release (see docs/versioning.md); ``tests/test_public_api.py``
compares the API of the code with the record of the last release.
"""

from __future__ import annotations

import enum
import inspect
import re
from typing import Any

import luminary.core
import luminary.core.testing
from luminary.core.testing.support import ContractFixtures


def describe(name: str, value: Any) -> list[str]:
    """The lines that pin ``value``, public as ``name``: kinds, signatures, members."""
    if inspect.isclass(value):
        if issubclass(value, enum.Enum):
            return [f"{name}: enum"] + [f"{name}.{m.name} = {m.value!r}" for m in value]
        lines = [f"{name}: class{_signature(value)}"]
        for member, attribute in sorted(vars(value).items()):
            if member.startswith("_"):
                continue
            if isinstance(attribute, (staticmethod, classmethod)):
                attribute = attribute.__func__
            if isinstance(attribute, property):
                lines.append(f"{name}.{member}: property")
            elif inspect.isfunction(attribute):
                lines.append(f"{name}.{member}{_signature(attribute)}")
        return lines
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return [f"{name}{_signature(value)}"]
    return [f"{name}: {type(value).__name__}"]


def _signature(value: Any) -> str:
    try:
        text = str(inspect.signature(value))
    except (TypeError, ValueError):
        return "(…)"

    # A set's order changes from run to run (string hashes are salted): sorted, it does not.
    def in_order(found: re.Match[str]) -> str:
        return "frozenset({" + ", ".join(sorted(found[1].split(", "))) + "})"

    return re.sub(r"frozenset\(\{(.*?)\}\)", in_order, text)


def describe_kit(name: str, value: Any) -> list[str]:
    """The lines of a name of the kit: a contract class by its name alone (its tests may grow)."""
    if inspect.isclass(value) and issubclass(value, ContractFixtures) and value is not ContractFixtures:
        return [f"testing.{name}: contract"]
    return [f"testing.{line}" for line in describe(name, value)]


def public_api() -> list[str]:
    core, kit = luminary.core, luminary.core.testing
    return [line for name in sorted(core.__all__) for line in describe(name, getattr(core, name))] + [
        line for name in sorted(kit.__all__) for line in describe_kit(name, getattr(kit, name))
    ]


if __name__ == "__main__":
    print("\n".join(public_api()))
