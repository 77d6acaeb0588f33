"""An awsiotsdk (awscrt) MQTT 5 device, the client real headsets use, for the stack tests."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

from awscrt import mqtt5
from awsiot import mqtt5_client_builder


class SdkDevice:
    """Starts connecting at construction and keeps reconnecting, like a device in the field."""

    def __init__(self, env: dict[str, Any], client_id: str, cert: tuple[Path, Path]) -> None:
        self.successes = 0
        self.connected = threading.Event()
        self.failures: queue.Queue[str] = queue.Queue()
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._lock = threading.Condition()
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint=env["mqtt_host"], port=int(env["mqtt_port"]), ca_filepath=env["ca_path"],
            cert_filepath=str(cert[0]), pri_key_filepath=str(cert[1]), client_id=client_id,
            min_reconnect_delay_ms=100, max_reconnect_delay_ms=500,
            on_lifecycle_connection_success=self._on_success,
            on_lifecycle_connection_failure=self._on_failure,
            on_lifecycle_disconnection=lambda _data: self.connected.clear(),
            on_publish_received=self._on_publish,
        )
        self.client.start()

    def _on_success(self, _data: Any) -> None:
        with self._lock:
            self.successes += 1
            self._lock.notify_all()
        self.connected.set()

    def _on_failure(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        packet = data.connack_packet
        reason = packet.reason_code.name if packet is not None else type(data.exception).__name__
        self.failures.put(reason)

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        self.received.put((packet.topic, bytes(packet.payload or b"")))

    def wait_for_connections(self, count: int, timeout: float = 15.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self.successes >= count, timeout)

    def publish(self, topic: str, payload: str, timeout: float = 10.0) -> mqtt5.PubackReasonCode:
        future = self.client.publish(mqtt5.PublishPacket(
            topic=topic, payload=payload.encode(), qos=mqtt5.QoS.AT_LEAST_ONCE))
        result = future.result(timeout)
        return result.puback.reason_code

    def stop(self) -> None:
        stopped = threading.Event()
        self.client.stop()
        stopped.wait(0.2)
