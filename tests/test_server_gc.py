"""The server keeps what start-up made out of the garbage collector's rounds."""

from __future__ import annotations

import gc
import http.client
import signal
import threading

import pytest

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary.http.server import Limits, Service, freeze_startup_objects


def test_freezing_moves_every_tracked_object_out_of_the_collectors_sight():
    try:
        built = [object() for _ in range(10)] + [[] for _ in range(1000)]
        freeze_startup_objects()
        assert gc.get_freeze_count() >= len(built)
        assert not any(obj is built for obj in gc.get_objects())  # frozen, so not tracked any more
    finally:
        gc.unfreeze()


def test_a_service_freezes_start_up_before_it_answers():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(gc.get_freeze_count()).encode()]

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    service = Service(app, host="127.0.0.1", port=0, threads=1, limits=Limits())
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
        connection.request("GET", "/")
        frozen = int(connection.getresponse().read())
        connection.close()
    finally:
        service.request_stop(signal.SIGTERM)
        runner.join(10)
        gc.unfreeze()
    assert frozen > 1000
