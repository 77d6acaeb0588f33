"""Durable outbox for device→cloud MQTT messages (telemetry, events, features, …).

Every message is written to SQLite *before* it is published and removed only when the
broker has acknowledged it (PUBACK), so a crash, a kill or a network outage loses nothing
that `enqueue` has returned. Each message gets the outbox's next id `seq` (persisted,
strictly increasing across restarts), used to ack it. Telemetry bodies carry their own
counter as `"seq"` (ARCHITECTURE §4): 1, 2, 3, … over telemetry messages only (persisted,
never reused), so the cloud can tell a gap (lost report) from a duplicate (re-sent report).

Durability modes (`synchronous`):
- ``"normal"`` (default): WAL + ``synchronous=NORMAL``. A commit is in the WAL file before
  `enqueue` returns, so it survives the process being killed (SIGKILL, OOM, crash) at any
  moment. After a *power* loss the last commits before the most recent fsync may be gone
  (the database stays consistent). A headset shuts down on low battery, so sudden power
  loss is rare, and telemetry is cheap to lose: this mode is ~10-50x faster.
- ``"full"``: WAL + ``synchronous=FULL``. Every commit is fsynced: survives power loss too,
  at the cost of one fsync per message.

The outbox is bounded: when `capacity` messages are waiting, the oldest is dropped to make
room and a persisted `dropped` counter is incremented (reported in telemetry), so a long
outage degrades into losing old data rather than filling the disk.

One `Outbox` object may be shared by threads (the audio/control side enqueues while the
publisher thread acks). Only one `Outbox` object, in one process, may have a given
file open at a time (an advisory lock enforces it; the OS releases it if the process dies).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from protocol import topics

# AWS IoT Core rejects publishes whose payload exceeds 128 KB.
MAX_PAYLOAD_BYTES = 128 * 1024
# AWS IoT Core topic limits: 256 bytes of UTF-8.
MAX_TOPIC_BYTES = 256
DEFAULT_CAPACITY = 10_000

Synchronous = Literal["normal", "full"]
SYNCHRONOUS_MODES: tuple[str, ...] = ("normal", "full")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS message (
    seq     INTEGER PRIMARY KEY,
    topic   TEXT    NOT NULL,
    payload BLOB    NOT NULL,
    created REAL    NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_seq', 0), ('dropped', 0);
-- Outboxes written before telemetry had its own counter continue from the shared one.
INSERT OR IGNORE INTO meta (key, value)
    SELECT 'telemetry_seq', value FROM meta WHERE key = 'last_seq';
"""


class OutboxLockedError(RuntimeError):
    """Another process has the outbox open."""


@dataclass(frozen=True, slots=True)
class Message:
    """A message waiting for its PUBACK. `seq` is also its id in the outbox (see `ack`)."""

    seq: int
    topic: str
    payload: bytes  # UTF-8 JSON, ready to publish
    created: float  # UNIX time of enqueue


