"""The documentation site's code runs as written.

Every ```python block of the getting-started pages and the guides runs, in
order, in one namespace per page; a block that raises fails its page. Blocks
may include files with ``--8<-- "path"`` or ``--8<-- "path:section"`` (the
pymdownx.snippets syntax the site is built with), so the guide's example store
runs here exactly as the page shows it. Shell blocks are not run.

The example store is then run through the storage contract kit, in a pytest of
its own, as a reader of the guide would run it.
"""

from __future__ import annotations
import __future__

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
PAGES = sorted((DOCS / "getting-started").glob("*.md")) + sorted((DOCS / "guides").glob("*.md"))

FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
SNIPPET = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"[ \t]*$', re.MULTILINE)
SECTION_MARK = re.compile(r"--8<-- \[(?P<edge>start|end):(?P<name>[\w-]+)\]")


def included(match: re.Match[str]) -> str:
    """The text a snippet line stands for: a whole file, or one of its named sections."""
    lines = (ROOT / match["path"]).read_text().splitlines()
    if match["section"] is None:
        return "\n".join(line for line in lines if not SECTION_MARK.search(line))
    kept: list[str] = []
    inside = False
    for line in lines:
        mark = SECTION_MARK.search(line)
        if mark and mark["name"] == match["section"]:
            inside = mark["edge"] == "start"
        elif inside and not mark:
            kept.append(line)
    assert kept, f"{match['path']} has no section {match['section']!r}"
    return "\n".join(kept)


def python_blocks(page: Path) -> list[str]:
    """The page's Python blocks, in order, with their snippets included."""
    return [SNIPPET.sub(included, block) for block in FENCE.findall(page.read_text())]


def test_the_pages_are_found_and_have_python_to_run():
    names = {page.relative_to(DOCS).as_posix() for page in PAGES}
    assert {"getting-started/library.md", "getting-started/testing.md", "guides/storage.md"} <= names
    for page in PAGES:
        if page.name != "api.md":
            assert python_blocks(page), f"{page} has no Python block"


def test_a_block_that_raises_fails(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```sh\nfalse\n```\n\n```python\nassert x == 2\n```\n")
    with pytest.raises(AssertionError):
        run_page(page)


def run_page(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for number, block in enumerate(python_blocks(page), 1):
        # The examples write annotations as in a module with `from __future__ import annotations`.
        code = compile(
            block, f"{page.name}, block {number}", "exec", __future__.annotations.compiler_flag, True
        )
        exec(code, namespace)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(DOCS).as_posix())
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # `import dict_store`, as the guide's test does
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    run_page(page)


def test_the_example_store_passes_the_contract_kit():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "docs/examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    summary = report.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed, report
    assert int(passed[1]) > 100, summary  # the kit's tests, not only the page's few
    assert not re.search(r"failed|error|skipped", summary), summary


def test_the_configuration_page_names_every_option_of_serve():
    from luminary.http.cli import build_parser

    serve = next(
        parser
        for action in build_parser()._subparsers._group_actions  # argparse keeps subcommands here
        for name, parser in action.choices.items()
        if name == "serve"
    )
    page = (DOCS / "reference" / "configuration.md").read_text()
    options = [o for action in serve._actions for o in action.option_strings if o.startswith("--")]
    missing = [o for o in options if o != "--help" and f"`{o}" not in page]
    assert not missing, f"docs/reference/configuration.md does not name {missing}"
