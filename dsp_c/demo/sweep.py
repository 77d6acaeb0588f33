"""The demo's simulations and its bars: the scene x latency sweep, the long runs of the
cells that missed a bar, and how each bar is judged. Runs go to a process per CPU."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy.signal import welch

from dsp_c.sim import SceneResult, run_scene
from dsp_c.sim.chunked import CHUNK_SECONDS, ChunkedRun, run_chunked
from dsp_c.sim.run import BOUND_MARGIN_DB

LATENCIES = (1, 2, 4, 8, 16, 32)
SPECTRUM_LATENCY = 2   # the acoustic lead of the primary path
GAP_BAR_DB = BOUND_MARGIN_DB
# Controller settings of the sweep (and of tests/dsp/sim/test_bars.py). μ is the largest
# step that stays well inside FxNLMS's stability margin at 32 samples of latency; an
# adaptation block of 8 samples (167 µs) keeps the weights the fast path applies fresh
# (blocks of 32 cost 2–3 dB on tonal scenes at low latency, measured).
SECONDS = 24.0
MU = 0.01
BLOCK = 8
TAPS = 256
EAR_NOISE_DB = -40.0
# Self-noise of the reference microphone relative to the noise it picks up. A MEMS
# microphone with 65-70 dB SNR has 25-29 dBA of self-noise, 55-65 dB under the 85-90 dB SPL
# noise ANC is for. Without it the simulated reference is exact to float32, and at large
# latency the Wiener bound exploits components 60-100 dB below the noise that no
# microphone delivers (see dsp_c.sim.run_scene).
REF_NOISE_DB = -60.0
# The hybrid controller's settings are dsp_c.FxLms's defaults (FxNLMS with the sweep's μ,
# replaced by least-squares solutions of its first 0.25, 0.5, 1 and 2 s on all taps).
HYBRID_LABEL = ("hybrid (FxNLMS, started by least-squares solves of its first 0.25, 0.5, 1 "
                "and 2 s)")
# A cell where FxNLMS from zero misses a bar within SECONDS (its gap to the bound or a level
# bar) is run again for LONG_SECONDS: its steady state then shows whether the controller gets
# there given time, or is held back by eigenmodes too weak to adapt in any practical time
# (the slow-mode model).
LONG_SECONDS = 240.0
# A level bar still missed after LONG_SECONDS is judged once more after HOURS of simulated
# time, streamed through the loop in minute-long chunks (dsp_c.sim.chunked), on its last 10
# minutes. Engine hum at 32 samples, FxNLMS from zero (10-minute means): 22.8 dB after 4 min,
# 29.4 after 2 h, 29.9 after 4 h, 30.6 after 6 h, 30.4-30.8 from then to 12 h (bound 33.8).
# Six hours cost 6–7 minutes on one core and its neighbour.
HOURS = 6.0
# Attenuation bars of issue 2 besides the gap to the bound: (scene, latencies, minimum dB).
LEVEL_BARS: tuple[tuple[str, tuple[int, ...], float], ...] = (
    ("engine", (1, 2, 4, 8, 16, 32), 30.0),
    ("band", (1,), 20.0),
)


@dataclass
class Settings:
    seconds: float
    mu: float
    taps: int
    block: int
    ear_noise_db: float
    ref_noise_db: float | None
    latencies: tuple[int, ...]
    scenes: tuple[str, ...]
    seed: int
    hybrid: bool = True   # also run the hybrid controller (least-squares start) per cell
    long_seconds: float = LONG_SECONDS  # rerun level-bar misses this long (0: do not)
    hours: float = HOURS  # then level bars still missed this long, in chunks (0: do not)


@dataclass
class RunSummary:
    scene: str
    latency: int
    attenuation_db: float
    bound_db: float
    band_db: dict[str, float]
    bound_band_db: dict[str, float]
    convergence_s: float
    resets: int
    mode_limit_db: float
    seconds_to_bound: float
    seconds_taken: float
    times: list[float]
    att_over_time: list[float]
    algorithm: str = "fxnlms"

    @property
    def gap_db(self) -> float:
        return self.bound_db - self.attenuation_db

    @property
    def passed(self) -> bool:
        """Within GAP_BAR_DB of the Wiener bound, and no divergence-guard reset."""
        return self.gap_db <= GAP_BAR_DB and self.resets == 0


def _summarize(r: SceneResult, took: float) -> RunSummary:
    return RunSummary(r.scene, r.latency, r.attenuation_db, r.bound_db, r.band_attenuation_db,
                      r.bound_band_db, r.convergence_s, r.resets, r.mode_limit_db,
                      r.seconds_to_bound, took, r.times.tolist(), r.att_over_time.tolist(),
                      r.algorithm)


def _spectra(r: SceneResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seg = slice(len(r.d) * 3 // 4, len(r.d))
    f, pd = welch(r.d[seg].astype(np.float64), r.fs, nperseg=8192)
    _, pe = welch(r.e[seg].astype(np.float64), r.fs, nperseg=8192)
    return f, pd, pe


def finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None



def _fmt_seconds(v: float) -> str:
    """Simulated time in a readable unit ("never" for inf)."""
    if not math.isfinite(v):
        return "never"
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if v >= 10 * size:
            return f"{v / size:.0f} {unit}" if v < 1e4 * size else f"{v / size:.1e} {unit}"
    return f"{v:.0f} s"


T = TypeVar("T")
R = TypeVar("R")


def in_parallel(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
    """`fn` over `items`, a process per CPU; yields (index, result) as each run finishes.
    Every run is seeded, so the results do not depend on the order they finish in. On
    Ctrl-C (the workers ignore it) or an error the workers are stopped at once."""
    workers = min(os.cpu_count() or 1, len(items))
    if workers <= 1:
        for i, item in enumerate(items):
            yield i, fn(item)
        return
    with _process_context().Pool(workers, initializer=_ignore_interrupts) as pool:
        yield from pool.imap_unordered(_indexed, [(fn, i, item) for i, item in enumerate(items)])


def _process_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a clean server process where there is one (the caller may have
    threads, which fork() does not copy), with this module already imported there."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _indexed(job: tuple[Callable[[T], R], int, T]) -> tuple[int, R]:
    fn, i, item = job
    return i, fn(item)


def _simulate(cfg: Settings, name: str, latency: int, seconds: float,
              algorithm: str) -> tuple[RunSummary, SceneResult]:
    t0 = time.perf_counter()
    r = run_scene(name, latency, taps=cfg.taps, seconds=seconds, mu=cfg.mu, block=cfg.block,
                  seed=cfg.seed, ear_noise_db=cfg.ear_noise_db, ref_noise_db=cfg.ref_noise_db,
                  algorithm=algorithm)
    return _summarize(r, time.perf_counter() - t0), r


Spectra = tuple[np.ndarray, np.ndarray, np.ndarray]


def _sweep_cell(job: tuple[Settings, str, int]
                ) -> tuple[RunSummary, Spectra | None, RunSummary | None]:
    """One cell of the sweep: FxNLMS (with its spectra at the spectrum latency), then the
    hybrid when the settings ask for it."""
    cfg, name, latency = job
    fx, r = _simulate(cfg, name, latency, cfg.seconds, "fxnlms")
    spectra = _spectra(r) if latency == spectrum_latency(cfg) else None
    hybrid = _simulate(cfg, name, latency, cfg.seconds, "hybrid")[0] if cfg.hybrid else None
    return fx, spectra, hybrid


def spectrum_latency(cfg: Settings) -> int:
    return SPECTRUM_LATENCY if SPECTRUM_LATENCY in cfg.latencies else cfg.latencies[0]


def run_sweep(cfg: Settings) -> tuple[list[RunSummary], dict[str, Spectra], list[RunSummary]]:
    """Every scene at every latency; prints one progress line per run as it finishes.
    Returns the FxNLMS runs, their spectra, and the hybrid runs (empty unless cfg.hybrid)."""
    jobs = [(cfg, name, latency) for name in cfg.scenes for latency in cfg.latencies]
    cells: list[tuple[RunSummary, Spectra | None, RunSummary | None] | None] = [None] * len(jobs)
    for done, (i, cell) in enumerate(in_parallel(_sweep_cell, jobs), start=1):
        cells[i] = cell
        s, _, h = cell
        print(f"[{done:2d}/{len(jobs)}] {s.scene:9s} D={s.latency:2d}: "
              f"{s.attenuation_db:5.1f} dB, bound {s.bound_db:5.1f}, gap {s.gap_db:5.2f} "
              f"{'PASS' if s.passed else 'MISS'} | slow-mode model {s.mode_limit_db:5.1f} dB, "
              f"bound within {GAP_BAR_DB} dB after {_fmt_seconds(s.seconds_to_bound)} "
              f"| {s.seconds_taken:.1f} s", flush=True)
        if h is not None:
            print(f"        {'':9s} hybrid: {h.attenuation_db:5.1f} dB, gap {h.gap_db:5.1f} "
                  f"{'PASS' if h.passed else 'MISS'} | {h.seconds_taken:.1f} s", flush=True)
    runs = [c[0] for c in cells if c is not None]
    spectra = {c[0].scene: c[1] for c in cells if c is not None and c[1] is not None}
    hybrid_runs = [c[2] for c in cells if c is not None and c[2] is not None]
    return runs, spectra, hybrid_runs


def cell_at(runs: list[RunSummary], name: str, latency: int) -> RunSummary:
    return next(r for r in runs if r.scene == name and r.latency == latency)


def level_bars(runs: list[RunSummary], cfg: Settings) -> list[dict[str, object]]:
    """The absolute attenuation bars, per latency that the sweep covers."""
    out: list[dict[str, object]] = []
    for name, latencies, minimum in LEVEL_BARS:
        if name not in cfg.scenes:
            continue
        for lat in latencies:
            if lat in cfg.latencies:
                r = cell_at(runs, name, lat)
                out.append({"scene": name, "latency": lat, "minimum_db": minimum,
                            "attenuation_db": r.attenuation_db,
                            "passed": r.attenuation_db >= minimum and r.resets == 0})
    return out


def _level_bar_misses(runs: list[RunSummary], cfg: Settings) -> set[tuple[object, object]]:
    """(scene, latency) of the cells that missed their level bar."""
    return {(b["scene"], b["latency"]) for b in level_bars(runs, cfg) if not b["passed"]}


def missed_cells(runs: list[RunSummary], cfg: Settings) -> list[RunSummary]:
    """The cells that missed a bar: more than GAP_BAR_DB short of the bound, a guard reset,
    or a level bar."""
    missed_level = _level_bar_misses(runs, cfg)
    return [r for r in runs if not r.passed or (r.scene, r.latency) in missed_level]


def _long_cell(job: tuple[Settings, str, int]) -> RunSummary:
    cfg, name, latency = job
    return _simulate(cfg, name, latency, cfg.long_seconds, "fxnlms")[0]


def run_long(runs: list[RunSummary], cfg: Settings) -> list[RunSummary]:
    """FxNLMS again for `cfg.long_seconds`, in every cell where it missed a bar."""
    if cfg.long_seconds <= cfg.seconds:
        return []
    missed = missed_cells(runs, cfg)
    if missed:
        print(f"Running the {len(missed)} cells that missed a bar again for "
              f"{cfg.long_seconds:g} s ...", flush=True)
    jobs = [(cfg, r.scene, r.latency) for r in missed]
    long_runs: list[RunSummary | None] = [None] * len(jobs)
    for done, (i, s) in enumerate(in_parallel(_long_cell, jobs), start=1):
        long_runs[i] = s
        print(f"[long {done:2d}/{len(jobs)}] {s.scene:9s} D={s.latency:2d}: "
              f"{s.attenuation_db:5.1f} dB, bound {s.bound_db:5.1f}, gap {s.gap_db:5.2f} "
              f"{'PASS' if s.passed else 'MISS'} | {s.seconds_taken:.1f} s", flush=True)
    return [s for s in long_runs if s is not None]


def level_bar_of(r: RunSummary | ChunkedRun) -> float | None:
    """The level bar of r's cell (dB), None when LEVEL_BARS names no bar for it."""
    return next((m for name, lats, m in LEVEL_BARS if name == r.scene and r.latency in lats),
                None)