class Outbox:
    """SQLite-backed, bounded, thread-safe queue of messages awaiting PUBACK."""

    def __init__(self, path: str | os.PathLike[str], capacity: int = DEFAULT_CAPACITY,
                 synchronous: Synchronous = "normal") -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity: expected a positive integer, got {capacity!r}")
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(
                f"synchronous: expected one of {SYNCHRONOUS_MODES}, got {synchronous!r}")
        self.path = Path(path)
        self.capacity = capacity
        self.synchronous: Synchronous = synchronous
        self._lock = threading.Lock()
        self._lock_file = self._acquire_process_lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.executescript(_SCHEMA)
            self._count = int(self._db.execute("SELECT COUNT(*) FROM message").fetchone()[0])
            self._last_seq = int(self._db.execute(
                "SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0])
            self._telemetry_seq = int(self._db.execute(
                "SELECT value FROM meta WHERE key = 'telemetry_seq'").fetchone()[0])
        except BaseException:
            self._release_process_lock()
            raise

    def _acquire_process_lock(self) -> int:
        """Hold an exclusive advisory lock beside the database (released by the OS on death)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutboxLockedError(
                f"outbox {self.path} is already open (by another process or Outbox object)"
            ) from None
        return fd

    def _release_process_lock(self) -> None:
        if self._lock_file >= 0:
            os.close(self._lock_file)  # closing the descriptor releases the flock
            self._lock_file = -1

    # ----------------------------------------------------------------- producer side

    def enqueue(self, topic: str, payload: Any) -> Message:
        """Persist one message and return it once it is durable (per `synchronous`).

        `payload` is any JSON-serializable value. For a telemetry topic it must be an
        object without a `seq` key: the outbox adds the next telemetry `seq` to it.
        Raises ValueError (and stores nothing) for a bad topic or payload.
        """
        _check_topic(topic)
        is_telemetry = _is_telemetry(topic)
        if is_telemetry:
            if not isinstance(payload, dict):
                raise ValueError(
                    f"telemetry payload must be a JSON object, got {type(payload).__name__}")
            if "seq" in payload:
                raise ValueError("telemetry payload must not contain 'seq': the outbox assigns it")
        # Serialize once up front so a bad payload is rejected before any write.
        _encode(payload)
        with self._lock:
            seq = self._last_seq + 1
            telemetry_seq = self._telemetry_seq + 1 if is_telemetry else self._telemetry_seq
            body = _encode({**payload, "seq": telemetry_seq} if is_telemetry else payload)
            created = time.time()
            with self._transaction():
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (seq,))
                if is_telemetry:
                    self._db.execute("UPDATE meta SET value = ? WHERE key = 'telemetry_seq'",
                                     (telemetry_seq,))
                self._db.execute(
                    "INSERT INTO message (seq, topic, payload, created) VALUES (?, ?, ?, ?)",
                    (seq, topic, body, created))
                overflow = self._count + 1 - self.capacity
                if overflow > 0:
                    self._db.execute(
                        "DELETE FROM message WHERE seq IN "
                        "(SELECT seq FROM message ORDER BY seq LIMIT ?)", (overflow,))
                    self._db.execute(
                        "UPDATE meta SET value = value + ? WHERE key = 'dropped'", (overflow,))
            self._last_seq = seq
            self._telemetry_seq = telemetry_seq
            self._count += 1 - max(overflow, 0)
            return Message(seq, topic, body, created)

    # ---------------------------------------------------------------- publisher side

    def pending(self, limit: int = 100) -> list[Message]:
        """Up to `limit` unacknowledged messages, oldest (lowest seq) first."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"limit: expected a positive integer, got {limit!r}")
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, created FROM message ORDER BY seq LIMIT ?",
                (limit,)).fetchall()
        return [Message(int(s), str(t), bytes(p), float(c)) for s, t, p, c in rows]

    def ack(self, seq: int) -> bool:
        """Remove the message `seq` after its PUBACK. False if it was not waiting
        (already acked, or dropped for capacity)."""
        with self._lock, self._transaction():
            removed = self._db.execute("DELETE FROM message WHERE seq = ?", (seq,)).rowcount
            self._count -= removed
        return removed == 1

    def ack_many(self, seqs: list[int]) -> int:
        """Remove several acknowledged messages in one transaction; return how many were
        still waiting."""
        if not seqs:
            return 0
        with self._lock, self._transaction():
            removed = self._db.executemany(
                "DELETE FROM message WHERE seq = ?", [(s,) for s in seqs]).rowcount
            self._count -= removed
        return int(removed)

    # ------------------------------------------------------------------ inspection

    @property
    def dropped(self) -> int:
        """Messages discarded (oldest first) because the outbox was full; persisted."""
        with self._lock:
            return int(self._db.execute(
                "SELECT value FROM meta WHERE key = 'dropped'").fetchone()[0])

    @property
    def last_seq(self) -> int:
        """The highest seq ever assigned (0 for a new outbox)."""
        with self._lock:
            return self._last_seq

    @property
    def last_telemetry_seq(self) -> int:
        """The `seq` of the newest telemetry message (0 if none yet)."""
        with self._lock:
            return self._telemetry_seq

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def close(self) -> None:
        with self._lock:
            if self._lock_file >= 0:
                self._db.close()
                self._release_process_lock()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _check_topic(topic: object) -> None:
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"topic must be a non-empty string, got {topic!r}")
    if any(c in topic for c in "+#\x00"):
        raise ValueError(f"topic {topic!r} must not contain wildcards or NUL")
    if len(topic.encode()) > MAX_TOPIC_BYTES:
        raise ValueError(f"topic is {len(topic.encode())} bytes; the limit is {MAX_TOPIC_BYTES}")


def _is_telemetry(topic: str) -> bool:
    try:
        return topics.parse_device_topic(topic)[1] == topics.TELEMETRY
    except topics.TopicError:
        return False


def _encode(payload: Any) -> bytes:
    try:
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False,
                          ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"payload is not JSON-serializable: {exc}") from None
    if len(body) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload is {len(body)} bytes of JSON; AWS IoT's limit is "
                         f"{MAX_PAYLOAD_BYTES} bytes (128 KB)")
    return body


__all__ = ["DEFAULT_CAPACITY", "MAX_PAYLOAD_BYTES", "Message", "Outbox", "OutboxLockedError",
           "SYNCHRONOUS_MODES", "Synchronous"]
