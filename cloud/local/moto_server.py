"""moto server as the local stack runs it: moto's own WSGI app and request handler, served
with HTTP/1.1 keep-alive and without a log line per successful request.

`python -m moto.server` serves HTTP/1.0, so every AWS call opens a new TCP connection and
the server starts a new thread for it, and it logs every request. Under the telemetry load
those per-request costs are a large share of moto's CPU. The application (every service and
all of its checks) is exactly moto's; only the HTTP layer's settings differ. Requests that
fail (status >= 400) are still logged.

Usage: python -m cloud.local.moto_server [-H HOST] -p PORT
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler, speaking HTTP/1.1 (persistent connections)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = getattr(code, "value", code)
        if isinstance(status, int) and status < 400:
            return
        super().log_request(code, size)


def _exit(_signum: int, _frame: Any) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud.local.moto_server",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-p", "--port", type=int, required=True, help="port to listen on")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server does
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=True,
               request_handler=KeepAliveRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
