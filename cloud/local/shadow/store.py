"""SQLite persistence for shadows, so they survive an emulator restart.

One row per (thing, shadow name); the classic shadow has the name "". A deleted shadow
keeps its row as a tombstone (`deleted_at` set) holding the version it reached, because
AWS continues the version counter when a shadow is re-created within 48 hours.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from cloud.local.shadow.document import ShadowRecord

DATABASE_NAME = "shadows.sqlite3"
CLASSIC = ""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shadows (
    thing      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    metadata   TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER,
    PRIMARY KEY (thing, name)
)
"""


@dataclass(frozen=True)
class StoredShadow:
    """A row: `record` is None for a deleted shadow, whose version is kept in `version`."""

    record: ShadowRecord | None
    version: int
    deleted_at: int | None


class ShadowStore:
    """Thread-safe store over one SQLite connection in WAL mode."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / DATABASE_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed update survives a process crash (not a power cut).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def load(self, thing: str, name: str) -> StoredShadow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state, metadata, version, deleted_at FROM shadows"
                " WHERE thing = ? AND name = ?", (thing, name)).fetchone()
        if row is None:
            return None
        state, metadata, version, deleted_at = row
        record = None if deleted_at is not None else ShadowRecord(
            json.loads(state), json.loads(metadata), version)
        return StoredShadow(record, version, deleted_at)

    def save(self, thing: str, name: str, record: ShadowRecord, now: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO shadows"
                " (thing, name, state, metadata, version, updated_at, deleted_at)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL)"
                " ON CONFLICT (thing, name) DO UPDATE SET state = excluded.state,"
                " metadata = excluded.metadata, version = excluded.version,"
                " updated_at = excluded.updated_at, deleted_at = NULL",
                (thing, name, _dump(record.state), _dump(record.metadata), record.version, now))

    def mark_deleted(self, thing: str, name: str, now: int) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE shadows SET state = '{}', metadata = '{}', deleted_at = ?"
                " WHERE thing = ? AND name = ?", (now, thing, name))

    def named_shadows(self, thing: str) -> list[str]:
        """Names of the thing's existing named shadows, sorted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM shadows WHERE thing = ? AND name != ? AND deleted_at IS NULL"
                " ORDER BY name", (thing, CLASSIC)).fetchall()
        return [name for (name,) in rows]


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
