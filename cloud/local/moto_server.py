"""moto server as the local stack runs it: moto's own WSGI application, served by waitress
with HTTP/1.1 keep-alive and without a log line per request.

`python -m moto.server` serves with werkzeug's development server, which closes the
connection after every response (werkzeug >= 2.1 always sends `Connection: close`): every
AWS call then pays a TCP connection, a new server thread and the client's connection set-up,
and every request is logged. Under the telemetry load those per-request costs, together with
two lookups moto repeats on every request (below), were about half of moto's CPU per call.
The application (every service and all of its checks) is exactly moto's; only the HTTP
server, two caches and when DynamoDB's item size limit is checked (below) differ.

One difference from `moto.server`, not used by this platform: waitress drops request
headers with an underscore in the name, so S3 user metadata keys with underscores are lost.

Usage: python -m cloud.local.moto_server [-H HOST] -p PORT [--threads N]
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
from typing import Any

import waitress
from moto import backends
from moto.core import responses as moto_responses
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

# Callers of the local stack: the emulator's write lanes and shadow HTTP API, tests and CLIs
# with their own clients. Keep-alive connections stay open while idle, so the limit is well
# above what they hold together; idle connections are closed after CHANNEL_TIMEOUT_S.
DEFAULT_THREADS = 8
CONNECTION_LIMIT = 1000
CHANNEL_TIMEOUT_S = 60
# LimitedSizeDict's limit in moto: between the documented 400 KB and the ~409 KB measured.
MOTO_ITEM_SIZE_LIMIT = 405000


def cache_per_request_lookups() -> None:
    """moto lists its own package directory (one stat per service, ~50 per request) to route
    every request, and inspects the handler class's members on every call. Both depend only on
    the installed moto, so compute each once."""
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    moto_responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        moto_responses.method_names_from_class)


def check_item_size_once() -> None:
    """moto builds a stored DynamoDB item one attribute at a time and re-adds the sizes of all
    attributes so far at each step, which is quadratic in the attributes (~10 % of moto's CPU
    under the telemetry load). The last step's sum is the whole item's size, so checking that
    once, against moto's own limit, accepts and refuses exactly the same items."""

    def build_item(self: Item, hash_key: DynamoType, range_key: DynamoType | None,
                   attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, ((key, DynamoType(value)) for key, value in attrs.items()))
        if self.size() > MOTO_ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge

    Item.__init__ = build_item  # type: ignore[method-assign]


def _exit(_signum: int, _frame: Any) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud.local.moto_server",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-p", "--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"request threads (default {DEFAULT_THREADS})")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server does
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    # waitress logs a failed request's traceback on the "waitress" logger; keep those.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    cache_per_request_lookups()
    check_item_size_once()
    app = DomainDispatcherApplication(create_backend_app)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads,
                   connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT_S,
                   ident="moto", _quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
