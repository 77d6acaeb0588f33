"""The audio plane as the agent sees it: parameter changes in, statistics and events out.

    engine = create_engine(config.audio, config.emergency)
    engine.start()
    engine.request(SetMode("transparency"))        # False: queue full, try again later
    stats = engine.stats()                         # thread-safe snapshot, any thread
    event = engine.events.get(timeout=1.0)         # AudioEvent (emergency started/ended)
    stats_for_cloud = engine.adaptation_statistics()
    engine.stop()

Changes are frozen dataclasses, validated when they are built (ValueError naming the
field); the loop applies them at a block boundary, in order. The loop never waits for the
caller and the caller never waits for the loop: `request` only enqueues into a bounded
queue. The mode the user asked for (`SetMode`) is remembered while an emergency forces
transparency, and restored when the sound has ended.
"""

from __future__ import annotations

import math
import queue
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from edge_agent.config import AudioConfig, EmergencyConfig

MODES = ("off", "anc", "transparency", "adaptive")
ALGORITHMS = ("fxlms", "fxnlms", "hybrid")
EMERGENCY_CLASSES = ("siren", "alarm", "horn")
TAPS_RANGE = (16, 1024)
MU_MAX = 2.0
LEAK_MAX = 0.01


def _finite(name: str, value: object, lo: float, hi: float, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if value > hi or value < lo or (lo_open and value == lo):
        bound = f"> {lo} and <= {hi}" if lo_open else f"{lo}..{hi}"
        raise ValueError(f"{name}: expected a number {bound}, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- changes


@dataclass(frozen=True)
class SetMode:
    """The user's (or the shadow's) operating mode: off, anc, transparency, adaptive."""

    mode: str

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class SetController:
    """Controller parameters; None keeps the current value. The filter is kept (resized
    with zero padding or truncation when `taps` changes) and the output crossfades."""

    algorithm: str | None = None
    taps: int | None = None
    mu: float | None = None
    leak: float | None = None

    def __post_init__(self) -> None:
        if self.algorithm is not None and self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm: expected one of {', '.join(ALGORITHMS)}, "
                             f"got {self.algorithm!r}")
        if self.taps is not None and (isinstance(self.taps, bool)
                                      or not isinstance(self.taps, int)
                                      or not TAPS_RANGE[0] <= self.taps <= TAPS_RANGE[1]):
            raise ValueError(f"taps: expected an integer {TAPS_RANGE[0]}..{TAPS_RANGE[1]}, "
                             f"got {self.taps!r}")
        if self.mu is not None:
            _finite("mu", self.mu, 0.0, MU_MAX, lo_open=True)
        if self.leak is not None:
            _finite("leak", self.leak, 0.0, LEAK_MAX)


@dataclass(frozen=True)
class LoadFilter:
    """A filter computed elsewhere (the cloud's Wiener solve), crossfaded in without a
    click. The caller has checked its sha256; `weights` must have the current tap count
    or it resizes the controller (as SetController(taps=...))."""

    version: int
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int) \
                or self.version < 0:
            raise ValueError(f"version: expected an integer >= 0, got {self.version!r}")
        n = len(self.weights)
        if not TAPS_RANGE[0] <= n <= TAPS_RANGE[1]:
            raise ValueError(f"weights: expected {TAPS_RANGE[0]}..{TAPS_RANGE[1]} "
                             f"coefficients, got {n}")
        arr = np.asarray(self.weights, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("weights: contains NaN or Inf")

    @classmethod
    def from_array(cls, version: int, weights: npt.ArrayLike) -> LoadFilter:
        return cls(version, tuple(float(w) for w in np.asarray(weights).ravel()))


@dataclass(frozen=True)
class SetSafety:
    """Output peak limit and whether emergency sounds force transparency."""

    max_output_dbfs: float | None = None
    emergency_transparency: bool | None = None

    def __post_init__(self) -> None:
        if self.max_output_dbfs is not None:
            _finite("max_output_dbfs", self.max_output_dbfs, -60.0, 0.0)
        if self.emergency_transparency is not None \
                and not isinstance(self.emergency_transparency, bool):
            raise ValueError("emergency_transparency: expected true or false, "
                             f"got {self.emergency_transparency!r}")


@dataclass(frozen=True)
class EmergencyOverride:
    """Force the emergency state on (transparency, as if `cls` were heard) or clear it."""

    active: bool
    cls: str = "siren"

    def __post_init__(self) -> None:
        if self.cls not in EMERGENCY_CLASSES:
            raise ValueError(f"cls: expected one of {', '.join(EMERGENCY_CLASSES)}, "
                             f"got {self.cls!r}")


@dataclass(frozen=True)
class InjectSound:
    """Sim backend only: mix a synthetic emergency sound into the scene at stream time
    `at_s` (None: from the next block on), `snr_db` above the scene (dsp_c.sim.emergency)."""

    cls: str
    seconds: float = 4.0
    snr_db: float = 0.0
    seed: int = 0
    at_s: float | None = None
    kind: str | None = None  # e.g. "wail", "t3", "truck" (dsp_c.sim.emergency.KINDS)

    def __post_init__(self) -> None:
        if self.cls not in EMERGENCY_CLASSES:
            raise ValueError(f"cls: expected one of {', '.join(EMERGENCY_CLASSES)}, "
                             f"got {self.cls!r}")
        _finite("seconds", self.seconds, 0.0, 600.0, lo_open=True)
        _finite("snr_db", self.snr_db, -40.0, 40.0)
        if self.at_s is not None:
            _finite("at_s", self.at_s, 0.0, 1e9)
        if self.kind is not None:
            from dsp_c.sim.emergency import KINDS

            if self.kind not in KINDS[self.cls]:
                raise ValueError(f"kind: expected one of {', '.join(KINDS[self.cls])} for "
                                 f"{self.cls}, got {self.kind!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {self.seed!r}")


Change = SetMode | SetController | LoadFilter | SetSafety | EmergencyOverride | InjectSound


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class EmergencyState:
    """Whether an emergency sound holds the headset in transparency (stream times, s)."""

    active: bool = False
    cls: str | None = None
    confidence: float | None = None
    onset_s: float | None = None  # estimated onset of the sound
    detected_s: float | None = None  # when the detector decided
    switched_s: float | None = None  # when the loop switched to transparency


@dataclass(frozen=True)
class DeadlineMiss:
    """A block that ended more than a period after its release, and why: it started
    `late_start_us` after its release (the loop was not running: woken late, or the CPU
    was taken away), then took `work_us` (changes applied before it included).
    `released_s` is the release instant on the system's monotonic clock (CLOCK_MONOTONIC
    on Linux), to line the miss up with other traces of the machine."""

    at_s: float  # stream time of the block
    late_start_us: float
    work_us: float
    released_s: float

    def overran(self, budget_us: float) -> bool:
        """Its own work took longer than a period: late even if it had started on time."""
        return self.work_us > budget_us


@dataclass(frozen=True)
class AudioStats:
    """A consistent snapshot of the loop. Times are microseconds of processing per block;
    `budget_us` is the block period (the deadline)."""

    mode: str  # effective mode (transparency while an emergency holds)
    user_mode: str  # the mode the user asked for
    algorithm: str
    taps: int
    filter_version: int
    attenuation_db: float | None  # ear with vs without ANC over the last ~second
    block_time_p50_us: float
    block_time_p99_us: float
    block_time_p999_us: float
    block_time_max_us: float
    block_time_mean_us: float
    budget_us: float
    deadline_misses: int
    blocks: int
    divergence_resets: int
    limited_samples: int  # non-finite samples blocked by the guard/limiter
    stream_time_s: float
    features: tuple[float, ...] | None  # latest noise feature vector (protocol/features.json)
    feature_names: tuple[str, ...] = field(default=(), repr=False)
    emergency: EmergencyState = EmergencyState()
    recent_misses: tuple[DeadlineMiss, ...] = ()  # the last deadline misses (up to 16)


@dataclass(frozen=True)
class AudioEvent:
    """An emergency sound started (`kind` = "emergency_started") or ended."""

    kind: str
    cls: str
    confidence: float
    onset_s: float  # estimated onset, stream time
    at_s: float  # stream time the event was decided (detection or end)
    previous_mode: str  # the user's mode, restored when the emergency ends

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "class": self.cls, "confidence": round(self.confidence, 3),
                "onset_s": round(self.onset_s, 3), "at_s": round(self.at_s, 3),
                "previous_mode": self.previous_mode}


