"""The ceiling of the HTTP benchmark: a bare Falcon app returning a constant small JSON.

Served by the same waitress settings as ``luminary serve``, and with
``--workers N`` by the same processes (a supervisor forking N workers, each
listening on sockets of its own on one port where the system allows), each
kept on a CPU as ``--cpu-affinity`` says (as ``luminary serve``'s), so that the
benchmark can say how close each endpoint comes to what the stack itself allows. It does less than any
endpoint of Luminary (no middleware, no access log), so an endpoint's share
of it stays below 100% but for noise.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import falcon

from luminary.http.server import serve


class Constant:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok", "value": 42}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cpu-affinity", choices=["auto", "on", "off"], default="off")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    app = falcon.App()
    app.add_sink(lambda req, resp, **kw: Constant().on_get(req, resp), "/")
    cpus: tuple[int, ...] = ()
    if args.cpu_affinity != "off":
        # Imported here, so that the ceiling of a luminary-http from before it existed can be served.
        from luminary.http.workers import CpuAffinity, confine, cpu_plan

        cpus = cpu_plan(CpuAffinity(args.cpu_affinity), args.workers)
        if args.workers == 1 and cpus:
            confine(cpus[0])
    if args.workers == 1:
        serve(app, host="127.0.0.1", port=args.port, threads=args.threads)
        return
    # Imported here, so that one worker can be served by a luminary-http from before workers existed.
    from luminary.http.server import Limits, Service, listen
    from luminary.http.workers import Supervisor

    try:  # the workers listen as `luminary serve` has them listen (on sockets of their own where they can)
        from luminary.http.server import can_listen_apart, listen_apart
    except ImportError:
        apart: list[list[Any]] = []
        sockets = listen("127.0.0.1", args.port)
    else:
        apart = listen_apart("127.0.0.1", args.port, args.workers) if can_listen_apart() else []
        sockets = [] if apart else listen("127.0.0.1", args.port)
    port = (apart[0] if apart else sockets)[0].getsockname()[1]

    def work() -> int:
        own = supervisor.own_sockets() if apart else sockets
        service = Service(
            app, host="127.0.0.1", port=port, threads=args.threads, limits=Limits(), sockets=own
        )
        with service.signals_handled():
            service.run()
        return 0

    def started() -> None:
        threads = f"{args.workers} workers of {args.threads} threads"
        print(f"Serving Luminary on http://127.0.0.1:{port} with {threads}", flush=True)

    kept: dict[str, Any] = {"cpus": cpus} if cpus else {}
    if apart:
        kept["apart"] = apart
    supervisor = Supervisor(work, args.workers, sockets=sockets, **kept)
    raise SystemExit(supervisor.run(started))


if __name__ == "__main__":
    main()
