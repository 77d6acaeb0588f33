"""Device-side clients against the local stack: the AWS IoT SDK (MQTT5 and 3.1.1) and paho.

Each device connects with its own certificate and client id = thing name, as IoT Core and
the local broker require.
"""

from __future__ import annotations

import json
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import awsiot
import paho.mqtt.client as paho
from awscrt import mqtt, mqtt5, mqtt_request_response
from awsiot import iotshadow, mqtt5_client_builder, mqtt_connection_builder
from paho.mqtt.subscribeoptions import SubscribeOptions

TIMEOUT_S = 10.0


class Stack(Protocol):
    env: dict[str, Any]

    def device_cert(self, thing: str) -> tuple[Any, Any]: ...


@dataclass
class V2Device:
    client: mqtt5.Client
    shadow: iotshadow.IotShadowClientV2

    def open_stream(self, create: Any, request: Any) -> queue.Queue[Any]:
        """Open a V2 event stream and wait until its subscription is established."""
        events: queue.Queue[Any] = queue.Queue()
        established = threading.Event()

        def status(event: mqtt_request_response.SubscriptionStatusEvent) -> None:
            if event.type == mqtt_request_response.SubscriptionStatusEventType.\
                    SUBSCRIPTION_ESTABLISHED:
                established.set()

        stream = create(request, awsiot.ServiceStreamOptions(
            incoming_event_listener=events.put, subscription_status_listener=status))
        stream.open()
        assert established.wait(TIMEOUT_S), "shadow event stream was not subscribed"
        self._streams.append(stream)
        return events

    def __post_init__(self) -> None:
        self._streams: list[Any] = []


@contextmanager
def v2_device(stack: Stack, thing: str,
              on_publish: Callable[[str, bytes], object] | None = None) -> Iterator[V2Device]:
    """An MQTT5 client with IotShadowClientV2 (request/response matched by clientToken).

    `on_publish(topic, payload)` sees every message the client's subscriptions receive."""
    cert, key = stack.device_cert(thing)
    connected: Future[bool] = Future()
    stopped = threading.Event()

    def succeeded(_: object) -> None:
        if not connected.done():
            connected.set_result(True)

    def failed(event: mqtt5.LifecycleConnectFailureData) -> None:
        if not connected.done():
            connected.set_exception(RuntimeError(f"MQTT5 connect failed: {event.exception}"))

    client = mqtt5_client_builder.mtls_from_path(
        endpoint=stack.env["mqtt_host"], port=int(stack.env["mqtt_port"]),
        cert_filepath=str(cert), pri_key_filepath=str(key), ca_filepath=stack.env["ca_path"],
        client_id=thing,
        on_lifecycle_connection_success=succeeded,
        on_lifecycle_connection_failure=failed,
        on_lifecycle_stopped=lambda _: stopped.set(),
        on_publish_received=(lambda data: on_publish(data.publish_packet.topic,
                                                     bytes(data.publish_packet.payload)))
        if on_publish else None)
    client.start()
    try:
        connected.result(TIMEOUT_S)
        options = mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=4, max_streaming_subscriptions=4,
            operation_timeout_in_seconds=int(TIMEOUT_S))
        yield V2Device(client, iotshadow.IotShadowClientV2(client, options))
    finally:
        client.stop()
        stopped.wait(TIMEOUT_S)


@contextmanager
def v1_device(stack: Stack, thing: str) -> Iterator[tuple[mqtt.Connection,
                                                          iotshadow.IotShadowClient]]:
    """An MQTT 3.1.1 connection with the publish/subscribe IotShadowClient."""
    cert, key = stack.device_cert(thing)
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=stack.env["mqtt_host"], port=int(stack.env["mqtt_port"]),
        cert_filepath=str(cert), pri_key_filepath=str(key), ca_filepath=stack.env["ca_path"],
        client_id=thing, clean_session=True, keep_alive_secs=30)
    connection.connect().result(TIMEOUT_S)
    try:
        yield connection, iotshadow.IotShadowClient(connection)
    finally:
        connection.disconnect().result(TIMEOUT_S)


class RawDevice:
    """A paho MQTT5 device that can publish anything and records every shadow response."""

    def __init__(self, stack: Stack, thing: str) -> None:
        self.thing = thing
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        cert, key = stack.device_cert(thing)
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=thing,
                                   protocol=paho.MQTTv5)
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=stack.env["ca_path"])
        context.load_cert_chain(str(cert), str(key))
        self._client.tls_set_context(context)
        subscribed = threading.Event()
        # noLocal: the device does not hear its own requests, only the service's answers.
        def on_connect(client: paho.Client, *_: object) -> None:
            sock = client.socket()
            if isinstance(sock, socket.socket):  # no Nagle delay on small requests
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.subscribe(f"$aws/things/{thing}/shadow/#",
                             options=SubscribeOptions(qos=1, noLocal=True))

        self._client.on_connect = on_connect
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = lambda _c, _u, m: self.messages.put(
            (m.topic, json.loads(m.payload)))
        self._client.connect(stack.env["mqtt_host"], int(stack.env["mqtt_port"]))
        self._client.loop_start()
        if not subscribed.wait(TIMEOUT_S):
            self.close()
            raise RuntimeError(f"paho device {thing} could not subscribe")

    def publish(self, suffix: str, payload: bytes | str) -> None:
        info = self._client.publish(f"$aws/things/{self.thing}/shadow/{suffix}", payload, qos=1)
        info.wait_for_publish(TIMEOUT_S)

    def next(self, suffix: str, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        """The next message on `$aws/things/{thing}/shadow/{suffix}`, skipping others."""
        topic = f"$aws/things/{self.thing}/shadow/{suffix}"
        while True:
            got, doc = self.messages.get(timeout=timeout)
            if got == topic:
                return doc

    def request(self, operation: str, payload: bytes | str, shadow_name: str | None = None,
                timeout: float = TIMEOUT_S) -> tuple[str, dict[str, Any]]:
        """Publish a request and return ('accepted'|'rejected', document)."""
        prefix = f"name/{shadow_name}/{operation}" if shadow_name else operation
        self.publish(prefix, payload)
        wanted = {f"$aws/things/{self.thing}/shadow/{prefix}/{r}": r
                  for r in ("accepted", "rejected")}
        while True:
            topic, doc = self.messages.get(timeout=timeout)
            if topic in wanted:
                return wanted[topic], doc

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        while not self.messages.empty():
            out.append(self.messages.get_nowait())
        return out

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def raw_device(stack: Stack, thing: str) -> Iterator[RawDevice]:
    device = RawDevice(stack, thing)
    try:
        yield device
    finally:
        device.close()
