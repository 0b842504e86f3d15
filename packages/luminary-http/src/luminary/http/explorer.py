"""The API explorers: Swagger UI on each OpenAPI document, served from installed packages, offline.

Swagger UI's distribution comes from the ``openapi-ui-bundles`` package (static
files only, no dependencies); the page and its start-up script are this
package's own (``assets/explorer.js``): the page's Content-Security-Policy
allows scripts from this server only, so nothing is inline and nothing is
fetched from another host. "Try it out" calls the server the page came from,
with the bearer token given to "Authorize".

The files are served under :data:`STATIC_PREFIX` and a tag, a digest of their
contents: a URL always names the same bytes, so browsers may keep them for a
year, and an upgrade changes the tag.
"""

from __future__ import annotations

import functools
import hashlib
import html
from importlib import resources

import attrs
import falcon
from openapi_ui_bundles import swagger_ui

STATIC_PREFIX = "/api/docs/static/"
STATIC_ROUTE = STATIC_PREFIX + "{tag}/{name}"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
#: The files of Swagger UI's distribution the page uses.
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
#: This package's own.
OWN_FILES = ("explorer.js", "explorer.css")
IMMUTABLE = "public, max-age=31536000, immutable"


@attrs.frozen
class Bundle:
    """The explorer's static files, by name, and the tag of their URLs."""

    files: dict[str, bytes]
    tag: str

    def url(self, name: str) -> str:
        return f"{STATIC_PREFIX}{self.tag}/{name}"


@functools.cache
def bundle() -> Bundle:
    """Read the files once per process, when the first app is built (never at import)."""
    files = {name: (swagger_ui.static_path / name).read_bytes() for name in SWAGGER_UI_FILES}
    assets = resources.files("luminary.http") / "assets"
    files |= {name: (assets / name).read_bytes() for name in OWN_FILES}
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return Bundle(files, digest.hexdigest()[:16])


PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" type="image/png" href="{favicon}" sizes="32x32">
  <link rel="stylesheet" href="{css}">
  <link rel="stylesheet" href="{own_css}">
</head>
<body>
  <div id="swagger-ui" data-url="{document}"><p>Loading the API description of {title}…</p></div>
  <script src="{js}"></script>
  <script src="{own_js}"></script>
</body>
</html>
"""


class ExplorerPage:
    """``GET /api/v…/docs``: Swagger UI on one OpenAPI document."""

    def __init__(self, title: str, document_path: str) -> None:
        files = bundle()
        self.page = PAGE.format(
            title=html.escape(title),
            document=html.escape(document_path),
            favicon=files.url("favicon-32x32.png"),
            css=files.url("swagger-ui.css"),
            own_css=files.url("explorer.css"),
            js=files.url("swagger-ui-bundle.js"),
            own_js=files.url("explorer.js"),
        ).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.data = self.page


class StaticFiles:
    """``GET /api/docs/static/{tag}/{name}``: the explorer's files, kept by browsers for a year."""

    def __init__(self) -> None:
        self.bundle = bundle()

    def on_get(self, req: falcon.Request, resp: falcon.Response, tag: str, name: str) -> None:
        data = self.bundle.files.get(name)
        if data is None or tag != self.bundle.tag:
            raise falcon.HTTPNotFound()
        resp.content_type = CONTENT_TYPES[name[name.rindex(".") :]]
        resp.cache_control = [IMMUTABLE]
        resp.data = data
