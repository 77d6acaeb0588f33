"""The ingest function's AWS-free core (cloud/shared/telemetry.py) and its sample event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloud.shared.telemetry import TelemetryRejected, ingest, parse_rule_event, report_of
from protocol import schemas

SAMPLE_EVENT = Path("cloud/functions/ingest/events/telemetry.json")


class MemoryStore:
    """In-process stand-in for the conditional DynamoDB put (unit tests only)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, int], dict[str, Any]] = {}

    def put_once(self, item: dict[str, Any]) -> bool:
        key = (item["thing"], item["seq"])
        if key in self.items:
            return False
        self.items[key] = item
        return True


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = json.loads(SAMPLE_EVENT.read_text())
    base.update(overrides)
    return base


def test_schema_has_valid_examples() -> None:
    examples = schemas.load("telemetry")["examples"]
    assert examples
    for example in examples:
        assert schemas.errors("telemetry", example) == []


def test_sample_event_is_stored_once() -> None:
    store = MemoryStore()
    first = ingest(event(), store)
    again = ingest(event(mode="off"), store)
    assert first.as_dict() == {"thing": "headset-0001", "seq": 1042, "status": "stored"}
    assert again.as_dict()["status"] == "duplicate"
    assert store.items[("headset-0001", 1042)]["mode"] == "anc"
    assert store.items[("headset-0001", 1042)]["received_at"] == 1764064800412


def test_the_item_holds_the_key_queryable_fields_and_the_whole_report() -> None:
    store = MemoryStore()
    ingest(event(), store)
    item = store.items[("headset-0001", 1042)]
    assert set(item) == {"thing", "seq", "received_at", "ts", "mode", "report"}
    assert (item["ts"], item["mode"]) == (1764064800.25, "anc")
    device_document = {k: v for k, v in event().items() if k not in ("thing", "received_at")}
    assert report_of(item) == device_document
    assert isinstance(item["report"], str) and ": " not in item["report"]  # compact JSON


@pytest.mark.parametrize(("change", "named"), [
    ({"seq": -1}, "seq: -1 is less than the minimum of 0"),
    ({"mode": "loud"}, "mode: 'loud' is not one of"),
    ({"batery": {"percent": 3}}, "'batery' was unexpected"),
    ({"battery": {"percent": 130}}, "battery/percent: 130 is greater than the maximum of 100"),
    ({"thing": "a/b"}, "rule field 'thing'"),
    ({"received_at": "soon"}, "rule field 'received_at'"),
])
def test_rejections_name_what_is_wrong(change: dict[str, Any], named: str) -> None:
    with pytest.raises(TelemetryRejected, match=named.replace("(", r"\(")):
        parse_rule_event(event(**change))


def test_missing_required_field() -> None:
    broken = event()
    del broken["ts"]
    with pytest.raises(TelemetryRejected, match="'ts' is a required property"):
        parse_rule_event(broken)
    with pytest.raises(TelemetryRejected, match="JSON object"):
        parse_rule_event([1, 2])
