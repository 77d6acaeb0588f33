"""ShadowEmulator: the Device Shadow service as the IoT Core emulator hosts it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from cloud.local.service_mqtt import ServiceMqtt
from cloud.local.shadow.http_front import HttpFront
from cloud.local.shadow.mqtt_front import MqttFront
from cloud.local.shadow.service import ShadowService
from cloud.local.shadow.store import ShadowStore

log = logging.getLogger(__name__)


class ShadowEmulator:
    """Shadows in SQLite under `state_dir`, served over MQTT (`mqtt`) and HTTP (iot-data).

    `mqtt=None` serves HTTP only (no MQTT messages are published then).
    `http_port=0` picks a free port; read the chosen one from `http_port` after `start()`.
    """

    def __init__(self, state_dir: Path, mqtt: ServiceMqtt | None,
                 http_host: str = "127.0.0.1", http_port: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.state_dir = Path(state_dir)
        self._mqtt_settings = mqtt
        self._http_host = http_host
        self._requested_port = http_port
        self._clock = clock
        self._store: ShadowStore | None = None
        self._mqtt: MqttFront | None = None
        self._http: HttpFront | None = None

    @property
    def http_port(self) -> int:
        if self._http is None:
            raise RuntimeError("ShadowEmulator.http_port is known only after start()")
        return self._http.port

    @property
    def service(self) -> ShadowService:
        if self._http is None:
            raise RuntimeError("ShadowEmulator.service exists only after start()")
        return self._http.service

    def start(self) -> None:
        self._store = ShadowStore(self.state_dir)
        service = ShadowService(self._store, self._clock)
        try:
            if self._mqtt_settings is not None:
                self._mqtt = MqttFront(service, self._mqtt_settings)
                self._mqtt.start()
            publish = self._mqtt.publish_update if self._mqtt else None
            self._http = HttpFront(service, publish, self._http_host, self._requested_port)
            self._http.start()
        except BaseException:
            self.stop()
            raise
        log.info("shadow service: store %s, HTTP on %s:%d, MQTT %s", self._store.path,
                 self._http_host, self._http.port,
                 "connected" if self._mqtt else "disabled")

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
        if self._mqtt is not None:
            self._mqtt.stop()
            self._mqtt = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> ShadowEmulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
