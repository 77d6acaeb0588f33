"""Isolation on the local broker: each thing reaches only its own topics, as its IoT policy says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.local.certs import LocalCA
from cloud.local.stack import LocalStack
from protocol.topics import device_topic, shadow_topic
from tests.cloud.clients import Device, connect_device, connect_refused, tls_handshake_error

NOT_AUTHORIZED = 0x87
TELEMETRY = json.dumps({"seq": 1, "ts": 1764064800.0, "mode": "anc"})


@pytest.fixture(scope="module")
def devices(local_stack: LocalStack) -> Iterator[tuple[Device, Device]]:
    a = connect_device(local_stack.env, "iso-a", local_stack.device_cert("iso-a"))
    b = connect_device(local_stack.env, "iso-b", local_stack.device_cert("iso-b"))
    assert not a.connack.is_failure and not b.connack.is_failure
    yield a, b
    a.close()
    b.close()


def b_topics() -> list[str]:
    return [device_topic("iso-b", "telemetry"), device_topic("iso-b", "events"),
            device_topic("iso-b", "adapt/result"), shadow_topic("iso-b", "update")]


def test_cannot_receive_another_things_messages(local_stack: LocalStack,
                                                devices: tuple[Device, Device]) -> None:
    a, b = devices
    for topic_filter in ("anc/v1/iso-b/#", "$aws/things/iso-b/shadow/#", "#", "anc/v1/+/events"):
        a.subscribe(topic_filter)
    b.subscribe("anc/v1/iso-b/#")  # control: b receives its own messages
    for topic in (device_topic("iso-b", "telemetry"), device_topic("iso-b", "events")):
        assert b.publish(topic, TELEMETRY) == 0
    got_b = {b.next_message()[0] for _ in range(2)}
    assert got_b == {device_topic("iso-b", "telemetry"), device_topic("iso-b", "events")}

    # b's shadow update is served (b gets accepted) but a sees none of it.
    b.subscribe(shadow_topic("iso-b", "update", "accepted"))
    assert b.publish(shadow_topic("iso-b", "update"),
                     json.dumps({"state": {"reported": {"anc": {"mode": "anc"}}}})) == 0
    assert b.next_message()[0] == shadow_topic("iso-b", "update", "accepted")
    assert a.expect_nothing(0.5) == []


def test_cannot_publish_to_another_thing(devices: tuple[Device, Device]) -> None:
    a, b = devices
    b.subscribe("anc/v1/iso-b/#")
    b.subscribe("$aws/things/iso-b/shadow/#")
    b.expect_nothing(0.2)
    for topic in b_topics():
        assert a.publish(topic, TELEMETRY).value == NOT_AUTHORIZED, topic
    assert b.expect_nothing(0.5) == []
    # a's own topics are allowed: the refusals above are about ownership, not the channel.
    assert a.publish(device_topic("iso-a", "telemetry"), TELEMETRY).value == 0


def test_connection_without_certificate_is_refused(local_stack: LocalStack) -> None:
    refusal = tls_handshake_error(local_stack.env, None)
    assert refusal.startswith("SSL"), refusal
    # control: the same handshake with a certificate gets through to MQTT
    assert tls_handshake_error(local_stack.env, local_stack.device_cert("iso-a")) == ""


def test_certificate_from_another_ca_is_refused(local_stack: LocalStack, tmp_path: Path) -> None:
    foreign = LocalCA(tmp_path / "other-ca").device("iso-a")
    refusal = tls_handshake_error(local_stack.env, (foreign.cert_path, foreign.key_path))
    # TLS 1.3 verifies the client certificate after the client's Finished: depending on
    # timing the client reads the "unknown ca" alert (SSLError) or only the closed socket.
    assert refusal.startswith(("SSLError", "SSLEOFError")), refusal


@pytest.mark.parametrize("client_id", ["iso-b", "iso-a-2", "anc-iot-core-x", ""])
def test_client_id_other_than_thing_name_is_refused_at_connect(
        local_stack: LocalStack, client_id: str) -> None:
    refusal = connect_refused(local_stack.env, client_id, local_stack.device_cert("iso-a"))
    assert refusal == "CONNACK: Not authorized", refusal


def test_service_identity_may_use_prefixed_client_ids(local_stack: LocalStack) -> None:
    env = local_stack.env
    service = (Path(env["service_cert_path"]), Path(env["service_key_path"]))
    ok = connect_device(local_stack.env, "anc-iot-core-test", service)
    assert not ok.connack.is_failure
    ok.close()
    assert connect_refused(local_stack.env, "iso-a", service) == "CONNACK: Not authorized"
    assert connect_refused(local_stack.env, "anc-iot-core-", service) == "CONNACK: Not authorized"


def test_awsiotsdk_client_with_wrong_client_id_is_refused(local_stack: LocalStack) -> None:
    from tests.cloud.sdk import SdkDevice

    device = SdkDevice(local_stack.env, "iso-b", local_stack.device_cert("iso-a"))
    try:
        assert device.failures.get(timeout=10) == "NOT_AUTHORIZED"
        assert device.successes == 0
    finally:
        device.stop()