def long_level_runs(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings
                     ) -> list[RunSummary]:
    """The long runs of the cells that missed their level bar in the sweep."""
    missed_level = _level_bar_misses(runs, cfg)
    return [r for r in long_runs if (r.scene, r.latency) in missed_level]


def long_bars(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings
              ) -> list[dict[str, object]]:
    """The level bars the sweep missed, judged on the long runs' steady state."""
    out: list[dict[str, object]] = []
    for r in long_level_runs(runs, long_runs, cfg):
        minimum = level_bar_of(r)
        if minimum is not None:
            out.append({"scene": r.scene, "latency": r.latency, "seconds": cfg.long_seconds,
                        "minimum_db": minimum, "attenuation_db": r.attenuation_db,
                        "bound_db": r.bound_db,
                        "seconds_to_bound": finite_or_none(r.seconds_to_bound),
                        "passed": r.attenuation_db >= minimum and r.resets == 0})
    return out


def long_bar_lines(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings
                   ) -> list[str]:
    """One line per level bar the sweep missed, judged on its long run, for the summary
    table and the page."""
    with_bar = long_level_runs(runs, long_runs, cfg)
    return [f"{b['scene']} >= {b['minimum_db']:.0f} dB at D={b['latency']}: "
            f"{r.attenuation_db:.1f} dB (bound {r.bound_db:.1f}; slow-mode model: within "
            f"{GAP_BAR_DB} dB of it after {_fmt_seconds(r.seconds_to_bound)}) "
            f"{'PASS' if b['passed'] else 'MISS'}"
            for r, b in zip(with_bar, long_bars(runs, long_runs, cfg), strict=True)]


