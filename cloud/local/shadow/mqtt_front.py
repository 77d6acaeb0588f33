"""The shadow service's MQTT side: request topics in, response topics out.

Subscribes to `$aws/things/+/shadow/{update,get,delete}` and the named-shadow equivalents,
and answers on the same shadow's `/accepted`, `/rejected`, `/delta` and `/documents`
topics. A bad request gets `/rejected`; a topic that is not a shadow request is logged and
ignored; nothing a client sends can stop the loop.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from cloud.local.service_mqtt import ServiceMqtt, paho_client
from cloud.local.shadow import errors
from cloud.local.shadow.document import UpdateOutcome
from cloud.local.shadow.errors import ShadowError
from cloud.local.shadow.service import ShadowService
from protocol import topics

log = logging.getLogger(__name__)

ROLE = "shadow"
REQUEST_FILTERS = ("$aws/things/+/shadow/+", "$aws/things/+/shadow/name/+/+")
QOS = topics.QOS


@dataclass(frozen=True)
class ShadowRequestTopic:
    thing: str
    shadow_name: str | None
    operation: str


def parse_request_topic(topic: str) -> ShadowRequestTopic | None:
    """`$aws/things/T/shadow/OP` or `$aws/things/T/shadow/name/N/OP`; None for anything else."""
    parts = topic.split("/")
    if parts[:2] != ["$aws", "things"] or len(parts) not in (5, 7) or parts[3] != "shadow":
        return None
    if len(parts) == 7 and parts[4] != "name":
        return None
    operation = parts[-1]
    if operation not in topics.SHADOW_OPERATIONS:
        return None
    try:
        topics.check_thing_name(parts[2])
        if len(parts) == 7:
            topics.shadow_prefix(parts[2], parts[5])
    except topics.TopicError:
        return None
    return ShadowRequestTopic(parts[2], parts[5] if len(parts) == 7 else None, operation)


def _disable_nagle(client: mqtt.Client) -> None:
    """Send small packets at once: with Nagle, a response queued behind our PUBACK waits for
    the broker's delayed ACK (~40 ms)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class MqttFront:
    """Connects as the `shadow` service identity and serves shadow requests."""

    def __init__(self, service: ShadowService, settings: ServiceMqtt) -> None:
        self._service = service
        self._settings = settings
        self._subscribed = threading.Event()
        self._client = paho_client(settings, ROLE)
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self, timeout: float = 15.0) -> None:
        """Connect (retrying in the background) and wait until the request topics are subscribed."""
        self._client.connect_async(self._settings.host, self._settings.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise RuntimeError(
                f"shadow service could not subscribe on {self._settings.host}:"
                f"{self._settings.port} within {timeout:.0f} s"
                " (broker down or certificate refused)")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    # --- publishing -----------------------------------------------------------------------

    def publish(self, thing: str, shadow_name: str | None, operation: str, response: str,
                doc: dict[str, Any]) -> None:
        topic = topics.shadow_topic(thing, operation, response, shadow_name)
        self._client.publish(topic, encode(doc), qos=QOS)

    def publish_update(self, thing: str, shadow_name: str | None, outcome: UpdateOutcome) -> None:
        """The messages AWS sends for an accepted update, whichever front received it."""
        self.publish(thing, shadow_name, "update", "accepted", outcome.accepted)
        if outcome.delta is not None:
            self.publish(thing, shadow_name, "update", "delta", outcome.delta)
        self.publish(thing, shadow_name, "update", "documents", outcome.documents)

    # --- paho callbacks (network thread) ------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: ReasonCode, properties: object) -> None:
        if reason.is_failure:
            log.error("shadow service: broker refused the connection: %s", reason)
            return
        _disable_nagle(client)
        # Subscribing on every connect restores the subscriptions after a broker restart.
        client.subscribe([(f, QOS) for f in REQUEST_FILTERS])

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reasons: list[ReasonCode], properties: object) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.error("shadow service: subscription refused: %s", failed)
            return
        self._subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object,
                       reason: ReasonCode, properties: object) -> None:
        if reason.is_failure:
            log.warning("shadow service: disconnected (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        try:
            self.handle(message.topic, bytes(message.payload))
        except Exception:  # a bad message must never stop the network loop
            log.exception("shadow service: failed on a message on %s", message.topic)

    def handle(self, topic: str, payload: bytes) -> None:
        """Serve one request published on `topic`."""
        request = parse_request_topic(topic)
        if request is None:
            log.info("shadow service: ignoring message on %s (not a shadow request)", topic)
            return
        thing, name, operation = request.thing, request.shadow_name, request.operation
        try:
            if operation == "update":
                self.publish_update(thing, name, self._service.update(thing, name, payload))
            elif operation == "get":
                self.publish(thing, name, "get", "accepted",
                             self._service.get(thing, name, payload))
            else:
                self.publish(thing, name, "delete", "accepted",
                             self._service.delete(thing, name, payload))
        except ShadowError as exc:
            self.publish(thing, name, operation, "rejected", exc.payload(self._service.now()))
        except Exception:
            log.exception("shadow service: internal failure on %s", topic)
            failure = ShadowError(500, errors.INTERNAL_FAILURE)
            self.publish(thing, name, operation, "rejected", failure.payload(self._service.now()))