@dataclass(frozen=True)
class AdaptationStatistics:
    """What the cloud needs for a Wiener solve of the anti-noise filter, never raw audio.

    r = Ŝ ∗ x is the filtered reference, d the disturbance at the ear without ANC (on a
    device estimated as e − Ŝ ∗ y). With the convention e = d + S ∗ y the optimum is
    W = −R⁻¹ p, R Toeplitz from `r_autocorr`.
    """

    taps: int
    samples: int  # samples accumulated
    r_autocorr: tuple[float, ...]  # mean r[n] r[n-k], k = 0..taps-1
    rd_crosscorr: tuple[float, ...]  # mean d[n] r[n-k], k = 0..taps-1
    d_power: float  # mean d[n]^2
    sec_path: tuple[float, ...]  # the Ŝ used for r
    sample_rate: int


# --------------------------------------------------------------------------- engine


class AudioEngine(ABC):
    """A running audio plane. All methods may be called from any thread."""

    events: queue.Queue[AudioEvent]

    @abstractmethod
    def start(self) -> None:
        """Start the loop (returns once it runs)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the loop and release the backend; idempotent."""

    @abstractmethod
    def request(self, change: Change) -> bool:
        """Enqueue a change for the next block boundary; False if the queue is full.
        Raises ValueError for a change this engine cannot apply (e.g. InjectSound
        without the sim backend)."""

    @abstractmethod
    def stats(self) -> AudioStats:
        """A consistent snapshot of the loop's statistics."""

    @abstractmethod
    def adaptation_statistics(self) -> AdaptationStatistics | None:
        """Correlations accumulated since the previous call (None before any audio)."""

    @property
    @abstractmethod
    def running(self) -> bool:
        """True while the loop runs."""


def create_engine(config: AudioConfig, emergency: EmergencyConfig,
                  realtime: bool | None = None) -> AudioEngine:
    """The engine for `config.backend`. `realtime` paces the sim backend at the sample
    rate (default: paced); wav runs as fast as possible, alsa always in real time."""
    from edge_agent.audio.engine import build_engine

    return build_engine(config, emergency, realtime)


__all__ = ["ALGORITHMS", "MODES", "AdaptationStatistics", "AudioEngine", "AudioEvent",
           "AudioStats", "Change", "EmergencyOverride", "EmergencyState", "InjectSound",
           "LoadFilter", "SetController", "SetMode", "SetSafety", "create_engine"]
