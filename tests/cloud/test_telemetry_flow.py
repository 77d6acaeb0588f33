"""Device → Mosquitto → rule runner → ingest Lambda → DynamoDB (moto), and the error path."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from cloud.local.stack import LocalStack
from cloud.shared.telemetry import report_of
from protocol import schemas
from protocol.topics import device_topic
from tests.cloud.sdk import SdkDevice


def telemetry(seq: int, **overrides: Any) -> str:
    document = {**schemas.load("telemetry")["examples"][0], "seq": seq, **overrides}
    return json.dumps(document)


@pytest.fixture(scope="module")
def table(local_stack: LocalStack) -> Any:
    env = local_stack.env
    dynamodb = boto3.resource("dynamodb", endpoint_url=env["aws_endpoint_url"],
                              region_name=env["region"], aws_access_key_id="testing",
                              aws_secret_access_key="testing")
    return dynamodb.Table(env["tables"]["TelemetryTable"])


def stored(table: Any, thing: str) -> list[dict[str, Any]]:
    query = table.query(KeyConditionExpression=Key("thing").eq(thing))
    items: list[dict[str, Any]] = query["Items"]
    return items


def dead_letters(local_stack: LocalStack, thing: str) -> list[dict[str, Any]]:
    path = Path(local_stack.env["dead_letter_path"])
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in entries if e["topic"] == device_topic(thing, "telemetry")]


@pytest.fixture
def device(local_stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[SdkDevice]:
    thing = request.param
    client = SdkDevice(local_stack.env, thing, local_stack.device_cert(thing))
    assert client.wait_for_connections(1), f"{thing} did not connect"
    yield client
    client.stop()


@pytest.mark.parametrize("device", ["flow-1"], indirect=True)
def test_telemetry_lands_once_even_when_published_twice(local_stack: LocalStack, table: Any,
                                                         device: SdkDevice) -> None:
    topic = device_topic("flow-1", "telemetry")
    for seq in range(1, 6):
        assert device.publish(topic, telemetry(seq)).name == "SUCCESS"
    assert local_stack.wait_for(lambda: len(stored(table, "flow-1")) == 5), stored(table, "flow-1")
    first = {int(item["seq"]): item for item in stored(table, "flow-1")}

    # The same (thing, seq) again, even with different content, changes nothing.
    device.publish(topic, telemetry(3, mode="off"))
    device.publish(topic, telemetry(3, mode="off"))
    device.publish(topic, telemetry(6))
    assert local_stack.wait_for(lambda: len(stored(table, "flow-1")) == 6)
    time.sleep(0.3)
    after = {int(item["seq"]): item for item in stored(table, "flow-1")}
    assert sorted(after) == [1, 2, 3, 4, 5, 6]
    assert after[3]["mode"] == "anc" and after[3]["received_at"] == first[3]["received_at"]
    assert after[1]["thing"] == "flow-1"
    # The table item: key, received_at, ts and mode, and the whole report as JSON text.
    assert set(after[1]) == {"thing", "seq", "received_at", "ts", "mode", "report"}
    assert report_of(after[1]) == json.loads(telemetry(1))
    assert after[1]["ts"] == Decimal(str(json.loads(telemetry(1))["ts"]))
    assert dead_letters(local_stack, "flow-1") == []


@pytest.mark.parametrize("device", ["flow-bad"], indirect=True)
def test_malformed_telemetry_is_recorded_and_the_runner_keeps_serving(
        local_stack: LocalStack, table: Any, device: SdkDevice) -> None:
    topic = device_topic("flow-bad", "telemetry")
    device.publish(topic, "this is not json")
    device.publish(topic, json.dumps({"seq": "seven", "ts": 1764064800.0, "mode": "anc"}))
    device.publish(topic, json.dumps({"seq": 8, "ts": 1764064800.0, "mode": "loud"}))
    device.publish(topic, telemetry(9))

    assert local_stack.wait_for(lambda: len(dead_letters(local_stack, "flow-bad")) == 3)
    assert local_stack.wait_for(lambda: len(stored(table, "flow-bad")) == 1)
    assert [int(item["seq"]) for item in stored(table, "flow-bad")] == [9]

    errors = {entry["payload"]: entry for entry in dead_letters(local_stack, "flow-bad")}
    assert errors["this is not json"]["error_type"] == "JSONDecodeError"
    assert errors["this is not json"]["attempts"] == 0  # never reached the function
    schema_failure = next(e for p, e in errors.items() if "seven" in p)
    assert schema_failure["error_type"] == "TelemetryRejected"
    assert "seq: 'seven' is not of type 'integer'" in schema_failure["error"]
    assert schema_failure["attempts"] == 3 and schema_failure["function"] == "anc-ingest-dev"
    assert any("mode: 'loud' is not one of" in e["error"] for e in errors.values())
    log = Path(local_stack.dir / "logs" / "emulator.log").read_text()
    assert "rule IngestFunctionTelemetry: message on anc/v1/flow-bad/telemetry failed" in log
