"""Attenuation bars of issue 2, measured with the closed-loop simulator (C core).

FxNLMS, L = 256, 48 kHz, Ŝ = delay(D) ∗ S measured end to end, with the settings of the
`make demo` sweep (dsp_c.demo): μ 0.01, adaptation block 8, 24 s per run, incoherent
noise at the ear 40 dB down, reference microphone self-noise 60 dB down.

What holds and is asserted here: engine hum ≥ 30 dB up to 8 samples of latency; band-limited
noise ≥ 20 dB at 1 sample; within 1.5 dB of the Wiener bound in a representative set of
cells; stability for 60 s with a 60° phase error in Ŝ. `make demo` checks the whole sweep
and prints PASS/MISS per cell.

What does not hold within the sweep's 24 s: engine hum at 16 and 32 samples, and the 1.5 dB
gap in the cells where the bound relies on eigenmodes of the filtered reference 40–80 dB
below the strongest. There the shortfall is FxNLMS's convergence time: the slow-mode model
(metrics.ModeAnalysis) predicts the controller's figure, and says how long it would need to
get near the bound.
`test_misses_are_the_convergence_time_of_slow_modes` pins that explanation down; given the
demo's long run (240 s), FxNLMS from zero is past 30 dB on engine hum at 16 samples
(`test_fxnlms_given_the_demos_long_run_reaches_engine_hum_bar_at_16_samples`), while at 32
samples it still creeps up far below the bound (24 dB after 20 minutes, measured); and
`test_a_least_squares_start_recovers_what_fxnlms_misses` checks it independently: the
hybrid controller (the same FxNLMS, started by least-squares solves of its first 0.25 to
2 s, which reach every eigenmode at once) meets the engine bar at every latency (32
samples: 33.3 dB, bound 34.0 dB) and the 1.5 dB gap in all 54 cells.

With a noiseless reference microphone the hybrid misses 4 cells (babble at 8 and 16
samples, band-limited noise at 16 and 32): there the bound draws on components of the
reference 60-100 dB below the noise, which a real microphone's self-noise buries;
`test_a_noiseless_reference_inflates_the_bound_only_where_it_is_unpredictable` shows it.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from dsp_c.demo import (
    BLOCK,
    EAR_NOISE_DB,
    GAP_BAR_DB,
    LONG_SECONDS,
    MU,
    REF_NOISE_DB,
    SECONDS,
    TAPS,
)
from dsp_c.sim import SceneResult, run_scene


@cache
def sweep_cell(scene: str, latency: int) -> SceneResult:
    """One cell of the demo sweep (shared between tests)."""
    return run_scene(scene, latency, taps=TAPS, seconds=SECONDS, mu=MU, block=BLOCK,
                     ear_noise_db=EAR_NOISE_DB, ref_noise_db=REF_NOISE_DB)


def _ok(r: SceneResult) -> None:
    assert r.stable, f"{r.scene} at D={r.latency}: guard resets {r.resets} or non-finite output"


@pytest.mark.parametrize("latency", [1, 2, 4, 8])
def test_engine_hum_at_least_30_db(latency: int) -> None:
    r = sweep_cell("engine", latency)
    _ok(r)
    assert r.attenuation_db >= 30.0, f"engine at D={latency}: {r.attenuation_db:.1f} dB"


def test_band_limited_noise_at_least_20_db_at_latency_1() -> None:
    r = sweep_cell("band", 1)
    _ok(r)
    assert r.attenuation_db >= 20.0, f"band at D=1: {r.attenuation_db:.1f} dB"
    # both issue bands really are attenuated, not just the loudest one
    assert min(r.band_attenuation_db.values()) >= 20.0, r.band_attenuation_db


# Cells where FxNLMS at μ 0.01 gets near the bound within the run (tonal, broadband,
# speech-like, colored; the acoustic lead and beyond it).
NEAR_BOUND = [("engine", 1), ("engine", 4), ("aircraft", 2), ("traffic", 1), ("babble", 1),
              ("fan", 1), ("white", 4), ("pink", 8), ("band", 1)]


@pytest.mark.parametrize(("scene", "latency"), NEAR_BOUND)
def test_within_1_5_db_of_the_wiener_bound(scene: str, latency: int) -> None:
    r = sweep_cell(scene, latency)
    _ok(r)
    assert r.bound_db > 10.0  # a bound worth approaching
    assert r.gap_db <= GAP_BAR_DB, (
        f"{scene} at D={latency}: {r.attenuation_db:.1f} dB, bound {r.bound_db:.1f} dB")


# Cells the 1.5 dB bar (or the engine 30 dB bar) misses, spread over scenes and latencies.
MISSES = [("engine", 16), ("engine", 32), ("aircraft", 8), ("babble", 8), ("fan", 4),
          ("band", 8)]


@pytest.mark.parametrize(("scene", "latency"), MISSES)
def test_misses_are_the_convergence_time_of_slow_modes(scene: str, latency: int) -> None:
    """The controller sits where the slow-mode model puts FxNLMS after this run, and the model
    needs far more stationary noise than the run to come within 1.5 dB of the bound."""
    r = sweep_cell(scene, latency)
    _ok(r)
    assert r.gap_db > GAP_BAR_DB  # a miss indeed: if this fails, move the cell to NEAR_BOUND
    # the model's accuracy on these scenes (metrics.ModeAnalysis): ~1.5 dB, tonal ~3 dB
    assert abs(r.attenuation_db - r.mode_limit_db) <= 3.0, (
        f"{scene} at D={latency}: controller {r.attenuation_db:.1f} dB, "
        f"model {r.mode_limit_db:.1f} dB: the loop loses more than convergence time explains")
    assert r.seconds_to_bound > 10 * SECONDS, r.seconds_to_bound


def test_fxnlms_given_the_demos_long_run_reaches_engine_hum_bar_at_16_samples() -> None:
    """Engine hum at 16 samples is learning time only: FxNLMS from zero, with the sweep's
    settings, is past 30 dB at steady state when the run is LONG_SECONDS instead of SECONDS
    (the demo reruns missed level bars this long)."""
    r = run_scene("engine", 16, taps=TAPS, seconds=LONG_SECONDS, mu=MU, block=BLOCK,
                  ear_noise_db=EAR_NOISE_DB, ref_noise_db=REF_NOISE_DB)
    _ok(r)
    assert r.attenuation_db >= 30.0, f"engine at D=16 after {LONG_SECONDS:g} s: " \
        f"{r.attenuation_db:.1f} dB"
    assert r.attenuation_db > sweep_cell("engine", 16).attenuation_db + 3.0


@cache
def hybrid_cell(scene: str, latency: int) -> SceneResult:
    """The same cell with the hybrid controller (dsp_c.FxLms defaults: FxNLMS with the
    sweep's μ, replaced by least-squares solutions of its first 0.25, 0.5, 1 and 2 s)."""
    return run_scene(scene, latency, taps=TAPS, seconds=SECONDS, mu=MU, block=BLOCK,
                     ear_noise_db=EAR_NOISE_DB, ref_noise_db=REF_NOISE_DB, algorithm="hybrid")


@pytest.mark.parametrize("latency", [8, 16, 32])
def test_hybrid_engine_hum_at_least_30_db(latency: int) -> None:
    """The engine bar FxNLMS misses at 16 and 32 samples (28.6 and 16.0 dB): the hybrid
    meets it (41.2 and 33.3 dB)."""
    r = hybrid_cell("engine", latency)
    _ok(r)
    assert r.attenuation_db >= 30.0, f"hybrid, engine at D={latency}: {r.attenuation_db:.1f} dB"


# Cells FxNLMS misses by 1.8-18 dB and the hybrid reaches (all 54 sweep cells pass with the
# hybrid, 27 with FxNLMS; `make demo` prints both tables), among them the four the hybrid
# misses with a noiseless reference (babble 8 and 16, band 16 and 32).
HYBRID_NEAR_BOUND = [("engine", 16), ("engine", 32), ("aircraft", 4), ("aircraft", 8),
                     ("traffic", 8), ("white", 1), ("pink", 4), ("brown", 8), ("fan", 4),
                     ("band", 4), ("babble", 8), ("babble", 16), ("band", 16), ("band", 32)]


@pytest.mark.parametrize(("scene", "latency"), HYBRID_NEAR_BOUND)
def test_hybrid_within_1_5_db_of_the_wiener_bound(scene: str, latency: int) -> None:
    r = hybrid_cell(scene, latency)
    _ok(r)
    assert sweep_cell(scene, latency).gap_db > GAP_BAR_DB  # FxNLMS misses here
    assert r.gap_db <= GAP_BAR_DB, (
        f"hybrid, {scene} at D={latency}: {r.attenuation_db:.1f} dB, bound {r.bound_db:.1f} dB")


def test_a_noiseless_reference_inflates_the_bound_only_where_it_is_unpredictable() -> None:
    """Band-limited noise at 16 samples: without the microphone's self-noise the bound is
    far above the bound with it (measured 29.1 against 22.6 dB), because predicting that
    far ahead uses the reference's empty bands, 60-100 dB down; the hybrid gets the same
    either way (21.7 and 21.2 dB), as any controller must that cannot see below the noise.
    Engine hum at 1 sample, where the noise is predictable from its strong harmonics, moves
    by a few tenths."""
    def pair(scene: str, latency: int) -> tuple[SceneResult, SceneResult]:
        noiseless = run_scene(scene, latency, taps=TAPS, seconds=SECONDS, mu=MU, block=BLOCK,
                              ear_noise_db=EAR_NOISE_DB, algorithm="hybrid")
        return noiseless, hybrid_cell(scene, latency)

    exact, real = pair("band", 16)
    assert exact.bound_db - real.bound_db >= 4.0, (exact.bound_db, real.bound_db)
    assert abs(exact.attenuation_db - real.attenuation_db) <= 1.5
    assert exact.gap_db > GAP_BAR_DB >= real.gap_db
    exact, real = pair("engine", 1)
    assert abs(exact.bound_db - real.bound_db) <= 0.5, (exact.bound_db, real.bound_db)


@pytest.mark.parametrize(("scene", "latency"), MISSES)
def test_a_least_squares_start_recovers_what_fxnlms_misses(scene: str, latency: int) -> None:
    """An independent check of the slow-mode explanation: the same loop, step size and
    filter length, only started by least-squares solves (which reach every eigenmode at
    once), gains at least 3 dB in every cell FxNLMS misses (measured 5-18 dB). A shortfall
    of the loop itself (latency handling, Ŝ, the fast path) would not move."""
    fx, hy = sweep_cell(scene, latency), hybrid_cell(scene, latency)
    _ok(hy)
    assert hy.attenuation_db >= fx.attenuation_db + 3.0, (
        f"{scene} at D={latency}: FxNLMS {fx.attenuation_db:.1f} dB, "
        f"hybrid {hy.attenuation_db:.1f} dB")


@pytest.mark.parametrize(("scene", "latency"), [("engine", 1), ("engine", 32), ("band", 1),
                                                ("band", 32)])
@pytest.mark.parametrize("algorithm", ["fxnlms", "hybrid"])
def test_60_degree_phase_error_stays_stable_for_60_s(scene: str, latency: int,
                                                     algorithm: str) -> None:
    r = run_scene(scene, latency, taps=TAPS, seconds=60.0, mu=MU, block=BLOCK,
                  ear_noise_db=EAR_NOISE_DB, phase_error_deg=60.0, algorithm=algorithm)
    assert stability_problems(r) == []


def test_the_stability_check_catches_a_diverging_controller() -> None:
    r = run_scene("band", 1, taps=TAPS, seconds=20.0, mu=MU, block=BLOCK,
                  ear_noise_db=EAR_NOISE_DB, phase_error_deg=180.0)  # Ŝ with the wrong sign
    assert stability_problems(r) != []


def stability_problems(r: SceneResult) -> list[str]:
    """Why a run is not stable: guard resets, non-finite output, growing or loud error."""
    problems = []
    if r.resets:
        problems.append(f"{r.resets} divergence-guard resets")
    if not np.all(np.isfinite(r.e)):
        problems.append("non-finite ear signal")
    frames = r.att_over_time
    per_10_s = len(frames) * 10 // int(round(r.seconds))
    late, earlier = np.mean(frames[-per_10_s:]), np.mean(frames[-2 * per_10_s : -per_10_s])
    if late < earlier - 1.0:
        problems.append(f"attenuation falling: {earlier:.1f} dB, then {late:.1f} dB")
    if np.min(frames[per_10_s // 2 :]) < -6.0:
        problems.append(f"ear up to {-np.min(frames):.1f} dB louder than without ANC")
    return problems
