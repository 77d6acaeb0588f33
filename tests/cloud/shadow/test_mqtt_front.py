"""Routing of the MQTT front without a broker: which topic gets which answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.local.certs import LocalCA
from cloud.local.service_mqtt import ServiceMqtt
from cloud.local.shadow import ShadowService, ShadowStore
from cloud.local.shadow.mqtt_front import MqttFront, parse_request_topic


@pytest.mark.parametrize(("topic", "expected"), [
    ("$aws/things/thing-1/shadow/update", ("thing-1", None, "update")),
    ("$aws/things/thing-1/shadow/get", ("thing-1", None, "get")),
    ("$aws/things/thing-1/shadow/name/cfg/delete", ("thing-1", "cfg", "delete")),
    ("$aws/things/thing-1/shadow/update/accepted", None),
    ("$aws/things/thing-1/shadow/name/cfg/update/delta", None),
    ("$aws/things/thing-1/shadow/list", None),
    ("$aws/things/thing-1/shadow/other/cfg/get", None),
    ("$aws/things/bad.name/shadow/get", None),
    ("$aws/things/thing-1/shadow/name/bad.name/get", None),
    ("anc/v1/thing-1/telemetry", None),
])
def test_request_topics(topic: str, expected: tuple[str, str | None, str] | None) -> None:
    parsed = parse_request_topic(topic)
    got = None if parsed is None else (parsed.thing, parsed.shadow_name, parsed.operation)
    assert got == expected


class RecordingFront(MqttFront):
    """MqttFront whose publishes are recorded instead of sent (no broker in these tests)."""

    sent: list[tuple[str, dict[str, Any]]]

    def publish(self, thing: str, shadow_name: str | None, operation: str, response: str,
                doc: dict[str, Any]) -> None:
        prefix = f"{thing}/{shadow_name}" if shadow_name else thing
        self.sent.append((f"{prefix}/{operation}/{response}", doc))


class BrokenService(ShadowService):
    def get(self, thing: str, shadow_name: str | None, payload: bytes = b"") -> dict[str, Any]:
        raise RuntimeError("disk on fire")


@pytest.fixture
def settings(tmp_path: Path) -> ServiceMqtt:
    ca = LocalCA(tmp_path / "certs")
    service = ca.service()
    return ServiceMqtt("localhost", 1, ca.ca_path, service.cert_path, service.key_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ShadowStore]:
    store = ShadowStore(tmp_path / "state")
    yield store
    store.close()


def front(service: ShadowService, settings: ServiceMqtt) -> RecordingFront:
    f = RecordingFront(service, settings)
    f.sent = []
    return f


def test_update_publishes_accepted_delta_and_documents(store: ShadowStore,
                                                       settings: ServiceMqtt) -> None:
    f = front(ShadowService(store), settings)
    f.handle("$aws/things/thing-1/shadow/name/cfg/update",
             json.dumps({"state": {"desired": {"a": 1}}, "clientToken": "k"}).encode())
    assert [topic for topic, _ in f.sent] == [
        "thing-1/cfg/update/accepted", "thing-1/cfg/update/delta", "thing-1/cfg/update/documents"]
    assert all(doc["clientToken"] == "k" for _, doc in f.sent)


def test_errors_go_to_the_operations_rejected_topic(store: ShadowStore,
                                                    settings: ServiceMqtt) -> None:
    f = front(ShadowService(store), settings)
    f.handle("$aws/things/thing-1/shadow/update", b"{nope")
    f.handle("$aws/things/thing-1/shadow/delete", b"")
    assert [(t, d["code"]) for t, d in f.sent] == [("thing-1/update/rejected", 400),
                                                  ("thing-1/delete/rejected", 404)]


def test_unknown_topics_are_ignored(store: ShadowStore, settings: ServiceMqtt) -> None:
    f = front(ShadowService(store), settings)
    f.handle("$aws/things/thing-1/shadow/update/accepted", b"{}")
    f.handle("$aws/things/thing-1/shadow/bogus", b"{}")
    assert f.sent == []


def test_internal_failure_answers_500_and_keeps_serving(store: ShadowStore,
                                                        settings: ServiceMqtt) -> None:
    f = front(BrokenService(store), settings)
    f.handle("$aws/things/thing-1/shadow/get", b"")
    f.handle("$aws/things/thing-1/shadow/update", b'{"state": {"reported": {"a": 1}}}')
    assert f.sent[0][0] == "thing-1/get/rejected"
    assert f.sent[0][1]["code"] == 500 and f.sent[0][1]["message"] == "Internal service failure"
    assert f.sent[1][0] == "thing-1/update/accepted"
