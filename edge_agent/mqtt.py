"""The device's MQTT 5 connection: awsiotsdk with mutual TLS, to AWS IoT Core or the local stack.

Which broker is used is decided only by `MqttConfig` (host, port, CA, certificate, key):
the same code talks to `<account>-ats.iot.<region>.amazonaws.com:8883` and to the local
stack's Mosquitto (ARCHITECTURE §7).

- The SDK client reconnects by itself with exponential backoff and full jitter
  (`min_reconnect_ms` .. `max_reconnect_ms`); `on_connected` / `on_disconnected` are called on
  every transition so the agent can re-subscribe and re-GET the shadow.
- Sessions are clean: after each (re)connect the owner subscribes again (`subscribe`).
- `publish` returns a future that resolves to the PUBACK reason (`SUCCESS`, or
  `NO_MATCHING_SUBSCRIBERS` from brokers that say so, e.g. Mosquitto). Operations are
  failed, not queued, while disconnected (`FAIL_ALL_ON_DISCONNECT`): the durable outbox is
  the queue.
- Callbacks from the SDK run on its event-loop thread; `on_message` must only hand the
  message over (e.g. put it in a queue), never block.
- Certificates are checked up front (`check_credentials`) so a broken PEM file gives an
  error naming the file instead of an opaque TLS failure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from awscrt import mqtt5
from awsiot import mqtt5_client_builder
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from edge_agent.config import MqttConfig

MessageHandler = Callable[[str, bytes], None]
Listener = Callable[[], None]

# PUBACK reason codes that mean "the broker has the message".
_DELIVERED = (mqtt5.PubackReasonCode.SUCCESS, mqtt5.PubackReasonCode.NO_MATCHING_SUBSCRIBERS)


class MqttError(RuntimeError):
    """An MQTT operation failed (not connected, timed out, or refused by the broker)."""


class CredentialsError(ValueError):
    """The CA, certificate or private key cannot be used; the message names the file."""


class PublishRejected(MqttError):
    """The broker answered a publish with an error PUBACK (e.g. 0x87 not authorized)."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"publish to {topic} refused by the broker: {reason}")
        self.topic = topic
        self.reason = reason


def _read_pem(label: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"[mqtt] {label}: cannot read {path}: {exc.strerror}") from None


