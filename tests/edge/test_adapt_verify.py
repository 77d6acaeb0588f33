"""Adapt results are loaded only when valid, newer and hash-correct; requests carry statistics."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from edge_agent.adapt import (
    AdaptClient,
    FilterUpdate,
    Rejection,
    build_request,
    coefficients_sha256,
    verify_result,
)
from edge_agent.audio.api import AdaptationStatistics
from protocol import schemas


def result(version: int = 3, taps: int = 32, **overrides: Any) -> bytes:
    coefficients = [float(c) for c in np.random.default_rng(7).normal(0, 0.1, taps)
                    .astype(np.float32)]
    body = {"request_id": "r1", "version": version, "taps": taps,
            "sha256": coefficients_sha256(coefficients), "coefficients": coefficients}
    body.update(overrides)
    return json.dumps(body).encode()


def test_a_good_result_is_accepted_as_float32() -> None:
    outcome = verify_result(result(), current_version=2)
    assert isinstance(outcome, FilterUpdate) and outcome.version == 3
    assert outcome.coefficients.dtype == np.float32 and outcome.coefficients.shape == (32,)
    assert outcome.request_id == "r1"


def test_sha256_is_over_little_endian_float32() -> None:
    assert coefficients_sha256([1.0] + [0.0] * 15) == coefficients_sha256(
        np.array([1.0] + [0.0] * 15, dtype=">f8"))
    assert coefficients_sha256([1.0] + [0.0] * 15) != coefficients_sha256([0.0] * 16)


@pytest.mark.parametrize(("payload", "current", "reason"), [
    (result(sha256="0" * 64), 0, "sha256 mismatch"),
    (result(version=2), 2, "version 2 is not newer than the running filter version 2"),
    (result(version=1), 2, "not newer"),
    (result(taps=40, coefficients=[0.0] * 16), 0, "taps is 40 but there are 16 coefficients"),
    (result(sha256="XYZ"), 0, "invalid result: sha256"),
    (result(taps=8, coefficients=[0.0] * 8), 0, "invalid result"),
    (result(extra=1), 0, "Additional properties are not allowed"),
    (b"{not json", 0, "not JSON"),
    (b"[]", 0, "invalid result"),
    (b"\xff", 0, "not JSON"),
])
def test_bad_results_are_rejected_with_a_reason(payload: bytes, current: int,
                                                reason: str) -> None:
    outcome = verify_result(payload, current_version=current)
    assert isinstance(outcome, Rejection)
    assert reason in outcome.reason


def test_client_loads_through_the_callback_and_keeps_rejections() -> None:
    loaded: list[FilterUpdate] = []
    version = [0]

    def load(update: FilterUpdate) -> str | None:
        if update.version == 5:
            return "engine busy"
        loaded.append(update)
        version[0] = update.version
        return None

    client = AdaptClient("hs-1", load_filter=load, current_version=lambda: version[0])
    assert client.result_topic == "anc/v1/hs-1/adapt/result"
    assert isinstance(client.handle_result(result(version=4)), FilterUpdate)
    assert isinstance(client.handle_result(result(version=4)), Rejection)  # replay
    busy = client.handle_result(result(version=5))
    assert isinstance(busy, Rejection) and busy.reason == "engine busy"
    assert [u.version for u in loaded] == [4] and client.accepted == [4]
    assert [r.version for r in client.rejections] == [4, 5]


def stats(taps: int = 32, **overrides: Any) -> AdaptationStatistics:
    rng = np.random.default_rng(1)
    fields: dict[str, Any] = {
        "taps": taps, "samples": 48000, "r_autocorr": tuple(rng.normal(size=taps)),
        "rd_crosscorr": tuple(rng.normal(size=taps)), "d_power": 0.25,
        "sec_path": tuple(rng.normal(size=8)), "sample_rate": 48000}
    fields.update(overrides)
    return AdaptationStatistics(**fields)


def test_request_is_schema_valid_statistics_only() -> None:
    body = build_request(stats(), current_version=2, algorithm="fxnlms", now=1764064800.0)
    assert schemas.errors("adapt-request", body) == []
    assert set(body["statistics"]) == {"samples", "r_autocorr", "rd_crosscorr", "d_power",
                                       "sec_path"}
    assert body["taps"] == 32 and body["current_version"] == 2


def test_request_with_non_finite_statistics_is_refused() -> None:
    with pytest.raises(ValueError, match="r_autocorr: contains NaN"):
        build_request(stats(r_autocorr=(float("nan"),) * 32), current_version=0)
    with pytest.raises(ValueError, match="adapt request is invalid"):
        build_request(stats(taps=4, r_autocorr=(0.0,) * 4, rd_crosscorr=(0.0,) * 4),
                      current_version=0)