def passed_given_time(runs: list[RunSummary], long_runs: list[RunSummary]) -> list[RunSummary]:
    """The sweep's cells within GAP_BAR_DB of the bound in the sweep or in their long run."""
    longer = {(r.scene, r.latency): r for r in long_runs}
    return [r for r in runs
            if r.passed or ((r.scene, r.latency) in longer and longer[r.scene, r.latency].passed)]


def given_time_lines(runs: list[RunSummary], long_runs: list[RunSummary],
                     cfg: Settings) -> list[str]:
    """What the long runs changed about the gap bar: which cells come within it, which not."""
    if not long_runs:
        return []
    reached = [r for r in long_runs if r.passed]
    short = [r for r in long_runs if not r.passed]
    lines = [f"given {cfg.long_seconds:g} s: {len(reached)} of the {len(long_runs)} cells run "
             f"again come within {GAP_BAR_DB} dB of the bound; "
             f"{len(passed_given_time(runs, long_runs))} of {len(runs)} cells pass given time"]
    if reached:
        lines.append("  within: " + ", ".join(f"{r.scene} D={r.latency} (gap {r.gap_db:.2f})"
                                              for r in reached))
    if short:
        lines.append("  still short: " + ", ".join(
            f"{r.scene} D={r.latency} (gap {r.gap_db:.2f}, "
            f"model {_fmt_seconds(r.seconds_to_bound)})" for r in short))
    return lines


