"""What every package ships: the license, and a changelog in Keep a Changelog's form."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted((ROOT / "packages").iterdir())
KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_each_package_ships_the_license_of_the_repository(package):
    assert (package / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_each_changelog_keeps_a_changelog(package):
    text = (package / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    assert "[Keep a Changelog](https://keepachangelog.com/en/1.1.0/)" in text
    releases = re.findall(r"(?m)^## (.*)$", text)
    assert releases[0] == "[Unreleased]", releases
    for release in releases[1:]:
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\]( - (\d{4}-\d{2}-\d{2}|not released yet))?", release), release
    for block in re.split(r"(?m)^## ", text)[1:]:
        kinds = re.findall(r"(?m)^### (.*)$", block)
        assert set(kinds) <= KINDS, kinds
        assert len(kinds) == len(set(kinds)), f"a section twice in {block.splitlines()[0]}: {kinds}"
