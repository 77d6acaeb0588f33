"""The shadow service inside the real local stack (Mosquitto with mTLS + emulator process),
driven by the AWS IoT Device SDK (MQTT5 V2 and MQTT 3.1.1 clients), paho and boto3."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from awscrt import mqtt
from awsiot import V2ServiceException, iotshadow

from tests.cloud.shadow.devices import TIMEOUT_S, raw_device, v1_device, v2_device

stack_module = pytest.importorskip("cloud.local.stack")


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    with stack_module.LocalStack(directory=None) as running:
        yield running


def iot_data(stack: Any) -> Any:
    return boto3.client("iot-data", endpoint_url=stack.env["iot_data_endpoint_url"],
                        region_name=stack.env["region"], aws_access_key_id="local",
                        aws_secret_access_key="local")


def http_update(stack: Any, thing: str, doc: object, **kwargs: Any) -> dict[str, Any]:
    response = iot_data(stack).update_thing_shadow(thingName=thing, payload=json.dumps(doc),
                                                   **kwargs)
    return json.loads(response["payload"].read())


def service_error(future: Any) -> Any:
    with pytest.raises(V2ServiceException) as info:
        future.result(TIMEOUT_S)
    assert info.value.modeled_error is not None, info.value
    return info.value.modeled_error


# --- MQTT5 + IotShadowClientV2 -----------------------------------------------------------

def test_v2_update_get_delete_and_recreate(stack: Any) -> None:
    thing = "v2-basic"
    with v2_device(stack, thing) as dev:
        accepted = dev.shadow.update_shadow(iotshadow.UpdateShadowRequest(
            thing_name=thing, state=iotshadow.ShadowState(reported={"anc": {"mode": "anc"}}))
        ).result(TIMEOUT_S)
        assert accepted.version == 1
        assert accepted.state.reported == {"anc": {"mode": "anc"}}
        assert set(accepted.metadata.reported["anc"]["mode"]) == {"timestamp"}

        got = dev.shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)
                                    ).result(TIMEOUT_S)
        assert got.version == 1 and got.state.reported == {"anc": {"mode": "anc"}}
        assert got.state.delta is None

        deleted = dev.shadow.delete_shadow(iotshadow.DeleteShadowRequest(thing_name=thing)
                                           ).result(TIMEOUT_S)
        assert deleted.version == 1
        missing = service_error(dev.shadow.get_shadow(iotshadow.GetShadowRequest(
            thing_name=thing)))
        assert missing.code == 404 and missing.message == f"No shadow exists with name: '{thing}'"

        recreated = dev.shadow.update_shadow(iotshadow.UpdateShadowRequest(
            thing_name=thing, state=iotshadow.ShadowState(desired={"anc": {"mode": "off"}}))
        ).result(TIMEOUT_S)
        assert recreated.version == 2  # the version counter survives the delete


def test_v2_wrong_version_is_a_409_and_service_keeps_serving(stack: Any) -> None:
    thing = "v2-version"
    with v2_device(stack, thing) as dev:
        def update(version: int | None, value: int) -> Any:
            return dev.shadow.update_shadow(iotshadow.UpdateShadowRequest(
                thing_name=thing, version=version,
                state=iotshadow.ShadowState(reported={"n": value})))

        assert update(None, 1).result(TIMEOUT_S).version == 1
        conflict = service_error(update(7, 2))
        assert conflict.code == 409 and conflict.message.startswith("Version conflict")
        assert update(1, 3).result(TIMEOUT_S).version == 2
        got = dev.shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)
                                    ).result(TIMEOUT_S)
        assert got.state.reported == {"n": 3}


def test_v2_named_shadow_and_http_listing(stack: Any) -> None:
    thing = "v2-named"
    with v2_device(stack, thing) as dev:
        for name in ("config", "status"):
            dev.shadow.update_named_shadow(iotshadow.UpdateNamedShadowRequest(
                thing_name=thing, shadow_name=name,
                state=iotshadow.ShadowState(reported={"which": name}))).result(TIMEOUT_S)
        got = dev.shadow.get_named_shadow(iotshadow.GetNamedShadowRequest(
            thing_name=thing, shadow_name="status")).result(TIMEOUT_S)
        assert got.state.reported == {"which": "status"}
        missing = service_error(dev.shadow.get_shadow(iotshadow.GetShadowRequest(
            thing_name=thing)))
        assert missing.code == 404
        dev.shadow.delete_named_shadow(iotshadow.DeleteNamedShadowRequest(
            thing_name=thing, shadow_name="config")).result(TIMEOUT_S)
    listed = iot_data(stack).list_named_shadows_for_thing(thingName=thing)
    assert listed["results"] == ["status"]


def test_http_desired_change_reaches_the_device_as_delta_and_documents(stack: Any) -> None:
    thing = "v2-delta"
    with v2_device(stack, thing) as dev:
        dev.shadow.update_shadow(iotshadow.UpdateShadowRequest(
            thing_name=thing, state=iotshadow.ShadowState(
                reported={"anc": {"mode": "anc", "mu": 0.1}, "seq": [1, 2]}))).result(TIMEOUT_S)
        deltas = dev.open_stream(dev.shadow.create_shadow_delta_updated_stream,
                                 iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing))
        documents = dev.open_stream(dev.shadow.create_shadow_updated_stream,
                                    iotshadow.ShadowUpdatedSubscriptionRequest(thing_name=thing))

        accepted = http_update(stack, thing, {
            "state": {"desired": {"anc": {"mode": "transparency", "mu": 0.1}, "seq": [1, 2, 3]}},
            "clientToken": "console-1"})
        assert accepted["version"] == 2 and accepted["clientToken"] == "console-1"

        delta = deltas.get(timeout=TIMEOUT_S)
        assert delta.version == 2
        assert delta.state == {"anc": {"mode": "transparency"}, "seq": [1, 2, 3]}
        assert set(delta.metadata["anc"]["mode"]) == {"timestamp"}
        docs = documents.get(timeout=TIMEOUT_S)
        assert docs.previous.version == 1 and docs.current.version == 2
        assert docs.previous.state.desired is None
        assert docs.current.state.desired["anc"]["mode"] == "transparency"

        # The device applies the change; reporting it clears the delta.
        dev.shadow.update_shadow(iotshadow.UpdateShadowRequest(
            thing_name=thing, state=iotshadow.ShadowState(
                reported={"anc": {"mode": "transparency"}, "seq": [1, 2, 3]}))).result(TIMEOUT_S)
        got = dev.shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)
                                    ).result(TIMEOUT_S)
        assert got.state.delta is None and got.version == 3
        with pytest.raises(queue.Empty):
            deltas.get(timeout=0.3)


# --- MQTT 3.1.1 + IotShadowClient ----------------------------------------------------------

def test_mqtt311_client_update_delta_get_and_rejection(stack: Any) -> None:
    thing = "v1-device"
    with v1_device(stack, thing) as (_, shadow):
        inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        q = mqtt.QoS.AT_LEAST_ONCE
        subscriptions = [
            shadow.subscribe_to_update_shadow_accepted(
                iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), q,
                lambda r: inbox.put(("update/accepted", r))),
            shadow.subscribe_to_update_shadow_rejected(
                iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), q,
                lambda r: inbox.put(("update/rejected", r))),
            shadow.subscribe_to_shadow_delta_updated_events(
                iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing), q,
                lambda r: inbox.put(("update/delta", r))),
            shadow.subscribe_to_get_shadow_accepted(
                iotshadow.GetShadowSubscriptionRequest(thing_name=thing), q,
                lambda r: inbox.put(("get/accepted", r))),
        ]
        for future, _ in subscriptions:
            future.result(TIMEOUT_S)

        def expect(kind: str) -> Any:
            got_kind, response = inbox.get(timeout=TIMEOUT_S)
            assert got_kind == kind, (got_kind, response)
            return response

        shadow.publish_update_shadow(iotshadow.UpdateShadowRequest(
            thing_name=thing, client_token="v1-a",
            state=iotshadow.ShadowState(desired={"telemetry": {"interval_s": 5}})), q
        ).result(TIMEOUT_S)
        accepted = expect("update/accepted")
        assert accepted.client_token == "v1-a" and accepted.version == 1
        delta = expect("update/delta")
        assert delta.state == {"telemetry": {"interval_s": 5}}

        shadow.publish_update_shadow(iotshadow.UpdateShadowRequest(
            thing_name=thing, client_token="v1-b", version=5,
            state=iotshadow.ShadowState(reported={"telemetry": {"interval_s": 5}})), q
        ).result(TIMEOUT_S)
        rejected = expect("update/rejected")
        assert (rejected.code, rejected.client_token) == (409, "v1-b")

        shadow.publish_get_shadow(iotshadow.GetShadowRequest(thing_name=thing,
                                                             client_token="v1-c"), q
                                  ).result(TIMEOUT_S)
        got = expect("get/accepted")
        assert got.client_token == "v1-c"
        assert got.state.delta == {"telemetry": {"interval_s": 5}} and got.version == 1


# --- malformed input over MQTT -------------------------------------------------------------

def test_malformed_mqtt_requests_are_rejected_and_service_keeps_serving(stack: Any) -> None:
    thing = "raw-device"
    with raw_device(stack, thing) as dev:
        assert dev.request("update", '{"state": {"reported": {"a": 1}}}')[0] == "accepted"
        cases: list[tuple[bytes | str, int, str]] = [
            (b"{not json", 400, "Invalid JSON"),
            (json.dumps({"state": {"reported": {"blob": "x" * 9000}}, "clientToken": "big"}),
             413, "The payload exceeds the maximum size allowed"),
            (b'{"state": {"reported": ' + b'{"a": ' * 7 + b"1" + b"}" * 7 + b"}}", 400,
             "JSON contains too many levels of nesting; maximum is 6"),
            (json.dumps({"state": {}, "clientToken": "t" * 65}), 400, "Invalid clientToken"),
            (json.dumps({"state": {"reported": {"a": 2}}, "version": 42, "clientToken": "old"}),
             409, "Version conflict"),
            (json.dumps({"state": {"desired": [1]}}), 400, "Desired node must be an object"),
        ]
        for payload, code, message in cases:
            outcome, doc = dev.request("update", payload)
            assert outcome == "rejected", (payload, doc)
            assert doc["code"] == code and doc["message"].startswith(message), doc
            assert isinstance(doc["timestamp"], int)
        assert dev.request("update", json.dumps({"state": {"x": 1}, "clientToken": "echo"})
                           )[1]["clientToken"] == "echo"

        outcome, doc = dev.request("get", "", shadow_name="never-made")
        assert outcome == "rejected" and doc["code"] == 404
        outcome, doc = dev.request("delete", b"{oops", shadow_name="never-made")
        assert outcome == "rejected" and doc["code"] == 400

        # Not a shadow request: ignored, and nothing breaks.
        dev.publish("bogus", b"{}")
        dev.publish("update/extra/levels", b"{}")
        outcome, doc = dev.request("get", '{"clientToken": "after"}')
        assert outcome == "accepted" and doc["clientToken"] == "after"
        assert doc["state"] == {"reported": {"a": 1}} and doc["version"] == 1


# --- durability and recovery -----------------------------------------------------------------

def test_shadows_survive_an_emulator_restart(stack: Any) -> None:
    thing = "durable"
    http_update(stack, thing, {"state": {"desired": {"filter": {"version": 3}}}})
    http_update(stack, thing, {"state": {"reported": {"filter": {"version": 2}}}},
                shadowName="status")
    stack.restart_emulator()
    doc = json.loads(iot_data(stack).get_thing_shadow(thingName=thing)["payload"].read())
    assert doc["version"] == 1 and doc["state"]["delta"] == {"filter": {"version": 3}}
    with v2_device(stack, thing) as dev:
        named = dev.shadow.get_named_shadow(iotshadow.GetNamedShadowRequest(
            thing_name=thing, shadow_name="status")).result(TIMEOUT_S)
        assert named.state.reported == {"filter": {"version": 2}}


def test_service_resubscribes_after_a_broker_restart(stack: Any) -> None:
    thing = "broker-restart"
    http_update(stack, thing, {"state": {"reported": {"up": 1}}})
    stack.restart_mosquitto()
    deadline = time.monotonic() + 15
    while True:
        try:
            with raw_device(stack, thing) as dev:
                outcome, doc = dev.request("get", "", timeout=1.0)
                break
        except (RuntimeError, OSError, queue.Empty):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert outcome == "accepted" and doc["state"] == {"reported": {"up": 1}}
