"""How the emulator's services connect to the local broker.

Services (shadow service, topic-rule runner, fleet provisioning) authenticate with a
certificate whose CN is SERVICE_IDENTITY; the broker's ACL grants that identity every
device topic. Each service connection uses a client id that starts with the identity,
e.g. `anc-iot-core-shadow`, so several can be connected at once.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

SERVICE_IDENTITY = "anc-iot-core"


@dataclass(frozen=True)
class ServiceMqtt:
    """Where and as whom a service connects: broker address plus the service's TLS identity."""

    host: str
    port: int
    ca_path: Path
    cert_path: Path
    key_path: Path

    def client_id(self, role: str) -> str:
        return f"{SERVICE_IDENTITY}-{role}"


def paho_client(settings: ServiceMqtt, role: str, *, persistent_v311: bool = False) -> mqtt.Client:
    """A paho client with mutual TLS for the service `role`; not yet connected.

    MQTT 5 by default. `persistent_v311`: MQTT 3.1.1 with a persistent session
    (clean_session=False), for a service that receives a high message rate: paho decodes the
    properties of every MQTT 5 PUBLISH, ~15% of its CPU per message."""
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=settings.client_id(role),
        protocol=mqtt.MQTTv311 if persistent_v311 else mqtt.MQTTv5,
        clean_session=False if persistent_v311 else None,
    )
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(settings.ca_path))
    context.load_cert_chain(str(settings.cert_path), str(settings.key_path))
    client.tls_set_context(context)
    return client
