"""Telemetry ingest without AWS: validate a rule event and store it once per (thing, seq).

The topic rule delivers `SELECT *, topic(3) AS thing, timestamp() AS received_at`, so the
event is the device's message plus the two fields the rule added. Storage is injected
(`TelemetryStore`), which keeps this module testable without DynamoDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from protocol import schemas
from protocol.topics import TopicError, check_thing_name

RULE_FIELDS = ("thing", "received_at")


class TelemetryRejected(ValueError):
    """A telemetry message that cannot be stored; the message names what is wrong."""


class TelemetryStore(Protocol):
    def put_once(self, item: dict[str, Any]) -> bool:
        """Store `item` unless its (thing, seq) exists; True if stored, False if a duplicate."""
        ...


@dataclass(frozen=True)
class IngestResult:
    thing: str
    seq: int
    stored: bool  # False: this (thing, seq) was already stored, nothing changed

    def as_dict(self) -> dict[str, Any]:
        return {"thing": self.thing, "seq": self.seq,
                "status": "stored" if self.stored else "duplicate"}


def parse_rule_event(event: Any) -> tuple[str, int, dict[str, Any]]:
    """Split a rule event into (thing, received_at ms, telemetry document); validate both parts."""
    if not isinstance(event, dict):
        raise TelemetryRejected(
            f"telemetry event must be a JSON object, got {type(event).__name__}")
    document = {k: v for k, v in event.items() if k not in RULE_FIELDS}
    thing = event.get("thing")
    try:
        check_thing_name(thing)  # type: ignore[arg-type]
    except TopicError as exc:
        raise TelemetryRejected(f"rule field 'thing': {exc}") from exc
    received_at = event.get("received_at")
    if not isinstance(received_at, int) or isinstance(received_at, bool):
        raise TelemetryRejected(f"rule field 'received_at' must be integer ms, got {received_at!r}")
    problems = schemas.errors("telemetry", document)
    if problems:
        raise TelemetryRejected(f"telemetry from {thing!r} is invalid: " + "; ".join(problems))
    return thing, received_at, document  # type: ignore[return-value]


def ingest(event: Any, store: TelemetryStore) -> IngestResult:
    """Validate one rule event and store it idempotently."""
    thing, received_at, document = parse_rule_event(event)
    item = {**document, "thing": thing, "received_at": received_at}
    stored = store.put_once(item)
    return IngestResult(thing=thing, seq=int(document["seq"]), stored=stored)