def hours_cells(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings
                ) -> list[RunSummary]:
    """The sweep's cells whose level bar is still missed after their long run (after the
    sweep when there was none)."""
    longer = {(r.scene, r.latency): r for r in long_runs}
    missed = _level_bar_misses(runs, cfg)
    out = []
    for r in runs:
        if (r.scene, r.latency) in missed:
            latest = longer.get((r.scene, r.latency), r)
            minimum = level_bar_of(latest)
            if minimum is not None and (latest.attenuation_db < minimum or latest.resets):
                out.append(r)
    return out


def _hours_cell(job: tuple[Settings, str, int]) -> tuple[ChunkedRun, float]:
    cfg, name, latency = job
    t0 = time.perf_counter()
    report_every = max(1, int(round(cfg.hours * 3600 / CHUNK_SECONDS / 12)))

    def progress(done_s: float, chunk_db: float) -> None:
        chunk = int(round(done_s / CHUNK_SECONDS))
        if chunk % report_every == 0:
            print(f"  [hours] {name:9s} D={latency:2d}: {_fmt_seconds(done_s):>7s} of "
                  f"{cfg.hours:g} h simulated, last minute {chunk_db:5.1f} dB "
                  f"| {time.perf_counter() - t0:.0f} s", flush=True)

    run = run_chunked(name, latency, cfg.hours * 3600, taps=cfg.taps, mu=cfg.mu,
                      block=cfg.block, seed=cfg.seed, ear_noise_db=cfg.ear_noise_db,
                      ref_noise_db=cfg.ref_noise_db, progress=progress)
    return run, time.perf_counter() - t0


