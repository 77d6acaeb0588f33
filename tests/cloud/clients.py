"""MQTT clients for the local-stack tests: paho MQTT 5 devices and awsiotsdk MQTT 5 devices."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode


@dataclass
class Device:
    """A connected paho client that records what it receives."""

    client: mqtt.Client
    connack: ReasonCode
    received: queue.Queue[tuple[str, bytes]] = field(default_factory=queue.Queue)

    def subscribe(self, topic_filter: str, timeout: float = 5.0) -> list[ReasonCode]:
        done = threading.Event()
        granted: list[ReasonCode] = []

        def on_subscribe(_c: Any, _u: Any, _mid: int, codes: list[ReasonCode], _p: Any) -> None:
            granted.extend(codes)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe(topic_filter, qos=1)
        assert done.wait(timeout), f"no SUBACK for {topic_filter}"
        return granted

    def publish(self, topic: str, payload: str | bytes, timeout: float = 5.0) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code (0x87 = not authorized)."""
        acked = threading.Event()
        codes: list[ReasonCode] = []

        def on_publish(_c: Any, _u: Any, _mid: int, code: ReasonCode, _p: Any) -> None:
            codes.append(code)
            acked.set()

        self.client.on_publish = on_publish
        self.client.publish(topic, payload, qos=1)
        assert acked.wait(timeout), f"no PUBACK for {topic}"
        return codes[0]

    def expect_nothing(self, seconds: float = 0.5) -> list[tuple[str, bytes]]:
        time.sleep(seconds)
        found = []
        while not self.received.empty():
            found.append(self.received.get_nowait())
        return found

    def next_message(self, timeout: float = 5.0) -> tuple[str, bytes]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect_device(env: dict[str, Any], client_id: str, cert: tuple[Path, Path] | None,
                   timeout: float = 10.0) -> Device:
    """Connect with mutual TLS (or without a client certificate when `cert` is None)."""
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                         client_id=client_id, protocol=mqtt.MQTTv5)
    context = ssl.create_default_context(cafile=env["ca_path"])
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    client.tls_set_context(context)
    result: Future[ReasonCode] = Future()
    device = Device(client, ReasonCode(mqtt.PacketTypes.CONNACK, identifier=0))

    def on_connect(_c: Any, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
        if not result.done():
            result.set_result(code)

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, m: device.received.put((m.topic, bytes(m.payload)))
    client.connect(env["mqtt_host"], int(env["mqtt_port"]), keepalive=30)
    client.loop_start()
    try:
        device.connack = result.result(timeout)
    except BaseException:
        client.loop_stop()
        raise
    if device.connack.is_failure:
        client.loop_stop()
        client.disconnect()
    return device


def tls_handshake_error(env: dict[str, Any], cert: tuple[Path, Path] | None) -> str:
    """Handshake with the broker and send an MQTT CONNECT; return the TLS error, or ''."""
    context = ssl.create_default_context(cafile=env["ca_path"])
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    with socket.create_connection((env["mqtt_host"], int(env["mqtt_port"])), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=env["mqtt_host"]) as tls:
                # CONNECT, MQTT 3.1.1, clean session, keepalive 30, client id "x".
                tls.sendall(bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 1]) + b"x")
                reply = tls.recv(4)
        except (ssl.SSLError, ConnectionError) as exc:
            return f"{type(exc).__name__}: {exc}"
    return "" if reply else "closed without CONNACK"


def connect_refused(env: dict[str, Any], client_id: str,
                    cert: tuple[Path, Path] | None) -> str:
    """Try to connect; return how it was refused (CONNACK reason), or ''."""
    device = connect_device(env, client_id, cert, timeout=5.0)
    if device.connack.is_failure:
        return f"CONNACK: {device.connack}"
    device.close()
    return ""
