"""The shadow service: document rules + store + per-shadow serialization.

Both fronts (MQTT and HTTP) call this class; it returns response documents or raises
ShadowError. Requests for the same shadow run one at a time; different shadows run in
parallel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cloud.local.shadow import document, errors
from cloud.local.shadow.document import UpdateOutcome
from cloud.local.shadow.errors import ShadowError
from cloud.local.shadow.store import CLASSIC, ShadowStore
from protocol.topics import THING_NAME_PATTERN

# AWS continues a deleted shadow's version when it is re-created within this window.
DELETED_VERSION_RETENTION_S = 48 * 3600
MAX_PAGE_SIZE = 100


def display_name(thing: str, shadow_name: str | None) -> str:
    """How AWS names a shadow in messages: `thing` or `thing~shadowName`."""
    return thing if not shadow_name else f"{thing}~{shadow_name}"


def check_names(thing: str, shadow_name: str | None) -> None:
    """400 unless the thing (and shadow) name follow the topic contract."""
    if not THING_NAME_PATTERN.match(thing):
        raise ShadowError(400, "Invalid thing name",
                          detail=f"{thing!r} must match {THING_NAME_PATTERN.pattern}")
    if shadow_name is not None and not THING_NAME_PATTERN.match(shadow_name):
        raise ShadowError(400, "Invalid shadow name",
                          detail=f"{shadow_name!r} must match {THING_NAME_PATTERN.pattern}")


class ShadowService:
    """Update/get/delete/list over a ShadowStore; `clock` returns epoch seconds."""

    def __init__(self, store: ShadowStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def now(self) -> int:
        return int(self._clock())

    @contextmanager
    def _locked(self, thing: str, name: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault((thing, name), threading.Lock())
        with lock:
            yield

    def update(self, thing: str, shadow_name: str | None, payload: bytes) -> UpdateOutcome:
        check_names(thing, shadow_name)
        request = document.parse_update(payload)
        name = shadow_name or CLASSIC
        with self._locked(thing, name):
            now = self.now()
            stored = self.store.load(thing, name)
            current = stored.record if stored else None
            retained = 0
            if stored and stored.deleted_at is not None \
                    and now - stored.deleted_at < DELETED_VERSION_RETENTION_S:
                retained = stored.version
            outcome = document.apply_update(current, request, now, retained)
            self.store.save(thing, name, outcome.record, now)
        return outcome

    def get(self, thing: str, shadow_name: str | None, payload: bytes = b"") -> dict[str, Any]:
        check_names(thing, shadow_name)
        token = document.parse_token_only(payload)
        stored = self.store.load(thing, shadow_name or CLASSIC)
        if stored is None or stored.record is None:
            raise ShadowError(404, errors.no_shadow_message(display_name(thing, shadow_name)),
                              token)
        return document.get_response(stored.record, self.now(), token)

    def delete(self, thing: str, shadow_name: str | None, payload: bytes = b"") -> dict[str, Any]:
        check_names(thing, shadow_name)
        token = document.parse_token_only(payload)
        name = shadow_name or CLASSIC
        with self._locked(thing, name):
            stored = self.store.load(thing, name)
            if stored is None or stored.record is None:
                raise ShadowError(404, errors.no_shadow_message(display_name(thing, shadow_name)),
                                  token)
            now = self.now()
            self.store.mark_deleted(thing, name, now)
        return document.delete_response(stored.record, now, token)

    def list_named(self, thing: str, page_size: int | None = None,
                   next_token: str | None = None) -> dict[str, Any]:
        """ListNamedShadowsForThing: `{"results", "timestamp"}` plus `nextToken` when paged."""
        check_names(thing, None)
        size = MAX_PAGE_SIZE if page_size is None else page_size
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ShadowError(400, "Invalid pageSize", detail=f"must be 1..{MAX_PAGE_SIZE}")
        names = self.store.named_shadows(thing)
        # The token is the last name of the previous page; names sort stably.
        start = 0
        if next_token:
            start = next((i for i, n in enumerate(names) if n > next_token), len(names))
        page = names[start:start + size]
        out: dict[str, Any] = {"results": page, "timestamp": self.now()}
        if start + size < len(names):
            out["nextToken"] = page[-1]
        return out
