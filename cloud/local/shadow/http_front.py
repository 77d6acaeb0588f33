"""The iot-data REST API (what boto3's `iot-data` client calls), on loopback.

| operation                | request                                                  |
|--------------------------|----------------------------------------------------------|
- UpdateThingShadow: POST /things/{thing}/shadow[?name=N], body = request state document
- GetThingShadow: GET /things/{thing}/shadow[?name=N]
- DeleteThingShadow: DELETE /things/{thing}/shadow[?name=N]
- ListNamedShadowsForThing: GET /api/things/shadow/ListNamedShadowsForThing/{thing}
  [?pageSize=&nextToken=]

Errors carry AWS's status code, `x-amzn-ErrorType` (which boto3 turns into the modeled
exception, e.g. ConflictException) and the shadow error document as body. Requests are
not authenticated: the server listens on loopback only.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cloud.local.shadow import errors
from cloud.local.shadow.document import MAX_REQUEST_BYTES, UpdateOutcome
from cloud.local.shadow.errors import ShadowError
from cloud.local.shadow.service import ShadowService

log = logging.getLogger(__name__)

SHADOW_PATH = re.compile(r"^/things/([^/]+)/shadow/?$")
LIST_PATH = re.compile(r"^/api/things/shadow/ListNamedShadowsForThing/([^/]+)/?$")

UpdatePublisher = Callable[[str, "str | None", UpdateOutcome], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], front: HttpFront) -> None:
        self.front = front
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client closing its keep-alive connection is routine, not an error worth a trace.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.debug("shadow http: client %s went away: %s", client_address, error)
        else:
            log.exception("shadow http: error serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle the body would wait ~40 ms for
    # the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("shadow http: " + format, *args)

    def _dispatch(self, method: str) -> None:
        front = self.server.front
        try:
            # Always consume the body first so a rejected request leaves the connection usable.
            body = self._read_body()
            status, doc = front.route(method, self.path, body)
        except ShadowError as exc:
            self._send(exc.code, exc.payload(front.service.now()), exc.exception_name)
        except Exception:
            log.exception("shadow http: internal failure on %s %s", method, self.path)
            failure = ShadowError(500, errors.INTERNAL_FAILURE)
            self._send(500, failure.payload(front.service.now()), failure.exception_name)
        else:
            self._send(status, doc)

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length", "0")
        try:
            length = int(length_header)
        except ValueError:
            raise ShadowError(400, "Invalid Content-Length",
                              detail=repr(length_header)) from None
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True  # the unread body makes the connection unusable
            raise ShadowError(413, errors.PAYLOAD_TOO_LARGE,
                              detail=f"request is {length} bytes; limit {MAX_REQUEST_BYTES}")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, doc: dict[str, Any], error_type: str | None = None) -> None:
        body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(body)


class HttpFront:
    """ThreadingHTTPServer serving the iot-data shadow operations over `service`."""

    def __init__(self, service: ShadowService, publish_update: UpdatePublisher | None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self._publish_update = publish_update
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="shadow-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def route(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Run one request; returns (status, response document) or raises ShadowError."""
        url = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        match = SHADOW_PATH.match(url.path)
        if match:
            thing = unquote(match.group(1))
            name = query.get("name") or None
            if method == "POST":
                outcome = self.service.update(thing, name, body)
                if self._publish_update is not None:
                    self._publish_update(thing, name, outcome)
                return 200, outcome.accepted
            if method == "GET":
                return 200, self.service.get(thing, name)
            if method == "DELETE":
                return 200, self.service.delete(thing, name)
            raise ShadowError(405, "Method not allowed", detail=f"{method} {url.path}")
        match = LIST_PATH.match(url.path)
        if match:
            if method != "GET":
                raise ShadowError(405, "Method not allowed", detail=f"{method} {url.path}")
            return 200, self.service.list_named(unquote(match.group(1)),
                                                _page_size(query.get("pageSize")),
                                                query.get("nextToken") or None)
        raise ShadowError(404, "Not found", detail=f"no iot-data operation at {url.path}")


def _page_size(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ShadowError(400, "Invalid pageSize", detail=f"{raw!r} is not an integer") from None
