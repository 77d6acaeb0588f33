"""One interface over the three ways a client reaches the shadow service, for behaviour tests.

- `V2Client`: awsiotsdk `IotShadowClientV2` over MQTT5 (request/response matched by
  clientToken; it makes the token). Bad JSON cannot be expressed through its modeled
  requests, so `raw_update` publishes the bytes with the same SDK MQTT5 client.
- `V311Client`: an awsiotsdk MQTT 3.1.1 connection; requests through `IotShadowClient`,
  answers read as JSON from the `/accepted` and `/rejected` topics.
- `HttpClient`: boto3 `iot-data` against the emulator's HTTP API.

Every call returns a `Reply`: `outcome` ("accepted"/"rejected"), the response document as a
dict (errors as `{"code", "message", "clientToken"?}`), and the clientToken that was sent.
"""

from __future__ import annotations

import itertools
import json
import queue
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from awscrt import mqtt, mqtt5
from awsiot import V2ServiceException, iotshadow
from botocore.exceptions import ClientError

from protocol.topics import shadow_topic
from tests.cloud.shadow.devices import TIMEOUT_S, Stack, v1_device, v2_device

_tokens = itertools.count()


@dataclass
class Reply:
    outcome: str
    doc: dict[str, Any]
    sent_token: str | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


def next_token(kind: str) -> str:
    return f"{kind}-{next(_tokens)}"


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


# --- IotShadowClientV2 over MQTT5 ----------------------------------------------------------

class V2Client:
    kind = "mqtt5-v2"

    def __init__(self, device: Any, thing: str, inbox: queue.Queue[tuple[str, bytes]]) -> None:
        self.device = device
        self.thing = thing
        self._inbox = inbox
        self._raw_subscribed = False

    def _call(self, future: Any, request: Any) -> Reply:
        try:
            response = future.result(TIMEOUT_S)
        except V2ServiceException as exc:
            error = exc.modeled_error
            assert error is not None, exc
            return Reply("rejected", _drop_none({"code": error.code, "message": error.message,
                                                 "clientToken": error.client_token}),
                         request.client_token)
        doc: dict[str, Any] = {"version": response.version, "clientToken": response.client_token}
        state = getattr(response, "state", None)
        if state is not None:
            doc["state"] = _drop_none({k: getattr(state, k, None)
                                       for k in ("desired", "reported", "delta")})
        metadata = getattr(response, "metadata", None)
        if metadata is not None:
            doc["metadata"] = _drop_none({"desired": metadata.desired,
                                          "reported": metadata.reported})
        return Reply("accepted", doc, request.client_token)

    def update(self, request: dict[str, Any], name: str | None = None) -> Reply:
        state = request["state"]
        shadow_state = iotshadow.ShadowState(
            desired=state.get("desired"), reported=state.get("reported"),
            desired_is_nullable="desired" in state and state["desired"] is None,
            reported_is_nullable="reported" in state and state["reported"] is None)
        version = request.get("version")
        if name is None:
            modeled: Any = iotshadow.UpdateShadowRequest(thing_name=self.thing,
                                                         state=shadow_state, version=version)
            return self._call(self.device.shadow.update_shadow(modeled), modeled)
        modeled = iotshadow.UpdateNamedShadowRequest(thing_name=self.thing, shadow_name=name,
                                                     state=shadow_state, version=version)
        return self._call(self.device.shadow.update_named_shadow(modeled), modeled)

    def get(self, name: str | None = None) -> Reply:
        if name is None:
            modeled: Any = iotshadow.GetShadowRequest(thing_name=self.thing)
            return self._call(self.device.shadow.get_shadow(modeled), modeled)
        modeled = iotshadow.GetNamedShadowRequest(thing_name=self.thing, shadow_name=name)
        return self._call(self.device.shadow.get_named_shadow(modeled), modeled)

    def delete(self, name: str | None = None) -> Reply:
        if name is None:
            modeled: Any = iotshadow.DeleteShadowRequest(thing_name=self.thing)
            return self._call(self.device.shadow.delete_shadow(modeled), modeled)
        modeled = iotshadow.DeleteNamedShadowRequest(thing_name=self.thing, shadow_name=name)
        return self._call(self.device.shadow.delete_named_shadow(modeled), modeled)

    def raw_update(self, payload: bytes) -> Reply:
        """Publish `payload` (which carries no clientToken) to the update topic; the answer.

        Listens through its own wildcard filter: the SDK's request-response client subscribes
        to the exact `/accepted` and `/rejected` filters per request and unsubscribes them
        when a request completes, which would silently remove an identical subscription of
        ours at the broker. Answers that carry a clientToken belong to the SDK's requests."""
        accepted = shadow_topic(self.thing, "update", "accepted")
        rejected = shadow_topic(self.thing, "update", "rejected")
        client: mqtt5.Client = self.device.client
        if not self._raw_subscribed:
            client.subscribe(mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(
                shadow_topic(self.thing, "update") + "/+", mqtt5.QoS.AT_LEAST_ONCE)])
            ).result(TIMEOUT_S)
            self._raw_subscribed = True
        # A broker may deliver one answer once per matching subscription (ours and the SDK's):
        # a copy of an earlier answer must not be taken for this one.
        while not self._inbox.empty():
            self._inbox.get_nowait()
        client.publish(mqtt5.PublishPacket(topic=shadow_topic(self.thing, "update"),
                                           payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)
                       ).result(TIMEOUT_S)
        while True:
            topic, body = self._inbox.get(timeout=TIMEOUT_S)
            if topic not in (rejected, accepted):
                continue
            doc = json.loads(body)
            if "clientToken" not in doc:
                return Reply(topic.rsplit("/", 1)[1], doc)


