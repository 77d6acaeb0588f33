"""Every shadow behaviour through each client a device or the cloud uses, on the real stack:
IotShadowClientV2 over MQTT5, IotShadowClient over MQTT 3.1.1, and boto3 iot-data over HTTP
(Mosquitto with mutual TLS in front of the emulator for the MQTT clients)."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from awscrt import mqtt
from awsiot import iotshadow

from cloud.local.stack import LocalStack
from tests.cloud.shadow.clients import KINDS, HttpClient, ShadowClient, shadow_client
from tests.cloud.shadow.devices import TIMEOUT_S, v1_device


@pytest.fixture(params=KINDS)
def client(local_stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[ShadowClient]:
    # One thing per test and client kind, so tests never share a shadow.
    name = request.node.originalname.removeprefix("test_")[:40].replace("_", "-")
    with shadow_client(local_stack, request.param, f"{request.param}-{name}") as connected:
        yield connected


def rejected(reply: Any, code: int, message: str) -> None:
    assert not reply.accepted, reply
    assert reply.doc["code"] == code, reply
    assert reply.doc["message"].startswith(message), reply


def test_update_get_delete_with_versions(client: ShadowClient) -> None:
    first = client.update({"state": {"reported": {"anc": {"mode": "anc"}}}})
    assert first.accepted and first.doc["version"] == 1
    assert first.doc["state"] == {"reported": {"anc": {"mode": "anc"}}}
    second = client.update({"state": {"desired": {"anc": {"mode": "transparency"}}}})
    assert second.doc["version"] == 2
    got = client.get()
    assert got.doc["version"] == 2
    assert got.doc["state"]["delta"] == {"anc": {"mode": "transparency"}}
    deleted = client.delete()
    assert deleted.accepted and deleted.doc["version"] == 2
    rejected(client.get(), 404, f"No shadow exists with name: '{client.thing}'")


def test_version_conflict_is_409_and_changes_nothing(client: ShadowClient) -> None:
    assert client.update({"state": {"reported": {"n": 1}}}).doc["version"] == 1
    conflict = client.update({"state": {"reported": {"n": 2}}, "version": 7})
    rejected(conflict, 409, "Version conflict")
    if not isinstance(client, HttpClient):  # MQTT errors carry the token (HTTP has no body token)
        assert conflict.doc["clientToken"] == conflict.sent_token
    assert client.update({"state": {"reported": {"n": 3}}, "version": 1}).doc["version"] == 2
    got = client.get()
    assert got.doc["state"]["reported"] == {"n": 3} and got.doc["version"] == 2


def test_null_deletes_fields_and_sections(client: ShadowClient) -> None:
    client.update({"state": {"reported": {"a": 1, "b": {"c": 2, "d": 3}},
                             "desired": {"x": 1}}})
    client.update({"state": {"reported": {"a": None, "b": {"c": None}}}})
    got = client.get()
    assert got.doc["state"]["reported"] == {"b": {"d": 3}}
    assert got.doc["metadata"]["reported"] == {"b": {"d": {"timestamp": pytest.approx(
        time.time(), abs=30)}}}
    assert got.doc["state"]["delta"] == {"x": 1}
    cleared = client.update({"state": {"desired": None}})
    assert cleared.accepted and cleared.doc["version"] == 3
    got = client.get()
    assert "desired" not in got.doc["state"] and "delta" not in got.doc["state"]
    assert "desired" not in got.doc["metadata"]


def test_metadata_timestamps_are_per_field(client: ShadowClient) -> None:
    before = int(time.time())
    accepted = client.update({"state": {"reported": {"anc": {"mode": "anc", "mu": 0.1}}}})
    stamps = accepted.doc["metadata"]["reported"]["anc"]
    assert set(stamps) == {"mode", "mu"}
    first = stamps["mode"]["timestamp"]
    assert before <= first <= int(time.time())
    time.sleep(1.1)  # timestamps are whole seconds
    later = client.update({"state": {"reported": {"anc": {"mu": 0.2}}}})
    assert later.doc["metadata"]["reported"] == {"anc": {"mu": {"timestamp": pytest.approx(
        time.time(), abs=2)}}}
    meta = client.get().doc["metadata"]["reported"]["anc"]
    assert meta["mode"]["timestamp"] == first
    assert meta["mu"]["timestamp"] > first


def test_client_token_is_echoed(client: ShadowClient) -> None:
    accepted = client.update({"state": {"reported": {"t": 1}}})
    assert accepted.sent_token and accepted.doc["clientToken"] == accepted.sent_token
    if not isinstance(client, HttpClient):  # iot-data's get and delete take no token
        got = client.get()
        assert got.doc["clientToken"] == got.sent_token
        deleted = client.delete()
        assert deleted.doc["clientToken"] == deleted.sent_token


def test_named_shadows_are_separate_from_the_classic_one(client: ShadowClient) -> None:
    client.update({"state": {"reported": {"which": "config"}}}, name="config")
    client.update({"state": {"reported": {"which": "status"}}}, name="status")
    assert client.get(name="status").doc["state"]["reported"] == {"which": "status"}
    rejected(client.get(), 404, f"No shadow exists with name: '{client.thing}'")
    rejected(client.get(name="never"), 404, f"No shadow exists with name: '{client.thing}~never'")
    deleted = client.delete(name="config")
    assert deleted.accepted and deleted.doc["version"] == 1
    rejected(client.get(name="config"), 404, "No shadow exists")
    assert client.get(name="status").accepted


def test_missing_shadow_is_404(client: ShadowClient) -> None:
    rejected(client.get(), 404, "No shadow exists")
    rejected(client.delete(), 404, "No shadow exists")
    rejected(client.delete(name="absent"), 404, "No shadow exists")


def test_limits_and_bad_input_are_rejected_and_nothing_is_lost(client: ShadowClient) -> None:
    assert client.update({"state": {"reported": {"keep": 1}}}).accepted
    rejected(client.update({"state": {"reported": {"blob": "x" * 9000}}}), 413,
             "The payload exceeds the maximum size allowed")
    deep: dict[str, Any] = {"leaf": 1}
    for level in range(6):
        deep = {f"l{level}": deep}
    rejected(client.update({"state": {"reported": deep}}), 400,
             "JSON contains too many levels of nesting; maximum is 6")
    rejected(client.raw_update(b"{not json"), 400, "Invalid JSON")
    rejected(client.raw_update(json.dumps({"state": {"reported": [1]}}).encode()), 400,
             "Reported node must be an object")
    got = client.get()
    assert got.doc["state"]["reported"] == {"keep": 1} and got.doc["version"] == 1
    six_levels = deep["l5"]
    assert client.update({"state": {"reported": six_levels}}).accepted  # 6 levels is allowed


# --- an update over HTTP reaches an MQTT 3.1.1 device as delta and documents ---------------

def test_http_desired_change_reaches_a_mqtt311_device(local_stack: LocalStack) -> None:
    thing = "mqtt311-http-delta"
    with v1_device(local_stack, thing) as (_, shadow), \
            shadow_client(local_stack, HttpClient.kind, thing) as http:
        inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        q = mqtt.QoS.AT_LEAST_ONCE
        for future, _ in (
            shadow.subscribe_to_shadow_delta_updated_events(
                iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing), q,
                lambda event: inbox.put(("delta", event))),
            shadow.subscribe_to_shadow_updated_events(
                iotshadow.ShadowUpdatedSubscriptionRequest(thing_name=thing), q,
                lambda event: inbox.put(("documents", event))),
        ):
            future.result(TIMEOUT_S)
        http.update({"state": {"reported": {"telemetry": {"interval_s": 10}}}})
        assert inbox.get(timeout=TIMEOUT_S)[0] == "documents"  # reported only: no delta
        http.update({"state": {"desired": {"telemetry": {"interval_s": 5}}},
                     "clientToken": "console-7"})
        got = dict([inbox.get(timeout=TIMEOUT_S), inbox.get(timeout=TIMEOUT_S)])
        delta, documents = got["delta"], got["documents"]
        assert delta.state == {"telemetry": {"interval_s": 5}} and delta.version == 2
        assert delta.client_token == "console-7"
        assert documents.previous.version == 1 and documents.current.version == 2
        assert documents.current.state.desired == {"telemetry": {"interval_s": 5}}
        assert documents.previous.state.desired is None
