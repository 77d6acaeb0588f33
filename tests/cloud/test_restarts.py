"""Mosquitto and the emulator restart; awsiotsdk devices and the rule runner carry on."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.local.processes import pid_alive
from cloud.local.stack import LocalStack
from protocol.topics import device_topic
from tests.cloud.sdk import SdkDevice


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # Its own stack: restarting the shared one would disturb other modules' clients.
    with LocalStack(directory=None) as running:
        yield running


def seqs(stack: LocalStack, thing: str) -> list[int]:
    return stack.telemetry_seqs(thing)


def runner_subscriptions(stack: LocalStack) -> int:
    """How often the emulator's rule runner has (re)subscribed, from its log."""
    return (stack.dir / "logs" / "emulator.log").read_text().count("rule runner subscribed")


def telemetry(seq: int) -> str:
    return json.dumps({"seq": seq, "ts": 1764064800.0, "mode": "anc"})


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_devices_reconnect_after_mosquitto_restarts(stack: LocalStack) -> None:
    device = SdkDevice(stack.env, "restart-1", stack.device_cert("restart-1"))
    try:
        assert device.wait_for_connections(1)
        topic = device_topic("restart-1", "telemetry")
        assert device.publish(topic, telemetry(1)).name == "SUCCESS"
        assert stack.wait_for(lambda: seqs(stack, "restart-1") == [1])

        old_pid = stack.processes()["mosquitto"]["pid"]
        stack.restart_mosquitto()
        assert stack.processes()["mosquitto"]["pid"] != old_pid
        assert not pid_alive(old_pid)
        assert device.wait_for_connections(2), "the awsiotsdk client did not reconnect"
        assert stack.wait_for(lambda: runner_subscriptions(stack) == 2, timeout=15)

        # The rule runner reconnected and resubscribed too: new telemetry still lands.
        assert device.publish(topic, telemetry(2)).name == "SUCCESS"
        assert stack.wait_for(lambda: seqs(stack, "restart-1") == [1, 2], timeout=15)
    finally:
        device.stop()


def test_emulator_restarts_and_serves_again(stack: LocalStack) -> None:
    shadow_url = stack.env["iot_data_endpoint_url"] + "/things/restart-2/shadow"
    before: Any = http_status(shadow_url)
    old_pid = stack.processes()["emulator"]["pid"]
    stack.restart_emulator()
    assert stack.processes()["emulator"]["pid"] != old_pid and not pid_alive(old_pid)
    assert http_status(shadow_url) == before == 404  # no shadow yet; the API answers

    device = SdkDevice(stack.env, "restart-2", stack.device_cert("restart-2"))
    try:
        assert device.wait_for_connections(1)
        device.publish(device_topic("restart-2", "telemetry"), telemetry(7))
        assert stack.wait_for(lambda: seqs(stack, "restart-2") == [7], timeout=15)
    finally:
        device.stop()


def test_queued_telemetry_survives_a_broker_restart_while_the_emulator_is_down(
        stack: LocalStack) -> None:
    """The broker PUBACKs telemetry for the rule runner's offline persistent session; those
    messages outlive a broker restart (persistence) and land once when the emulator is back."""
    thing = "restart-3"
    count = 25
    stack.stop_emulator()
    try:
        device = SdkDevice(stack.env, thing, stack.device_cert(thing))
        try:
            assert device.wait_for_connections(1)
            topic = device_topic(thing, "telemetry")
            codes = [device.publish(topic, telemetry(seq)).name for seq in range(count)]
            assert codes == ["SUCCESS"] * count
            stack.restart_mosquitto()
            assert device.wait_for_connections(2), "the awsiotsdk client did not reconnect"
        finally:
            device.stop()
        assert (stack.dir / "mosquitto" / "mosquitto.db").is_file()
        assert seqs(stack, thing) == []  # nothing could land: no rule runner was connected
    finally:
        stack.start_emulator()
    assert stack.wait_for(lambda: seqs(stack, thing) == list(range(count)), timeout=20), \
        f"landed: {seqs(stack, thing)}"
    # Nothing more arrives later (a redelivery would be a duplicate), and nothing failed.
    time.sleep(1.0)
    assert seqs(stack, thing) == list(range(count))
    dead_letters = stack.dir / "rule-errors.jsonl"
    assert not dead_letters.exists() or thing not in dead_letters.read_text()