# --- IotShadowClient over MQTT 3.1.1 --------------------------------------------------------

class V311Client:
    kind = "mqtt311"

    def __init__(self, connection: mqtt.Connection, shadow: iotshadow.IotShadowClient,
                 thing: str) -> None:
        self.connection = connection
        self.shadow = shadow
        self.thing = thing
        self._subscribed: set[str] = set()
        self._inbox: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    def _listen(self, operation: str, name: str | None) -> None:
        for response in ("accepted", "rejected"):
            topic = shadow_topic(self.thing, operation, response, name)
            if topic not in self._subscribed:
                future, _ = self.connection.subscribe(
                    topic, mqtt.QoS.AT_LEAST_ONCE,
                    lambda topic, payload, **_: self._inbox.put((topic, json.loads(payload))))
                future.result(TIMEOUT_S)
                self._subscribed.add(topic)

    def _answer(self, operation: str, name: str | None, token: str | None) -> Reply:
        wanted = {shadow_topic(self.thing, operation, r, name): r
                  for r in ("accepted", "rejected")}
        while True:
            topic, doc = self._inbox.get(timeout=TIMEOUT_S)
            if topic in wanted and (token is None or doc.get("clientToken") == token):
                return Reply(wanted[topic], doc, token)

    def update(self, request: dict[str, Any], name: str | None = None) -> Reply:
        self._listen("update", name)
        token = request.get("clientToken") or next_token(self.kind)
        state = request["state"]
        shadow_state = iotshadow.ShadowState(
            desired=state.get("desired"), reported=state.get("reported"),
            desired_is_nullable="desired" in state and state["desired"] is None,
            reported_is_nullable="reported" in state and state["reported"] is None)
        qos = mqtt.QoS.AT_LEAST_ONCE
        if name is None:
            self.shadow.publish_update_shadow(iotshadow.UpdateShadowRequest(
                thing_name=self.thing, state=shadow_state, version=request.get("version"),
                client_token=token), qos).result(TIMEOUT_S)
        else:
            self.shadow.publish_update_named_shadow(iotshadow.UpdateNamedShadowRequest(
                thing_name=self.thing, shadow_name=name, state=shadow_state,
                version=request.get("version"), client_token=token), qos).result(TIMEOUT_S)
        return self._answer("update", name, token)

    def get(self, name: str | None = None) -> Reply:
        self._listen("get", name)
        token = next_token(self.kind)
        qos = mqtt.QoS.AT_LEAST_ONCE
        if name is None:
            self.shadow.publish_get_shadow(iotshadow.GetShadowRequest(
                thing_name=self.thing, client_token=token), qos).result(TIMEOUT_S)
        else:
            self.shadow.publish_get_named_shadow(iotshadow.GetNamedShadowRequest(
                thing_name=self.thing, shadow_name=name, client_token=token), qos
            ).result(TIMEOUT_S)
        return self._answer("get", name, token)

    def delete(self, name: str | None = None) -> Reply:
        self._listen("delete", name)
        token = next_token(self.kind)
        qos = mqtt.QoS.AT_LEAST_ONCE
        if name is None:
            self.shadow.publish_delete_shadow(iotshadow.DeleteShadowRequest(
                thing_name=self.thing, client_token=token), qos).result(TIMEOUT_S)
        else:
            self.shadow.publish_delete_named_shadow(iotshadow.DeleteNamedShadowRequest(
                thing_name=self.thing, shadow_name=name, client_token=token), qos
            ).result(TIMEOUT_S)
        return self._answer("delete", name, token)

    def raw_update(self, payload: bytes) -> Reply:
        self._listen("update", None)
        future, _ = self.connection.publish(shadow_topic(self.thing, "update"), payload,
                                            mqtt.QoS.AT_LEAST_ONCE)
        future.result(TIMEOUT_S)
        return self._answer("update", None, None)


