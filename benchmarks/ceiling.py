"""The ceiling of the HTTP benchmark: a bare Falcon app returning a constant small JSON.

Served by the same waitress settings as ``luminary serve``, so that the
benchmark can say how close each endpoint comes to what the stack itself allows.
"""

from __future__ import annotations

import argparse
import logging

import falcon

from luminary.http.server import serve


class Constant:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok", "value": 42}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    app = falcon.App()
    app.add_sink(lambda req, resp, **kw: Constant().on_get(req, resp), "/")
    serve(app, host="127.0.0.1", port=args.port, threads=args.threads)


if __name__ == "__main__":
    main()
