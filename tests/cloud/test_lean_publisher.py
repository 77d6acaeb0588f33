"""The telemetry benchmark's lean load generator (bench/mqtt_publisher.py): its packet
encoding, and that what it publishes reaches the cloud as an SDK device's messages do."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from bench.mqtt_publisher import (
    LeanPublisher,
    MqttProtocolError,
    remaining_length,
    split_packets,
)
from cloud.local.stack import LocalStack
from protocol import schemas
from protocol.topics import device_topic


@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f")])
def test_remaining_length_is_mqtts_variable_byte_integer(value: int, encoded: bytes) -> None:
    assert remaining_length(value) == encoded
    body = b"x" * min(value, 200)
    packets, rest = split_packets(b"\x30" + encoded + body)
    if value <= 200:
        assert packets == [(0x30, body)] and rest == b""
    else:  # the body has not all arrived yet
        assert packets == [] and rest == b"\x30" + encoded + body


def test_remaining_length_outside_mqtts_range_is_refused() -> None:
    with pytest.raises(ValueError, match="268435456"):
        remaining_length(268_435_456)


def test_split_packets_keeps_an_incomplete_tail_for_the_next_read() -> None:
    stream = b"\x40\x02\x00\x01" + b"\xd0\x00" + b"\x40\x02\x00"
    packets, rest = split_packets(stream)
    assert packets == [(0x40, b"\x00\x01"), (0xD0, b"")]
    assert rest == b"\x40\x02\x00"
    packets, rest = split_packets(rest + b"\x02")
    assert packets == [(0x40, b"\x00\x02")] and rest == b""
    assert split_packets(b"\x40") == ([], b"\x40")
    assert split_packets(b"\x30\x80") == ([], b"\x30\x80")  # the length continues


def test_split_packets_refuses_a_length_of_more_than_four_bytes() -> None:
    with pytest.raises(MqttProtocolError, match="more than 4 bytes"):
        split_packets(b"\x30\x80\x80\x80\x80\x01")


def lean(stack: LocalStack, thing: str, client_id: str | None = None) -> LeanPublisher:
    cert, key = stack.device_cert(thing)
    env = stack.env
    return LeanPublisher(env["mqtt_host"], int(env["mqtt_port"]), env["ca_path"], cert, key,
                         client_id=client_id or thing, topic=device_topic(thing, "telemetry"))


def stored_seqs(stack: LocalStack, thing: str) -> list[int]:
    env = stack.env
    table = boto3.resource("dynamodb", endpoint_url=env["aws_endpoint_url"],
                           region_name=env["region"], aws_access_key_id="testing",
                           aws_secret_access_key="testing").Table(env["tables"]["TelemetryTable"])
    query = table.query(KeyConditionExpression=Key("thing").eq(thing))
    items: list[dict[str, Any]] = query["Items"]
    return sorted(int(item["seq"]) for item in items)


def test_lean_publishes_are_acknowledged_and_land_once(local_stack: LocalStack) -> None:
    publisher = lean(local_stack, "lean-1")
    document = schemas.load("telemetry")["examples"][0]
    try:
        for seq in range(40):
            publisher.publish(json.dumps({**document, "seq": seq}).encode())
        assert publisher.wait_for_acks(10.0) == (40, 0)
    finally:
        publisher.close()
    assert local_stack.wait_for(lambda: stored_seqs(local_stack, "lean-1") == list(range(40))), \
        stored_seqs(local_stack, "lean-1")


def test_a_client_id_that_is_not_the_certificates_thing_is_refused(
        local_stack: LocalStack) -> None:
    refused = "lean-impostor: connection refused: not authorized"
    with pytest.raises(MqttProtocolError, match=refused):
        lean(local_stack, "lean-2", client_id="lean-impostor")