# --- boto3 iot-data over HTTP ---------------------------------------------------------------

class HttpClient:
    kind = "http"

    def __init__(self, stack: Stack, thing: str) -> None:
        self.thing = thing
        self.iot_data = boto3.client(
            "iot-data", endpoint_url=stack.env["iot_data_endpoint_url"],
            region_name=stack.env["region"], aws_access_key_id="local",
            aws_secret_access_key="local")

    def _call(self, method: str, token: str | None = None, **kwargs: Any) -> Reply:
        try:
            response = getattr(self.iot_data, method)(thingName=self.thing, **kwargs)
        except ClientError as exc:
            error = exc.response["Error"]
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            return Reply("rejected", {"code": status, "message": error.get("Message", ""),
                                      "exception": error.get("Code")}, token)
        return Reply("accepted", json.loads(response["payload"].read()), token)

    @staticmethod
    def _named(name: str | None) -> dict[str, str]:
        return {} if name is None else {"shadowName": name}

    def update(self, request: dict[str, Any], name: str | None = None) -> Reply:
        token = request.get("clientToken") or next_token(self.kind)
        body = json.dumps({**request, "clientToken": token})
        return self._call("update_thing_shadow", token, payload=body, **self._named(name))

    def get(self, name: str | None = None) -> Reply:
        return self._call("get_thing_shadow", **self._named(name))

    def delete(self, name: str | None = None) -> Reply:
        return self._call("delete_thing_shadow", **self._named(name))

    def raw_update(self, payload: bytes) -> Reply:
        return self._call("update_thing_shadow", payload=payload)


KINDS = (V2Client.kind, V311Client.kind, HttpClient.kind)
ShadowClient = V2Client | V311Client | HttpClient


@contextmanager
def shadow_client(stack: Stack, kind: str, thing: str) -> Iterator[ShadowClient]:
    """A connected client of `kind` acting for `thing` (HTTP acts for any thing)."""
    with ExitStack() as exits:
        if kind == V2Client.kind:
            inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
            device = exits.enter_context(v2_device(
                stack, thing, on_publish=lambda topic, payload: inbox.put((topic, payload))))
            yield V2Client(device, thing, inbox)
        elif kind == V311Client.kind:
            connection, shadow = exits.enter_context(v1_device(stack, thing))
            yield V311Client(connection, shadow, thing)
        else:
            yield HttpClient(stack, thing)
