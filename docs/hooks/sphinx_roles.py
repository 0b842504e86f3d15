"""A Griffe extension for the API reference: the docstrings' Sphinx markup, read as Markdown.

Luminary's docstrings cross-reference with Sphinx roles (``:class:`~luminary.core.Actor```)
and open literal blocks with ``::``. mkdocstrings reads docstrings as Markdown, where
both would show as typed. This extension rewrites them as the docstrings are loaded:

* a role becomes inline code of its target, shortened as Sphinx shortens it
  (``~a.b.C`` shows ``C``);
* ``::`` closing a line becomes ``:``, and the indented block after it is already
  a code block in Markdown.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj|const|ref):`(?P<target>[^`]+)`")
LITERAL = re.compile(r"(?m)(?<=\S)::$")
BARE_LITERAL = re.compile(r"(?m)^(\s*)::$")


def _shown(match: re.Match[str]) -> str:
    target = match["target"]
    if "<" in target and target.endswith(">"):  # :ref:`text <label>`
        return f"`{target.split('<', 1)[0].strip()}`"
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def as_markdown(text: str) -> str:
    """``text`` with its roles as inline code and its ``::`` as ``:``."""
    text = ROLE.sub(_shown, text)
    text = BARE_LITERAL.sub(r"\1", text)
    return LITERAL.sub(":", text)


class SphinxRoles(griffe.Extension):
    """Rewrite each docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = as_markdown(obj.docstring.value)
