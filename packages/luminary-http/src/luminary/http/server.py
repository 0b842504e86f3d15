"""Serving the app with waitress, its limits set explicitly, and stopping cleanly on a signal."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

import waitress.server

from .requests import MAX_BODY

log = logging.getLogger("luminary.server")

#: Waitress settings; every limit is chosen, none left to a default.
SETTINGS: dict[str, Any] = {
    "connection_limit": 1000,
    "channel_timeout": 60,
    "cleanup_interval": 30,
    "backlog": 2048,
    # Falcon answers 413 with a JSON body below this; waitress cuts off anything larger.
    "max_request_body_size": MAX_BODY * 4,
    "max_request_header_size": 64 * 1024,
    "asyncore_use_poll": True,
    "ident": "luminary",
    "clear_untrusted_proxy_headers": True,
}


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    # waitress's run loop answers KeyboardInterrupt by letting its worker
    # threads finish their requests (up to 5 s) before it returns.
    log.info("received %s, shutting down", signal.Signals(signum).name)
    raise KeyboardInterrupt


def serve(app: Any, *, host: str, port: int, threads: int) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then close the listening socket and return."""
    server = waitress.server.create_server(app, host=host, port=port, threads=threads, **SETTINGS)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    effective_port = getattr(server, "effective_port", port)
    print(f"Serving Luminary on http://{host}:{effective_port} with {threads} threads", flush=True)
    try:
        server.run()
    finally:
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
