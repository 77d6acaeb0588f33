"""ShadowService over a real SQLite store: persistence, delete/re-create, listing, threads."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.local.shadow import ShadowError, ShadowService, ShadowStore
from cloud.local.shadow.service import DELETED_VERSION_RETENTION_S


class Clock:
    def __init__(self, now: float = 1_700_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(tmp_path: Path, clock: Clock) -> Iterator[ShadowService]:
    store = ShadowStore(tmp_path)
    yield ShadowService(store, clock)
    store.close()


def test_shadows_survive_reopening_the_store(tmp_path: Path, clock: Clock) -> None:
    store = ShadowStore(tmp_path)
    ShadowService(store, clock).update("thing-1", None, body({"state": {"reported": {"a": 1}}}))
    ShadowService(store, clock).update("thing-1", "cfg", body({"state": {"desired": {"b": 2}}}))
    store.close()
    reopened = ShadowService(ShadowStore(tmp_path), clock)
    classic = reopened.get("thing-1", None)
    assert classic["state"] == {"reported": {"a": 1}} and classic["version"] == 1
    assert reopened.get("thing-1", "cfg")["state"]["desired"] == {"b": 2}
    assert reopened.store.path.with_name(reopened.store.path.name + "-wal").exists()
    reopened.store.close()


def test_missing_shadow_is_404_with_aws_name(service: ShadowService) -> None:
    with pytest.raises(ShadowError) as info:
        service.get("thing-1", None, b'{"clientToken": "t"}')
    assert info.value.code == 404
    assert info.value.message == "No shadow exists with name: 'thing-1'"
    assert info.value.client_token == "t"
    with pytest.raises(ShadowError) as info:
        service.delete("thing-1", "cfg")
    assert info.value.message == "No shadow exists with name: 'thing-1~cfg'"


def test_delete_then_update_continues_the_version(service: ShadowService, clock: Clock) -> None:
    for i in range(3):
        service.update("thing-1", None, body({"state": {"reported": {"i": i}}}))
    assert service.delete("thing-1", None, b'{"clientToken": "d"}') == {
        "version": 3, "timestamp": int(clock.now), "clientToken": "d"}
    with pytest.raises(ShadowError):
        service.get("thing-1", None)
    out = service.update("thing-1", None, body({"state": {"reported": {"fresh": True}}}))
    assert out.record.version == 4
    assert out.record.state == {"reported": {"fresh": True}}  # nothing of the old state
    assert "previous" not in out.documents


def test_version_restarts_after_the_retention_window(service: ShadowService,
                                                     clock: Clock) -> None:
    service.update("thing-1", None, body({"state": {"reported": {"a": 1}}}))
    service.update("thing-1", None, body({"state": {"reported": {"a": 2}}}))
    service.delete("thing-1", None)
    clock.now += DELETED_VERSION_RETENTION_S + 1
    assert service.update("thing-1", None, body({"state": {}})).record.version == 1


def test_rejected_update_changes_nothing(service: ShadowService) -> None:
    service.update("thing-1", None, body({"state": {"reported": {"a": 1}}}))
    for bad in (b"{oops", body({"state": {"reported": {"a": 2}}, "version": 7}),
                body({"state": {"reported": {"blob": "x" * 9000}}})):
        with pytest.raises(ShadowError):
            service.update("thing-1", None, bad)
    doc = service.get("thing-1", None)
    assert doc["state"] == {"reported": {"a": 1}} and doc["version"] == 1


def test_invalid_names_are_400(service: ShadowService) -> None:
    with pytest.raises(ShadowError) as info:
        service.update("bad name", None, body({"state": {}}))
    assert info.value.code == 400 and "bad name" in info.value.text
    with pytest.raises(ShadowError) as info:
        service.get("thing-1", "no/slash")
    assert info.value.code == 400


def test_list_named_shadows_pages_in_name_order(service: ShadowService) -> None:
    for name in ("zeta", "alpha", "mid"):
        service.update("thing-1", name, body({"state": {}}))
    service.update("thing-1", None, body({"state": {}}))  # classic is not listed
    service.update("thing-2", "other", body({"state": {}}))
    service.delete("thing-1", "mid")
    assert service.list_named("thing-1")["results"] == ["alpha", "zeta"]
    first = service.list_named("thing-1", page_size=1)
    assert first["results"] == ["alpha"] and first["nextToken"] == "alpha"
    second = service.list_named("thing-1", page_size=1, next_token=first["nextToken"])
    assert second["results"] == ["zeta"] and "nextToken" not in second
    with pytest.raises(ShadowError):
        service.list_named("thing-1", page_size=0)


def test_concurrent_updates_to_one_shadow_are_serialized(service: ShadowService) -> None:
    writers, per_writer = 8, 25

    def write(w: int) -> None:
        for i in range(per_writer):
            service.update("thing-1", None, body({"state": {"reported": {f"w{w}": i}}}))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    doc = service.get("thing-1", None)
    assert doc["version"] == writers * per_writer
    assert doc["state"]["reported"] == {f"w{w}": per_writer - 1 for w in range(writers)}


def test_concurrent_conditional_updates_admit_exactly_one_per_version(
        service: ShadowService) -> None:
    service.update("thing-1", None, body({"state": {"desired": {"n": 0}}}))
    results: list[int] = []
    lock = threading.Lock()

    def attempt(w: int) -> None:
        try:
            service.update("thing-1", None, body({"state": {"desired": {"n": w}}, "version": 1}))
            code = 200
        except ShadowError as exc:
            code = exc.code
        with lock:
            results.append(code)

    threads = [threading.Thread(target=attempt, args=(w,)) for w in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 9
    assert service.get("thing-1", None)["version"] == 2
