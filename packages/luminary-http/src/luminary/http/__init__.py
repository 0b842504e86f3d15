"""Luminary's HTTP API: a Falcon app over the use cases of ``luminary.core``.

:func:`create_app` builds the WSGI app from a unit-of-work factory and a clock;
the ``luminary`` command (:mod:`luminary.http.cli`) builds one from
configuration and serves it with waitress.
"""

from .__about__ import __version__
from .app import create_app

__all__ = ["__version__", "create_app"]
