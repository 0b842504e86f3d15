"""``luminary.core.__all__`` is the public API: nothing in it changes or goes without a changelog entry.

``packages/luminary-core/api/<version>.txt`` records the public API of a
release, one line per public name or member (``tests/public_api.py`` writes
it). Against the newest record, every public name whose lines are gone or
changed must be named, in backquotes, in the changelog's *Unreleased* section
under *Changed*, *Deprecated* or *Removed* (docs/versioning.md). Added names
need nothing here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from public_api import public_api

CORE = Path(__file__).resolve().parent.parent / "packages" / "luminary-core"


def by_name(lines: list[str]) -> dict[str, list[str]]:
    """The lines of each public name (``Actor.student(…)`` belongs to ``Actor``)."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        kit = "testing." if line.startswith("testing.") else ""  # the kit's names: testing.<name>
        grouped[kit + re.split(r"[.:(]", line.removeprefix(kit), maxsplit=1)[0]].append(line)
    return grouped


def announced(changelog: str) -> str:
    """The text of the *Changed*, *Deprecated* and *Removed* sections of *Unreleased*."""
    unreleased = changelog.split("\n## [Unreleased]\n", 1)[1].split("\n## ", 1)[0]
    sections = re.split(r"(?m)^### ", unreleased)[1:]
    kinds = {"Changed", "Deprecated", "Removed"}
    return "\n".join(s for s in sections if s.split("\n", 1)[0].strip() in kinds)


def unannounced(recorded: list[str], current: list[str], changelog: str) -> list[str]:
    """The public names changed or gone since the record, which the changelog does not name."""
    before, now, said = by_name(recorded), by_name(current), announced(changelog)
    return sorted(
        name
        for name, lines in before.items()
        if now.get(name) != lines and f"`{name}" not in said and f"`luminary.core.{name}" not in said
    )


def newest_record() -> Path:
    records = sorted(CORE.glob("api/*.txt"), key=lambda p: tuple(int(n) for n in p.stem.split(".")))
    assert records, "no record of a release's public API in packages/luminary-core/api/"
    return records[-1]


def test_every_change_to_the_public_api_since_the_last_record_is_in_the_changelog():
    recorded = newest_record().read_text().splitlines()
    missing = unannounced(recorded, public_api(), (CORE / "CHANGELOG.md").read_text())
    assert not missing, (
        f"public names changed or removed since {newest_record().name} without a changelog entry: "
        f"{missing}; name each (`name`) under Changed, Deprecated or Removed in [Unreleased] of "
        "packages/luminary-core/CHANGELOG.md"
    )


CHANGELOG = """# Changelog

## [Unreleased]

### Added

- `keep` is new.

### Changed

- `moved` takes a clock.

## [0.1.0]
"""


def test_a_changed_or_removed_name_needs_an_entry_and_an_added_one_does_not():
    recorded = ["keep(a)", "moved(a)", "Thing: class()", "Thing.go(self)", "gone(a)"]
    current = ["keep(a)", "keep2(b)", "moved(a, clock)", "Thing: class()", "Thing.go(self, fast)"]
    # `Thing` changed (a member's signature) and `gone` went: neither is named. Added names need nothing;
    # a name mentioned only under Added does not count.
    assert unannounced(recorded, current, CHANGELOG) == ["Thing", "gone"]
    assert unannounced(recorded, current, CHANGELOG.replace("`moved`", "`moved`, `Thing.go`, `gone`")) == []
    assert unannounced(recorded, recorded, CHANGELOG) == []


def test_the_kits_names_are_grouped_by_their_own_name():
    recorded = ["keep(a)", "testing.StorageContract: contract", "testing.gone: contract"]
    current = ["keep(a)", "testing.StorageContract: contract"]
    assert unannounced(recorded, current, CHANGELOG) == ["testing.gone"]
    assert unannounced(recorded, current, CHANGELOG.replace("`moved`", "`luminary.core.testing.gone`")) == []


def test_the_record_is_what_public_api_writes():
    # Every line of the record has the form public_api() writes, so comparisons are like for like.
    for line in newest_record().read_text().splitlines():
        assert re.match(r"^(testing\.)?[A-Za-z_][A-Za-z0-9_]*([.:(]|$)", line), line
