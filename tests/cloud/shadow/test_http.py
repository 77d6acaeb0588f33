"""The iot-data REST front through the real boto3 client (HTTP only, no broker needed)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cloud.local.shadow import ShadowEmulator


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ShadowEmulator]:
    emu = ShadowEmulator(state_dir=tmp_path, mqtt=None, http_host="127.0.0.1", http_port=0)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def iot_data(emulator: ShadowEmulator) -> Any:
    return boto3.client("iot-data", endpoint_url=f"http://127.0.0.1:{emulator.http_port}",
                        region_name="us-east-1", aws_access_key_id="local",
                        aws_secret_access_key="local")


def payload(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["payload"].read())


def update(iot_data: Any, doc: object, **kwargs: Any) -> dict[str, Any]:
    return payload(iot_data.update_thing_shadow(thingName="thing-1", payload=json.dumps(doc),
                                                **kwargs))


def test_update_get_delete_classic_shadow(iot_data: Any) -> None:
    accepted = update(iot_data, {"state": {"desired": {"anc": {"mode": "anc"}}},
                                 "clientToken": "http-1"})
    assert accepted["version"] == 1 and accepted["clientToken"] == "http-1"
    assert accepted["state"] == {"desired": {"anc": {"mode": "anc"}}}
    assert set(accepted["metadata"]["desired"]["anc"]["mode"]) == {"timestamp"}
    doc = payload(iot_data.get_thing_shadow(thingName="thing-1"))
    assert doc["state"] == {"desired": {"anc": {"mode": "anc"}}, "delta": {"anc": {"mode": "anc"}}}
    deleted = payload(iot_data.delete_thing_shadow(thingName="thing-1"))
    assert deleted["version"] == 1 and set(deleted) == {"version", "timestamp"}
    with pytest.raises(iot_data.exceptions.ResourceNotFoundException) as info:
        iot_data.get_thing_shadow(thingName="thing-1")
    assert "No shadow exists with name: 'thing-1'" in str(info.value)
    assert update(iot_data, {"state": {"reported": {"x": 1}}})["version"] == 2


def test_named_shadows_and_listing(iot_data: Any) -> None:
    for name in ("config", "status"):
        update(iot_data, {"state": {"reported": {"name": name}}}, shadowName=name)
    doc = payload(iot_data.get_thing_shadow(thingName="thing-1", shadowName="status"))
    assert doc["state"]["reported"] == {"name": "status"}
    with pytest.raises(iot_data.exceptions.ResourceNotFoundException):
        iot_data.get_thing_shadow(thingName="thing-1")  # the classic shadow is separate
    listed = iot_data.list_named_shadows_for_thing(thingName="thing-1", pageSize=1)
    assert listed["results"] == ["config"] and listed["nextToken"] == "config"
    rest = iot_data.list_named_shadows_for_thing(thingName="thing-1",
                                                 nextToken=listed["nextToken"])
    assert rest["results"] == ["status"] and "nextToken" not in rest


@pytest.mark.parametrize(("body", "exception", "status"), [
    (b"{not json", "InvalidRequestException", 400),
    (b'{"state": {"desired": ' + b'{"a": ' * 7 + b"1" + b"}" * 7 + b"}}",
     "InvalidRequestException", 400),
    (json.dumps({"state": {"reported": {"blob": "x" * 9000}}}).encode(),
     "RequestEntityTooLargeException", 413),
    (json.dumps({"state": {"reported": {"a": 1}}, "version": 5}).encode(),
     "ConflictException", 409),
    (b"\xff\xfe\x00", "UnsupportedDocumentEncodingException", 415),
])
def test_bad_updates_raise_the_modeled_exception(iot_data: Any, body: bytes, exception: str,
                                                 status: int) -> None:
    update(iot_data, {"state": {"reported": {"a": 0}}})
    with pytest.raises(getattr(iot_data.exceptions, exception)) as info:
        iot_data.update_thing_shadow(thingName="thing-1", payload=body)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    # Nothing already accepted is lost and the service keeps serving.
    doc = payload(iot_data.get_thing_shadow(thingName="thing-1"))
    assert doc["state"] == {"reported": {"a": 0}} and doc["version"] == 1
    assert update(iot_data, {"state": {"reported": {"a": 1}}})["version"] == 2


def test_error_body_is_the_shadow_error_document(emulator: ShadowEmulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", emulator.http_port, timeout=5)
    conn.request("POST", "/things/thing-1/shadow", body=b'{"state": 3, "clientToken": "e1"}')
    response = conn.getresponse()
    doc = json.loads(response.read())
    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "InvalidRequestException"
    assert doc["code"] == 400 and doc["message"] == "State node must be an object"
    assert doc["clientToken"] == "e1" and isinstance(doc["timestamp"], int)
    # The same keep-alive connection still works after an error.
    conn.request("GET", "/things/thing-1/shadow")
    again = conn.getresponse()
    again.read()
    assert again.status == 404
    conn.request("PUT", "/things/thing-1/shadow", body=b"{}")
    wrong = conn.getresponse()
    wrong.read()
    assert (wrong.status, wrong.getheader("x-amzn-ErrorType")) == (405,
                                                                   "MethodNotAllowedException")
    conn.request("GET", "/nowhere")
    missing = conn.getresponse()
    assert missing.status == 404 and b"/nowhere" in missing.read()
    conn.close()


def test_invalid_thing_name_is_invalid_request(iot_data: Any) -> None:
    with pytest.raises(iot_data.exceptions.InvalidRequestException) as info:
        iot_data.get_thing_shadow(thingName="bad:name")
    assert "bad:name" in str(info.value)
