"""Desired-state validation and the shadow protocol handler (no broker: recorded publishes)."""

from __future__ import annotations

import json
from concurrent.futures import Future
from typing import Any

import pytest

from edge_agent.shadow import ShadowSync, flatten, nest, validate_desired


def test_valid_leaves_pass_and_each_bad_leaf_is_named() -> None:
    valid, errors = validate_desired({
        "anc": {"mode": "transparency", "taps": 5000, "mu": 0.05, "colour": "red"},
        "telemetry": {"interval_s": 0.01},
        "safety": {"emergency_transparency": "yes"},
        "volume": 3,
    })
    assert valid == {"anc.mode": "transparency", "anc.mu": 0.05}
    assert errors["anc.taps"] == "5000 is greater than the maximum of 1024"
    assert "0.01 is less than the minimum of 0.1" in errors["telemetry.interval_s"]
    assert "is not of type 'boolean'" in errors["safety.emergency_transparency"]
    assert errors["anc.colour"].startswith("unknown setting; expected one of mode")
    assert errors["volume"].startswith("unknown setting section")
    assert set(errors) == {"anc.taps", "telemetry.interval_s", "safety.emergency_transparency",
                           "anc.colour", "volume"}


@pytest.mark.parametrize("state", [None, 3, "x", [1, 2]])
def test_non_object_desired_is_one_error(state: Any) -> None:
    assert validate_desired(state)[0] == {}
    assert list(validate_desired(state)[1]) == ["desired"]


def test_section_that_is_not_an_object_and_null_leaves() -> None:
    valid, errors = validate_desired({"anc": 7, "filter": {"version": None}, "safety": None})
    assert valid == {} and errors == {"anc": "expected an object of settings, got int"}


def test_flatten_and_nest_are_inverse() -> None:
    state = {"anc": {"mode": "off", "taps": 64}, "filter": {"version": 2}}
    assert flatten(state) == {"anc.mode": "off", "anc.taps": 64, "filter.version": 2}
    assert nest(flatten(state)) == state


class Recorder:
    """The publish side of a ShadowSync, recording what it would send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, topic: str, payload: bytes) -> Future[str]:
        self.sent.append((topic, json.loads(payload)))
        done: Future[str] = Future()
        done.set_result("SUCCESS")
        return done

    def reports(self) -> list[dict[str, Any]]:
        return [body["state"] for topic, body in self.sent if topic.endswith("/update")]


def make_sync(fail: dict[str, str] | None = None) -> tuple[ShadowSync, Recorder, list[dict]]:
    recorder = Recorder()
    applied: list[dict[str, Any]] = []

    def apply(changes: dict[str, Any]) -> dict[str, str]:
        applied.append(changes)
        return {k: v for k, v in (fail or {}).items() if k in changes}

    sync = ShadowSync("hs-1", publish=recorder, apply=apply,
                      reported=lambda: {"anc": {"mode": "anc"}})
    return sync, recorder, applied


def delta(version: int, state: Any) -> bytes:
    return json.dumps({"version": version, "state": state, "timestamp": 1}).encode()


def test_subscriptions_put_responses_before_the_delta() -> None:
    sync, _, _ = make_sync()
    first, second = sync.subscription_order()
    assert "$aws/things/hs-1/shadow/get/accepted" in first
    assert "$aws/things/hs-1/shadow/update/rejected" in first
    assert second == ["$aws/things/hs-1/shadow/update/delta"]


def test_delta_applies_valid_reports_errors_and_clears_them_later() -> None:
    sync, recorder, applied = make_sync()
    sync.handle(sync.delta_topic, delta(3, {"anc": {"mode": "off", "taps": 9}}))
    assert applied == [{"anc.mode": "off"}]
    report = recorder.reports()[-1]["reported"]
    assert report["anc"] == {"mode": "anc"}
    assert "less than the minimum of 16" in report["errors"]["anc.taps"]
    sync.handle(sync.delta_topic, delta(4, {"anc": {"taps": 64}}))
    assert recorder.reports()[-1]["reported"]["errors"] == {"anc.taps": None}
    assert sync.errors == {}


def test_stale_and_malformed_deltas_change_nothing() -> None:
    sync, recorder, applied = make_sync()
    sync.handle(sync.delta_topic, delta(5, {"anc": {"mode": "off"}}))
    sync.handle(sync.delta_topic, delta(5, {"anc": {"mode": "anc"}}))
    sync.handle(sync.delta_topic, delta(4, {"anc": {"mode": "anc"}}))
    for garbage in (b"not json", b"[1,2]", b'{"state": {}}', b'{"version": "7"}',
                    b'{"version": 9, "state": 3}', b"\xff\xfe"):
        sync.handle(sync.delta_topic, garbage)
    assert applied == [{"anc.mode": "off"}]
    assert sync.stats.stale_deltas == 2 and sync.stats.malformed == 5
    # version 9 with a non-object state is reported as an error, not applied
    assert sync.version == 9 and recorder.reports()[-1]["reported"]["errors"] == {
        "desired": "expected an object of settings, got int"}


def test_get_applies_whole_desired_and_clears_errors_of_fields_no_longer_desired() -> None:
    sync, recorder, applied = make_sync(fail={"anc.algorithm": "engine refused"})
    sync.handle(sync.delta_topic, delta(1, {"anc": {"taps": 1}}))
    accepted = "$aws/things/hs-1/shadow/get/accepted"
    sync.handle(accepted, json.dumps({"version": 2, "state": {
        "desired": {"anc": {"mode": "adaptive", "algorithm": "hybrid"}}}}).encode())
    assert applied[-1] == {"anc.mode": "adaptive", "anc.algorithm": "hybrid"}
    errors = recorder.reports()[-1]["reported"]["errors"]
    assert errors == {"anc.taps": None, "anc.algorithm": "engine refused"}


def test_missing_shadow_is_created_by_reporting() -> None:
    sync, recorder, applied = make_sync()
    sync.handle("$aws/things/hs-1/shadow/get/rejected",
                b'{"code": 404, "message": "No shadow exists"}')
    assert applied == [] and recorder.reports() == [{"reported": {"anc": {"mode": "anc"}}}]
    sync.handle("$aws/things/hs-1/shadow/update/rejected", b'{"code": 400, "message": "bad"}')
    assert sync.stats.rejected == 1 and sync.stats.last_rejection == "update 400: bad"


def test_report_can_delete_desired_leaves() -> None:
    sync, recorder, _ = make_sync()
    sync.report(clear_desired=["anc.mode"])
    assert recorder.reports()[-1]["desired"] == {"anc": {"mode": None}}