def run_hours(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings
              ) -> list[ChunkedRun]:
    """FxNLMS for `cfg.hours` of simulated time where a level bar is still missed."""
    if cfg.hours * 3600 < max(cfg.long_seconds, CHUNK_SECONDS):
        return []
    cells = hours_cells(runs, long_runs, cfg)
    if cells:
        print(f"Running the {len(cells)} cell(s) whose level bar is still missed for "
              f"{cfg.hours:g} h of simulated time, in {CHUNK_SECONDS:g} s chunks ...",
              flush=True)
    jobs = [(cfg, r.scene, r.latency) for r in cells]
    out: list[ChunkedRun | None] = [None] * len(jobs)
    for i, (run, took) in in_parallel(_hours_cell, jobs):
        out[i] = run
        print(f"[hours] {run.scene:9s} D={run.latency:2d}: {run.attenuation_db:5.1f} dB over "
              f"the last {_fmt_seconds(run.steady_seconds)} of {cfg.hours:g} h, bound "
              f"{run.bound_db:5.1f}, gap "
              f"{run.gap_db:5.2f} | {took:.0f} s", flush=True)
    return [r for r in out if r is not None]


def hours_bars(hours_runs: list[ChunkedRun], cfg: Settings) -> list[dict[str, object]]:
    """The level bars judged on the hours-long runs (their steady state)."""
    out: list[dict[str, object]] = []
    for r in hours_runs:
        minimum = level_bar_of(r)
        if minimum is not None:
            out.append({"scene": r.scene, "latency": r.latency, "hours": cfg.hours,
                        "minimum_db": minimum, "attenuation_db": r.attenuation_db,
                        "bound_db": r.bound_db, "gap_db": r.gap_db,
                        "model_seconds_to_bound": finite_or_none(r.model_seconds_to_bound),
                        "passed": r.attenuation_db >= minimum and r.resets == 0})
    return out


def hours_bar_lines(hours_runs: list[ChunkedRun], cfg: Settings) -> list[str]:
    """One line per level bar judged on an hours-long run, for the table and the page."""
    return [f"{b['scene']} >= {b['minimum_db']:.0f} dB at D={b['latency']}: "
            f"{b['attenuation_db']:.1f} dB over the last {_fmt_seconds(r.steady_seconds)} "
            f"(bound {b['bound_db']:.1f}, "
            f"gap {b['gap_db']:.2f}; slow-mode model: within {GAP_BAR_DB} dB of it after "
            f"{_fmt_seconds(r.model_seconds_to_bound)}) {'PASS' if b['passed'] else 'MISS'}"
            for r, b in zip(hours_runs, hours_bars(hours_runs, cfg), strict=True)]
