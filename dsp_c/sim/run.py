"""One simulated run: a scene through the headset with a controller, and all its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from .blockloop import BlockLoop
from .metrics import (
    BANDS_HZ,
    attenuation_db,
    attenuation_over_time,
    band_attenuation_db,
    convergence_time,
    mode_analysis,
    normal_equations,
    steady_slice,
    wiener_bound,
)
from .plant import FS, HeadsetPlant, end_to_end_secondary, estimate_secondary, make_plant
from .reference import ALGORITHMS as LOOP_ALGORITHMS
from .reference import ReferenceLoop
from .scenes import scene as make_scene

ENGINES = ("c", "numpy", "reference")
C_ALGORITHMS = ("fxlms", "fxnlms", "hybrid")
INCOHERENT_SEED_OFFSET = 1_000_003
MIC_NOISE_SEED_OFFSET = 2_000_003
BOUND_MARGIN_DB = 1.5  # issue 2: at most this far short of the Wiener bound at steady state


@dataclass
class RunSetup:
    """What was run: scene, I/O latency (samples), controller and simulated seconds."""

    scene: str
    latency: int
    taps: int
    algorithm: str
    mu: float
    block: int
    seconds: float


@dataclass
class SceneResult(RunSetup):
    """Metrics of one run; attenuations in dB, positive = quieter with ANC."""

    fs: int
    phase_error_deg: float
    ear_noise_db: float | None            # incoherent noise at the ear, dB re d (None: none)
    ref_noise_db: float | None            # reference microphone self-noise, dB re x (None: none)
    engine: str
    attenuation_db: float                 # steady state, overall
    band_attenuation_db: dict[str, float]  # steady state, per BANDS_HZ band
    bound_db: float                       # Wiener bound, overall, same segment
    bound_band_db: dict[str, float]
    convergence_s: float                  # NaN if it never settled within 3 dB
    times: np.ndarray                     # frame end times of att_over_time, s
    att_over_time: np.ndarray             # dB per 100 ms
    d: np.ndarray = field(repr=False)     # ear without ANC
    e: np.ndarray = field(repr=False)     # ear with ANC
    y: np.ndarray = field(repr=False)     # anti-noise at the driver
    resets: int = 0                       # divergence-guard resets (C engine)
    mode_limit_db: float = float("nan")   # mean NLMS trajectory from W = 0 over the same
                                          # segment (metrics.ModeAnalysis); FxNLMS only
    seconds_to_bound: float = float("nan")  # simulated time that trajectory needs to get
                                            # within BOUND_MARGIN_DB of the bound (inf: never)

    @property
    def gap_db(self) -> float:
        """How far the controller is short of the Wiener bound (≤ 0: at or above it)."""
        return self.bound_db - self.attenuation_db

    @property
    def stable(self) -> bool:
        return bool(np.all(np.isfinite(self.e))) and self.resets == 0


def rms_below(x: np.ndarray, level_db: float) -> float:
    """The RMS `level_db` relative to the power of x: the level of a noise added to x."""
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2) * 10 ** (level_db / 10)))


def gain_to_level(v: np.ndarray, d: np.ndarray, level_db: float) -> float:
    """The gain that puts v at `level_db` relative to the power of d."""
    return rms_below(d, level_db) / (float(np.sqrt(np.mean(v**2))) + 1e-300)


def incoherent_ear_noise(plant: HeadsetPlant, name: str, x: np.ndarray, level_db: float,
                         seed: int) -> np.ndarray:
    """P ∗ (scene `name` drawn with another seed), scaled to `level_db` relative to P ∗ x."""
    other = make_scene(name, len(x) / plant.fs, plant.fs, seed + INCOHERENT_SEED_OFFSET)
    p64 = plant.primary.astype(np.float64)
    v = signal.lfilter(p64, [1.0], other[: len(x)].astype(np.float64))
    d = signal.lfilter(p64, [1.0], x.astype(np.float64))
    return v * gain_to_level(v, d, level_db)


def reference_mic_noise(x: np.ndarray, level_db: float, seed: int) -> np.ndarray:
    """White self-noise of the reference microphone, `level_db` relative to the power of x."""
    rng = np.random.default_rng(seed + MIC_NOISE_SEED_OFFSET)
    return rng.standard_normal(len(x)) * rms_below(x, level_db)


def _run_c(plant: HeadsetPlant, latency: int, s_hat: np.ndarray, x: np.ndarray, taps: int,
           mu: float, algorithm: str, leak: float, block: int, noise: np.ndarray | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    from dsp_c import ClosedLoop, FxLms  # the compiled core

    controller = FxLms(taps=taps, sec_path=s_hat, mu=mu, normalized=algorithm != "fxlms",
                       leak=leak, algorithm=algorithm)
    loop = ClosedLoop(primary=plant.primary, secondary=plant.secondary, latency=latency,
                      controller=controller, block=block)
    if noise is None:
        d, e, y = loop.run(x)
    else:
        d, e, y = loop.run(x, disturbance=noise.astype(np.float32))
    return d, e, y, int(getattr(controller, "resets", 0))


def run_scene(
    scene: str | np.ndarray,
    latency: int,
    taps: int = 256,
    algorithm: str = "fxnlms",
    seconds: float = 10.0,
    mu: float = 0.1,
    phase_error_deg: float = 0.0,
    gain_error_db: float = 0.0,
    extra_delay: int = 0,
    leak: float = 0.0,
    block: int = 32,
    seed: int = 0,
    ear_noise_db: float | None = None,
    ref_noise_db: float | None = None,
    plant: HeadsetPlant | None = None,
    engine: str = "c",
) -> SceneResult:
    """Run `scene` (a registered name, or a reference signal) through the closed loop.

    Ŝ is the end-to-end secondary path delay(latency) ∗ S with the given errors.
    `ear_noise_db` adds noise at the ear that the reference microphone does not observe
    (the same scene with another seed through P, scaled to that level relative to d); it
    limits the coherence between reference and ear, as in a real headset.
    `ref_noise_db` adds the reference microphone's own white noise at that level relative to
    the reference signal: the controller and the Wiener bound see it, the ear does not (it is
    the microphone's, not sound). Without it the reference is exact to float32, and at large
    latency the bound can exploit components 60-100 dB below the noise (band-limited noise
    is almost perfectly predictable from its empty bands), which no microphone delivers.
    Engines: "c" the compiled core (fxlms, fxnlms, hybrid), "numpy" the vectorized NumPy
    loop, "reference" the per-sample oracle (the last two: fxlms, fxnlms and modified
    FxNLMS "mfxnlms", see `reference`).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine != "c" and algorithm not in LOOP_ALGORITHMS:
        raise ValueError(f"engine {engine!r} runs fxlms or fxnlms, or modified FxNLMS "
                         f"'mfxnlms', not {algorithm!r}")
    if engine == "c" and algorithm in LOOP_ALGORITHMS and algorithm not in C_ALGORITHMS:
        raise ValueError(f"algorithm {algorithm!r} runs on the 'numpy' or 'reference' engine, "
                         f"the C core has {', '.join(C_ALGORITHMS)}")
    if ear_noise_db is not None and not np.isfinite(ear_noise_db):
        raise ValueError(f"ear_noise_db must be finite or None, got {ear_noise_db}")
    if ref_noise_db is not None and not np.isfinite(ref_noise_db):
        raise ValueError(f"ref_noise_db must be finite or None, got {ref_noise_db}")
    plant = plant or make_plant(seed)
    if isinstance(scene, str):
        name, x = scene, make_scene(scene, seconds, plant.fs, seed)
    else:
        name, x = "custom", np.asarray(scene, dtype=np.float32)
        seconds = len(x) / plant.fs
    s_hat = estimate_secondary(plant.secondary, latency, gain_error_db, extra_delay,
                               phase_error_deg)
    noise = None
    if ear_noise_db is not None:
        if not isinstance(scene, str):
            raise ValueError("ear_noise_db needs a registered scene name (to draw the noise)")
        noise = incoherent_ear_noise(plant, scene, x, ear_noise_db, seed)
    if ref_noise_db is not None:
        # The loops drive P and the controller with the same signal, so the microphone's
        # noise goes into that signal and P * noise comes back out of the ear disturbance:
        # d = P * (x + n) - P * n = P * x, while the controller and the bound see x + n.
        mic = reference_mic_noise(x, ref_noise_db, seed)
        x = (x + mic).astype(np.float32)
        ear = signal.lfilter(plant.primary.astype(np.float64), [1.0], mic)
        noise = -ear if noise is None else noise - ear
    resets = 0
    if engine == "c":
        d, e, y, resets = _run_c(plant, latency, s_hat, x, taps, mu, algorithm, leak, block,
                                 noise)
    else:
        loop_cls = BlockLoop if engine == "numpy" else ReferenceLoop
        loop = loop_cls(plant.primary, plant.secondary, latency, s_hat, taps, mu, algorithm,
                        leak, block=block)
        d, e, y = loop.run(x, noise)
    d, e, y = (np.asarray(v, dtype=np.float32) for v in (d, e, y))
    seg = steady_slice(len(x))
    e2e = end_to_end_secondary(plant.secondary, latency)
    normal = normal_equations(x, d, e2e, taps, seg)
    bound = wiener_bound(x, d, e2e, taps, seg, normal)
    mode_limit = to_bound = float("nan")
    if algorithm in ("fxnlms", "mfxnlms"):
        modes = mode_analysis(x, d, e2e, taps, seg, normal)
        mode_limit = modes.predicted_db(mu)
        to_bound = modes.samples_to_within(mu, BOUND_MARGIN_DB) / plant.fs
    d_ss, e_ss = d[seg], e[seg]
    final = attenuation_db(d_ss, e_ss)
    times, att_t = attenuation_over_time(d, e, plant.fs)
    return SceneResult(
        scene=name, latency=latency, taps=taps, algorithm=algorithm, mu=mu, block=block,
        seconds=seconds, fs=plant.fs, phase_error_deg=phase_error_deg,
        ear_noise_db=ear_noise_db, ref_noise_db=ref_noise_db, engine=engine,
        attenuation_db=final,
        band_attenuation_db={k: band_attenuation_db(d_ss, e_ss, lo, hi, plant.fs)
                             for k, (lo, hi) in BANDS_HZ.items()},
        bound_db=bound.attenuation_db,
        bound_band_db={k: band_attenuation_db(d_ss, bound.error, lo, hi, plant.fs)
                       for k, (lo, hi) in BANDS_HZ.items()},
        convergence_s=convergence_time(times, att_t, final),
        times=times, att_over_time=att_t, d=d, e=e, y=y, resets=resets,
        mode_limit_db=mode_limit, seconds_to_bound=to_bound,
    )


__all__ = ["BOUND_MARGIN_DB", "FS", "RunSetup", "SceneResult", "gain_to_level",
           "reference_mic_noise", "rms_below", "run_scene"]
