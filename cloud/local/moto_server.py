"""moto server as the local stack runs it: moto's own WSGI application, served by waitress
with HTTP/1.1 keep-alive and without a log line per request.

`python -m moto.server` serves with werkzeug's development server, which closes the
connection after every response (werkzeug >= 2.1 always sends `Connection: close`): every
AWS call then pays a TCP connection, a new server thread and the client's connection set-up,
and every request is logged. Under the telemetry load those per-request costs, together with
two lookups moto repeats on every request (below), were about half of moto's CPU per call.
The application (every service and all of its checks) is exactly moto's; only the HTTP
server, two caches, when DynamoDB's item size limit is checked and how plain DynamoDB
attribute values are parsed (below) differ.

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
from moto.core.parse import BaseJSONParser
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


# AttributeValue members whose JSON value moto's request parser returns unchanged, with the
# JSON type they then have; B and BS (base64 blobs) and anything unusual take moto's own path.
_PLAIN_MEMBERS = {"S": str, "N": str, "BOOL": bool, "NULL": bool, "SS": list, "NS": list}


def fast_attribute_values() -> None:
    """moto parses every request against the botocore model, and a DynamoDB item is a tree of
    AttributeValue structures: for each node the generic parser looks up a handler and walks
    all ten members (~25 % of moto's CPU under the telemetry load). A node with one member
    of the usual kind parses to a copy of itself, so those nodes are copied directly, their
    M and L children through the same path; any other node (blobs, several or unknown
    members, nulls, unexpected types) still goes through moto's parser, so every request
    parses to exactly what moto's parser returns."""
    generic = BaseJSONParser._parse_structure

    def parse_structure(self: BaseJSONParser, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
            ((member, raw),) = value.items()
            kind = _PLAIN_MEMBERS.get(member)
            parsed: dict[str, Any] = self.MAP_TYPE()
            if kind is list and type(raw) is list:
                parsed[member] = list(raw)
                return parsed
            if kind is not None and kind is not list and type(raw) is kind:
                parsed[member] = raw
                return parsed
            if member == "M" and type(raw) is dict:
                entries: dict[str, Any] = self.MAP_TYPE()
                for key, child in raw.items():
                    entries[key] = parse_structure(self, shape, child)
                parsed[member] = entries
                return parsed
            if member == "L" and type(raw) is list:
                parsed[member] = [parse_structure(self, shape, child) for child in raw]
                return parsed
        return generic(self, shape, value)

    BaseJSONParser._parse_structure = parse_structure  # type: ignore[method-assign]


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
    fast_attribute_values()
    app = DomainDispatcherApplication(create_backend_app)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads,
                   connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT_S,
                   ident="moto", _quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
