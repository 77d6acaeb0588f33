"""Telemetry ingest without AWS: validate a rule event and store it once per (thing, seq).

The topic rule delivers `SELECT *, topic(3) AS thing, timestamp() AS received_at`, so the
event is the device's message plus the two fields the rule added. Storage is injected
(`TelemetryStore`), which keeps this module testable without DynamoDB.

Stored item (cloud/README.md, "Telemetry table"): the key `thing` + `seq`, `received_at`,
`ts` and `mode` as top-level attributes (what queries and filters use), and `report`, the
whole validated document as compact JSON text (`report_of(item)` decodes it).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Protocol

from cloud.shared.schema_check import Check, compile_schema
from protocol import schemas
from protocol.topics import TopicError, check_thing_name

RULE_FIELDS = ("thing", "received_at")
TOP_LEVEL_FIELDS = ("ts", "mode")  # copied from the report to their own attributes
REPORT_ATTRIBUTE = "report"


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


@functools.cache
def _telemetry_is_valid() -> Check:
    return compile_schema(schemas.load("telemetry"))


def telemetry_errors(document: Any) -> list[str]:
    """The telemetry schema's violations in `document`, as protocol.schemas.errors names them.

    A compiled predicate answers the common case (valid) cheaply; only a document it rejects
    goes through jsonschema, whose messages are reported (and whose verdict wins)."""
    if _telemetry_is_valid()(document):
        return []
    return schemas.errors("telemetry", document)


def to_item(thing: str, received_at: int, document: dict[str, Any]) -> dict[str, Any]:
    """The DynamoDB item for a validated telemetry document (layout in the module docstring)."""
    item = {"thing": thing, "seq": document["seq"], "received_at": received_at}
    item.update((name, document[name]) for name in TOP_LEVEL_FIELDS)
    item[REPORT_ATTRIBUTE] = json.dumps(document, separators=(",", ":"))
    return item


def report_of(item: dict[str, Any]) -> dict[str, Any]:
    """The device's telemetry document stored in `item` (as read back from the table)."""
    report: dict[str, Any] = json.loads(item[REPORT_ATTRIBUTE])
    return report


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
    problems = telemetry_errors(document)
    if problems:
        raise TelemetryRejected(f"telemetry from {thing!r} is invalid: " + "; ".join(problems))
    return thing, received_at, document  # type: ignore[return-value]


def ingest(event: Any, store: TelemetryStore) -> IngestResult:
    """Validate one rule event and store it idempotently."""
    thing, received_at, document = parse_rule_event(event)
    stored = store.put_once(to_item(thing, received_at, document))
    return IngestResult(thing=thing, seq=int(document["seq"]), stored=stored)
