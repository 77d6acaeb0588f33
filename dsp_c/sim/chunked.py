"""Runs of hours of simulated time, fed through the closed loop one chunk at a time.

`run_scene` draws a whole scene in memory, which caps a run at minutes. Some cells of the
demo sweep need hours: plain FxNLMS adapts the weak eigenmodes of tonal noise at large
latency that slowly (`metrics.ModeAnalysis`). `run_chunked` keeps memory flat by streaming:

* the scene is drawn afresh every `chunk_seconds` (seeds seed, seed + 1, ...) and successive
  draws are joined by an equal-power crossfade of `fade_seconds`, so that no chunk boundary
  is a step; every draw has the scene's statistics, so the stream is as stationary as one
  long draw (a tone's phase and, for engine hum, its jitter path change during a fade);
* the reference microphone's self-noise and the incoherent ear noise continue across chunks
  exactly as `run_scene` makes them (the same definitions, filter state carried over);
* the closed loop (`dsp_c.ClosedLoop`) keeps its state between chunks.

The result has the attenuation of every chunk and, over the last `steady_seconds`, the
attenuation and the Wiener bound computed from the same signals as in `run_scene` (the
normal equations summed chunk by chunk, each chunk's regressors continued from the one
before, so no signal longer than a chunk is kept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import signal

from .metrics import (
    NormalEquations,
    attenuation_db,
    bound_db_of,
    modes_of,
    normal_equations,
    summed_normal_equations,
)
from .plant import HeadsetPlant, end_to_end_secondary, estimate_secondary, make_plant
from .run import (
    BOUND_MARGIN_DB,
    INCOHERENT_SEED_OFFSET,
    MIC_NOISE_SEED_OFFSET,
    RunSetup,
    gain_to_level,
    rms_below,
)
from .scenes import scene as make_scene

CHUNK_SECONDS = 60.0
FADE_SECONDS = 0.5
STEADY_SECONDS = 600.0  # the steady state of a chunked run: its last 10 minutes
ChunkProgress = Callable[[float, float], None]  # (simulated seconds so far, chunk's dB)


def scene_chunks(name: str, fs: int, seed: int, chunk_seconds: float = CHUNK_SECONDS,
                 fade_seconds: float = FADE_SECONDS) -> Iterator[np.ndarray]:
    """Scene `name` as an endless stream of float64 chunks of `chunk_seconds` (see module)."""
    if not (np.isfinite(chunk_seconds) and chunk_seconds > 0):
        raise ValueError(f"chunk_seconds must be a positive number, got {chunk_seconds}")
    if not (np.isfinite(fade_seconds) and 0 <= fade_seconds < chunk_seconds):
        raise ValueError(f"fade_seconds must be in [0, chunk_seconds), got {fade_seconds}")
    n, fade = int(round(chunk_seconds * fs)), int(round(fade_seconds * fs))
    quarter = np.linspace(0.0, np.pi / 2, fade)
    fade_out, fade_in = np.cos(quarter), np.sin(quarter)
    tail: np.ndarray | None = None
    k = 0
    while True:
        x = make_scene(name, (n + fade) / fs, fs, seed + k).astype(np.float64)[: n + fade]
        if tail is not None and fade:
            x[:fade] = tail * fade_out + x[:fade] * fade_in
        tail = x[n:].copy()
        yield x[:n]
        k += 1


@dataclass
class ChunkedRun(RunSetup):
    """Metrics of a chunked run; attenuations in dB, positive = quieter with ANC."""

    chunk_seconds: float
    steady_seconds: float        # the steady state: the run's last this many seconds
    chunk_end_s: np.ndarray      # simulated time at the end of each chunk, s
    chunk_att_db: np.ndarray     # attenuation over each chunk
    attenuation_db: float        # over the steady state
    bound_db: float              # Wiener bound over the steady state, same signals
    resets: int
    # The slow-mode model (metrics.ModeAnalysis) from the steady state's eigenmodes, FxNLMS
    # only (NaN otherwise): attenuation of its mean trajectory at each chunk's middle, and
    # the simulated time it needs to come within BOUND_MARGIN_DB of the bound.
    model_att_db: np.ndarray
    model_seconds_to_bound: float

    @property
    def gap_db(self) -> float:
        return self.bound_db - self.attenuation_db


class _EarNoise:
    """The incoherent ear noise and the reference microphone's self-noise of `run_scene`,
    continued across chunks. `next(x, other)` takes a chunk of the scene and the same chunk
    of the scene's other draw (for the ear noise; None without it) and returns (microphone
    noise, disturbance at the ear), each None when that noise is off."""

    def __init__(self, plant: HeadsetPlant, seed: int, ear_noise_db: float | None,
                 ref_noise_db: float | None) -> None:
        self.p64 = plant.primary.astype(np.float64)
        self.ear_db, self.ref_db = ear_noise_db, ref_noise_db
        self.rng = np.random.default_rng(seed + MIC_NOISE_SEED_OFFSET)
        self.zi_other = np.zeros(len(self.p64) - 1)
        self.zi_mic = np.zeros(len(self.p64) - 1)
        self.ear_gain: float | None = None   # fixed from the first chunk: the scene's level
        self.mic_rms: float | None = None

    def next(self, x: np.ndarray, other: np.ndarray | None
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
        mic = disturbance = None
        if self.ear_db is not None:
            if other is None:
                raise ValueError("the ear noise needs the scene's other draw")
            v, self.zi_other = signal.lfilter(self.p64, [1.0], other, zi=self.zi_other)
            if self.ear_gain is None:
                d = signal.lfilter(self.p64, [1.0], x)
                self.ear_gain = gain_to_level(v, d, self.ear_db)
            disturbance = v * self.ear_gain
        if self.ref_db is not None:
            if self.mic_rms is None:
                self.mic_rms = rms_below(x, self.ref_db)
            mic = self.rng.standard_normal(len(x)) * self.mic_rms
            # as in run_scene: the loop drives P with x + mic, so P * mic leaves the ear
            ear, self.zi_mic = signal.lfilter(self.p64, [1.0], mic, zi=self.zi_mic)
            disturbance = -ear if disturbance is None else disturbance - ear
        return mic, disturbance


def run_chunked(
    scene: str,
    latency: int,
    seconds: float,
    taps: int = 256,
    algorithm: str = "fxnlms",
    mu: float = 0.1,
    block: int = 32,
    seed: int = 0,
    ear_noise_db: float | None = None,
    ref_noise_db: float | None = None,
    plant: HeadsetPlant | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    fade_seconds: float = FADE_SECONDS,
    steady_seconds: float = STEADY_SECONDS,
    progress: ChunkProgress | None = None,
) -> ChunkedRun:
    """`seconds` of scene `scene` through the closed loop with the C core, in chunks (see
    the module); `progress(seconds so far, chunk dB)` after every chunk. The arguments mean
    what they mean for `run_scene` (Ŝ = the end-to-end secondary path, no error)."""
    from dsp_c import ClosedLoop, FxLms  # the compiled core

    if not (np.isfinite(seconds) and seconds >= chunk_seconds):
        raise ValueError(f"seconds must be at least one chunk ({chunk_seconds:g} s), "
                         f"got {seconds}")
    if not (np.isfinite(steady_seconds) and steady_seconds > 0):
        raise ValueError(f"steady_seconds must be a positive number, got {steady_seconds}")
    for label, level in (("ear_noise_db", ear_noise_db), ("ref_noise_db", ref_noise_db)):
        if level is not None and not np.isfinite(level):
            raise ValueError(f"{label} must be finite or None, got {level}")
    plant = plant or make_plant(seed)
    controller = FxLms(taps=taps, sec_path=estimate_secondary(plant.secondary, latency),
                       mu=mu, normalized=algorithm != "fxlms", algorithm=algorithm)
    loop = ClosedLoop(primary=plant.primary, secondary=plant.secondary, latency=latency,
                      controller=controller, block=block)
    chunks = scene_chunks(scene, plant.fs, seed, chunk_seconds, fade_seconds)
    others = (scene_chunks(scene, plant.fs, seed + INCOHERENT_SEED_OFFSET, chunk_seconds,
                           fade_seconds) if ear_noise_db is not None else None)
    noise = _EarNoise(plant, seed, ear_noise_db, ref_noise_db)
    count = int(seconds // chunk_seconds)
    n = int(round(chunk_seconds * plant.fs))
    steady_from = count - min(count, max(1, int(round(steady_seconds / chunk_seconds))))
    e2e = end_to_end_secondary(plant.secondary, latency)
    history = taps + len(e2e)  # reference samples before a chunk its regressors reach back to
    ends, atts = np.zeros(count), np.zeros(count)
    tail = np.zeros(0)
    steady: list[NormalEquations] = []
    steady_e = 0.0  # eᵀe over the steady state (dᵀd is in its normal equations)
    # The next chunk's two scene draws are made while the loop runs this one (NumPy and the
    # C core release the GIL): drawing costs more than the loop.
    with ThreadPoolExecutor(max_workers=2) as pool:
        def draw_ahead(stream: Iterator[np.ndarray] | None) -> Future[np.ndarray] | None:
            return None if stream is None else pool.submit(next, stream)

        ahead = (draw_ahead(chunks), draw_ahead(others))
        for k in range(count):
            x, other = (None if f is None else f.result() for f in ahead)
            assert x is not None
            if k + 1 < count:
                ahead = (draw_ahead(chunks), draw_ahead(others))
            mic, disturbance = noise.next(x, other)
            xr = (x if mic is None else x + mic).astype(np.float32)
            dist = None if disturbance is None else disturbance.astype(np.float32)
            d, e, _ = loop.run(xr, disturbance=dist)
            ends[k], atts[k] = (k + 1) * chunk_seconds, attenuation_db(d, e)
            if k >= steady_from:
                xx = np.concatenate([tail, xr])
                dd = np.concatenate([np.zeros(len(tail)), d])
                steady.append(normal_equations(xx, dd, e2e, taps, slice(len(tail), len(xx))))
                steady_e += float(np.dot(e.astype(np.float64), e))
            tail = xr[-history:].astype(np.float64)
            if progress is not None:
                progress(ends[k], atts[k])
    normal = summed_normal_equations(steady, steady_from * n)
    model = np.full(count, np.nan)
    to_bound = float("nan")
    if algorithm == "fxnlms":
        modes = modes_of(normal)
        middles = (ends - chunk_seconds / 2) * plant.fs
        model = np.array([-10 * np.log10(modes.residual(mu, m)) for m in middles])
        to_bound = modes.samples_to_within(mu, BOUND_MARGIN_DB) / plant.fs
    return ChunkedRun(scene, latency, taps, algorithm, mu, block, count * chunk_seconds,
                      chunk_seconds, (count - steady_from) * chunk_seconds, ends, atts,
                      float(10 * np.log10(normal.d_power / steady_e)), bound_db_of(normal),
                      controller.resets, model, to_bound)


__all__ = ["CHUNK_SECONDS", "FADE_SECONDS", "STEADY_SECONDS", "ChunkedRun", "run_chunked",
           "scene_chunks"]