def check_credentials(cfg: MqttConfig) -> None:
    """Raise CredentialsError naming the file if the CA, certificate or key is not usable PEM,
    or if the key does not belong to the certificate."""
    try:
        x509.load_pem_x509_certificates(_read_pem("ca", cfg.ca_path))
    except ValueError:
        raise CredentialsError(
            f"[mqtt] ca: {cfg.ca_path} is not a PEM certificate") from None
    try:
        cert = x509.load_pem_x509_certificate(_read_pem("cert", cfg.cert_path))
    except ValueError:
        raise CredentialsError(
            f"[mqtt] cert: {cfg.cert_path} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(_read_pem("key", cfg.key_path), password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialsError(
            f"[mqtt] key: {cfg.key_path} is not an unencrypted PEM private key ({exc})") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (cert.public_key().public_bytes(serialization.Encoding.DER, public)
            != key.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise CredentialsError(
            f"[mqtt] key: {cfg.key_path} does not belong to the certificate {cfg.cert_path}")


class MqttConnection:
    """One MQTT 5 client with mutual TLS that keeps itself connected until `stop()`."""

    def __init__(self, cfg: MqttConfig, client_id: str, *, on_message: MessageHandler,
                 on_connected: Listener | None = None,
                 on_disconnected: Listener | None = None,
                 min_reconnect_ms: int = 500, max_reconnect_ms: int = 30_000,
                 ack_timeout_s: int = 10) -> None:
        check_credentials(cfg)
        self.client_id = client_id
        self.connected = threading.Event()
        self.connections = 0  # successful connects so far
        self.last_error: str | None = None
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._stopped = threading.Event()
        try:
            self._client = mqtt5_client_builder.mtls_from_path(
                endpoint=cfg.host, port=cfg.port, ca_filepath=str(cfg.ca_path),
                cert_filepath=str(cfg.cert_path), pri_key_filepath=str(cfg.key_path),
                client_id=client_id, keep_alive_interval_sec=max(cfg.keepalive_s, 5),
                session_behavior=mqtt5.ClientSessionBehaviorType.CLEAN,
                offline_queue_behavior=mqtt5.ClientOperationQueueBehaviorType
                .FAIL_ALL_ON_DISCONNECT,
                retry_jitter_mode=mqtt5.ExponentialBackoffJitterMode.FULL,
                min_reconnect_delay_ms=min_reconnect_ms, max_reconnect_delay_ms=max_reconnect_ms,
                ack_timeout_sec=ack_timeout_s, ping_timeout_ms=min(3000, cfg.keepalive_s * 500),
                on_publish_received=self._handle_publish,
                on_lifecycle_connection_success=self._handle_success,
                on_lifecycle_connection_failure=self._handle_failure,
                on_lifecycle_disconnection=self._handle_disconnection,
                on_lifecycle_stopped=lambda _data: self._stopped.set(),
            )
        except Exception as exc:  # awscrt raises its own error type for TLS setup problems
            raise CredentialsError(f"[mqtt]: cannot set up mutual TLS with {cfg.cert_path} "
                                   f"and {cfg.key_path}: {exc}") from None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Begin connecting (in the background); returns at once."""
        self._stopped.clear()
        self._client.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect cleanly and stop reconnecting."""
        self._client.stop(mqtt5.DisconnectPacket())
        self._stopped.wait(timeout)
        self.connected.clear()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def _handle_success(self, _data: mqtt5.LifecycleConnectSuccessData) -> None:
        self.connections += 1
        self.last_error = None
        self.connected.set()
        if self._on_connected is not None:
            self._on_connected()

    def _handle_failure(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        packet = data.connack_packet
        self.last_error = (f"CONNACK {packet.reason_code.name}" if packet is not None
                           else str(data.exception))

    def _handle_disconnection(self, data: mqtt5.LifecycleDisconnectData) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.last_error = str(data.exception) if data.exception is not None else None
        if was_connected and self._on_disconnected is not None:
            self._on_disconnected()

    def _handle_publish(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        self._on_message(packet.topic, bytes(packet.payload or b""))

    # ----------------------------------------------------------------- operations

    def subscribe(self, filters: Sequence[str], timeout: float = 10.0) -> None:
        """Subscribe at QoS 1 and wait for the SUBACK; MqttError if any filter is refused."""
        packet = mqtt5.SubscribePacket(subscriptions=[
            mqtt5.Subscription(topic_filter=f, qos=mqtt5.QoS.AT_LEAST_ONCE) for f in filters])
        try:
            suback = self._client.subscribe(packet).result(timeout)
        except Exception as exc:
            raise MqttError(f"subscribe to {list(filters)} failed: {_describe(exc)}") from None
        codes = suback.reason_codes
        refused = [f"{f}: {code.name}" for f, code in zip(filters, codes, strict=False)
                   if code.value >= 0x80]
        if refused:
            raise MqttError(f"subscription refused: {', '.join(refused)}")

    def publish(self, topic: str, payload: bytes) -> Future[str]:
        """Publish at QoS 1. The future resolves to the PUBACK reason name when it arrives
        and raises PublishRejected for an error PUBACK or MqttError if the publish failed."""
        result: Future[str] = Future()
        try:
            sdk_future = self._client.publish(mqtt5.PublishPacket(
                topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE))
        except Exception as exc:
            result.set_exception(MqttError(f"publish to {topic} failed: {_describe(exc)}"))
            return result

        def done(f: Future[Any]) -> None:
            try:
                puback = f.result().puback
            except Exception as exc:
                result.set_exception(MqttError(f"publish to {topic} failed: {_describe(exc)}"))
                return
            if puback is not None and puback.reason_code not in _DELIVERED:
                result.set_exception(PublishRejected(topic, puback.reason_code.name))
            else:
                result.set_result("SUCCESS" if puback is None else puback.reason_code.name)

        sdk_future.add_done_callback(done)
        return result


def _describe(exc: BaseException) -> str:
    name = getattr(exc, "name", None)
    return f"{name}" if name else f"{type(exc).__name__}: {exc}"


__all__ = ["CredentialsError", "MqttConnection", "MqttError", "PublishRejected",
           "check_credentials"]
