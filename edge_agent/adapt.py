"""Heavy adaptation client: statistics up (`adapt/request`), checked filters down (`adapt/result`).

The device never sends audio. It sends second-order statistics from the audio engine (the
autocorrelation of the filtered reference and its cross-correlation with the disturbance)
validated against `protocol/schemas/adapt-request.schema.json`; the cloud solves for a
better filter and answers on `adapt/result` (`protocol/schemas/adapt-result.schema.json`).

A result is loaded only if all of these hold, otherwise it is rejected with a reason:
- it is a JSON object valid against the schema;
- `coefficients` has exactly `taps` entries, all finite;
- `version` is newer than the filter the device runs (no replays, no downgrades);
- `sha256` equals SHA-256 of the coefficients as little-endian float32 bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.audio.api import AdaptationStatistics
from protocol import schemas, topics

REQUEST_SCHEMA = "adapt-request"
RESULT_SCHEMA = "adapt-result"


def coefficients_sha256(coefficients: Any) -> str:
    """SHA-256 (hex) of coefficients encoded as little-endian IEEE-754 float32."""
    return hashlib.sha256(np.asarray(coefficients, dtype="<f4").tobytes()).hexdigest()


@dataclass(frozen=True)
class FilterUpdate:
    """A verified filter, ready for the audio engine."""

    version: int
    coefficients: np.ndarray  # float32, length taps
    request_id: str | None


@dataclass(frozen=True)
class Rejection:
    """Why an adapt result was not loaded (`version` is None if it could not be read)."""

    version: int | None
    reason: str


def _finite(name: str, value: Any) -> list[float]:
    array = np.asarray(value, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError(f"statistics.{name}: contains NaN or Inf")
    return [float(v) for v in array]


def build_request(statistics: AdaptationStatistics, *, current_version: int,
                  algorithm: str | None = None, request_id: str | None = None,
                  now: float | None = None) -> dict[str, Any]:
    """An adapt/request body from the engine's statistics; ValueError if it is invalid."""
    d_power = float(statistics.d_power)
    if not math.isfinite(d_power):
        raise ValueError("statistics.d_power: not finite")
    body: dict[str, Any] = {
        "request_id": request_id or uuid.uuid4().hex[:16],
        "ts": round(time.time() if now is None else now, 3),
        "sample_rate": int(statistics.sample_rate),
        "taps": int(statistics.taps),
        "current_version": current_version,
        "statistics": {
            "samples": int(statistics.samples),
            "r_autocorr": _finite("r_autocorr", statistics.r_autocorr),
            "rd_crosscorr": _finite("rd_crosscorr", statistics.rd_crosscorr),
            "d_power": d_power,
            "sec_path": _finite("sec_path", statistics.sec_path),
        },
    }
    if algorithm is not None:
        body["algorithm"] = algorithm
    problems = schemas.errors(REQUEST_SCHEMA, body)
    if problems:
        raise ValueError("adapt request is invalid: " + "; ".join(problems))
    return body


def verify_result(payload: bytes, current_version: int) -> FilterUpdate | Rejection:
    """Check an adapt/result message (see module docstring); never raises."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        return Rejection(None, f"not JSON: {exc}")
    version = document.get("version") if isinstance(document, dict) else None
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    problems = schemas.errors(RESULT_SCHEMA, document)
    if problems:
        return Rejection(version, "invalid result: " + "; ".join(problems))
    assert version is not None
    coefficients = document["coefficients"]
    if len(coefficients) != document["taps"]:
        return Rejection(version, f"taps is {document['taps']} but there are "
                                  f"{len(coefficients)} coefficients")
    if not all(math.isfinite(c) for c in coefficients):
        return Rejection(version, "coefficients contain NaN or Inf")
    if version <= current_version:
        return Rejection(version, f"version {version} is not newer than the running filter "
                                  f"version {current_version}")
    digest = coefficients_sha256(coefficients)
    if digest != document["sha256"]:
        return Rejection(version, f"sha256 mismatch: the coefficients hash to {digest}, "
                                  f"the result says {document['sha256']}")
    return FilterUpdate(version, np.asarray(coefficients, dtype=np.float32),
                        document.get("request_id"))


LoadFilter = Callable[[FilterUpdate], str | None]


class AdaptClient:
    """Requests filters and loads verified results through `load_filter`.

    `load_filter(update)` hands the filter to the audio engine and returns None, or a reason
    why it could not (e.g. the engine's queue is full). `current_version()` is the version
    running now. Rejections are kept in `rejections` (newest last) for reporting.
    """

    def __init__(self, thing: str, *, load_filter: LoadFilter,
                 current_version: Callable[[], int]) -> None:
        self.result_topic = topics.device_topic(thing, topics.ADAPT_RESULT)
        self._load_filter = load_filter
        self._current_version = current_version
        self.accepted: list[int] = []
        self.rejections: list[Rejection] = []
        self.last_request_id: str | None = None

    def request_body(self, statistics: AdaptationStatistics,
                     algorithm: str | None = None) -> dict[str, Any]:
        body = build_request(statistics, current_version=self._current_version(),
                             algorithm=algorithm)
        self.last_request_id = body["request_id"]
        return body

    def handle_result(self, payload: bytes) -> FilterUpdate | Rejection:
        """Verify and load one adapt/result; return what happened. Never raises."""
        outcome = verify_result(payload, self._current_version())
        if isinstance(outcome, FilterUpdate):
            problem = self._load_filter(outcome)
            if problem is not None:
                outcome = Rejection(outcome.version, problem)
            else:
                self.accepted.append(outcome.version)
                return outcome
        self.rejections = (self.rejections + [outcome])[-20:]
        return outcome


__all__ = ["AdaptClient", "FilterUpdate", "Rejection", "build_request", "coefficients_sha256",
           "verify_result"]
