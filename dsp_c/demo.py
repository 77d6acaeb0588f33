"""`make demo`: every noise scene at several I/O latencies, with the Wiener bound alongside.

Prints one line per run, a summary table with PASS/MISS per cell against the issue-2 bars
(within 1.5 dB of the Wiener bound everywhere; engine hum ≥ 30 dB up to 32 samples;
band-limited noise ≥ 20 dB at 1 sample), reruns for LONG_SECONDS every cell where FxNLMS
missed a bar, so each bar is also judged at a steady state reached with time, and writes
demo-report/index.html with PNG figures and results.json. Runs go to a process per CPU.
Run it directly with `python -m dsp_c.demo --help`.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from scipy import signal

from dsp_c.sim import SceneResult, describe, run_scene, scene_names
from dsp_c.sim.plant import PATH_TAPS, PRIMARY_DELAY, SECONDARY_DELAY
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
    f, pd = signal.welch(r.d[seg].astype(np.float64), r.fs, nperseg=8192)
    _, pe = signal.welch(r.e[seg].astype(np.float64), r.fs, nperseg=8192)
    return f, pd, pe


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


def _in_parallel(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
    """`fn` over `items`, a process per CPU; yields (index, result) as each run finishes.
    Every run is seeded, so the results do not depend on the order they finish in."""
    workers = min(os.cpu_count() or 1, len(items))
    if workers <= 1:
        for i, item in enumerate(items):
            yield i, fn(item)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()


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
    spectra = _spectra(r) if latency == _spectrum_latency(cfg) else None
    hybrid = _simulate(cfg, name, latency, cfg.seconds, "hybrid")[0] if cfg.hybrid else None
    return fx, spectra, hybrid


def _spectrum_latency(cfg: Settings) -> int:
    return SPECTRUM_LATENCY if SPECTRUM_LATENCY in cfg.latencies else cfg.latencies[0]


def run_sweep(cfg: Settings) -> tuple[list[RunSummary], dict[str, Spectra], list[RunSummary]]:
    """Every scene at every latency; prints one progress line per run as it finishes.
    Returns the FxNLMS runs, their spectra, and the hybrid runs (empty unless cfg.hybrid)."""
    jobs = [(cfg, name, latency) for name in cfg.scenes for latency in cfg.latencies]
    cells: list[tuple[RunSummary, Spectra | None, RunSummary | None] | None] = [None] * len(jobs)
    for done, (i, cell) in enumerate(_in_parallel(_sweep_cell, jobs), start=1):
        cells[i] = cell
        s, _, h = cell
        print(f"[{done:2d}/{len(jobs)}] {s.scene:9s} D={s.latency:2d}: "
              f"{s.attenuation_db:5.1f} dB, bound {s.bound_db:5.1f}, gap {s.gap_db:5.1f} "
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


def _cell(runs: list[RunSummary], name: str, latency: int) -> RunSummary:
    return next(r for r in runs if r.scene == name and r.latency == latency)


def level_bars(runs: list[RunSummary], cfg: Settings) -> list[dict[str, object]]:
    """The absolute attenuation bars, per latency that the sweep covers."""
    out: list[dict[str, object]] = []
    for name, latencies, minimum in LEVEL_BARS:
        if name not in cfg.scenes:
            continue
        for lat in latencies:
            if lat in cfg.latencies:
                r = _cell(runs, name, lat)
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
    for done, (i, s) in enumerate(_in_parallel(_long_cell, jobs), start=1):
        long_runs[i] = s
        print(f"[long {done:2d}/{len(jobs)}] {s.scene:9s} D={s.latency:2d}: "
              f"{s.attenuation_db:5.1f} dB, bound {s.bound_db:5.1f}, gap {s.gap_db:5.1f} "
              f"{'PASS' if s.passed else 'MISS'} | {s.seconds_taken:.1f} s", flush=True)
    return [s for s in long_runs if s is not None]


def _level_bar(r: RunSummary) -> float | None:
    """The level bar of r's cell (dB), None when LEVEL_BARS names no bar for it."""
    return next((m for name, lats, m in LEVEL_BARS if name == r.scene and r.latency in lats),
                None)


def _long_level_runs(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings
                     ) -> list[RunSummary]:
    """The long runs of the cells that missed their level bar in the sweep."""
    missed_level = _level_bar_misses(runs, cfg)
    return [r for r in long_runs if (r.scene, r.latency) in missed_level]


def long_bars(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings
              ) -> list[dict[str, object]]:
    """The level bars the sweep missed, judged on the long runs' steady state."""
    out: list[dict[str, object]] = []
    for r in _long_level_runs(runs, long_runs, cfg):
        minimum = _level_bar(r)
        if minimum is not None:
            out.append({"scene": r.scene, "latency": r.latency, "seconds": cfg.long_seconds,
                        "minimum_db": minimum, "attenuation_db": r.attenuation_db,
                        "bound_db": r.bound_db,
                        "seconds_to_bound": _finite_or_none(r.seconds_to_bound),
                        "passed": r.attenuation_db >= minimum and r.resets == 0})
    return out


def long_bar_lines(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings
                   ) -> list[str]:
    """One line per level bar the sweep missed, judged on its long run, for the summary
    table and the page."""
    with_bar = _long_level_runs(runs, long_runs, cfg)
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
        lines.append("  within: " + ", ".join(f"{r.scene} D={r.latency} (gap {r.gap_db:.1f})"
                                              for r in reached))
    if short:
        lines.append("  still short: " + ", ".join(
            f"{r.scene} D={r.latency} (gap {r.gap_db:.1f}, "
            f"model {_fmt_seconds(r.seconds_to_bound)})" for r in short))
    return lines


def _grid(n: int) -> tuple[int, int]:
    cols = 3 if n > 4 else n
    return (n + cols - 1) // cols, cols


def plot(runs: list[RunSummary], spectra: dict[str, Spectra], cfg: Settings,
         out: Path) -> list[tuple[str, str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    rows, cols = _grid(len(cfg.scenes))
    spectrum_latency = _spectrum_latency(cfg)

    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, cfg.scenes, strict=False):
        f, pd, pe = spectra[name]
        ax.semilogx(f[1:], 10 * np.log10(pd[1:] + 1e-30), label="without ANC", lw=1)
        ax.semilogx(f[1:], 10 * np.log10(pe[1:] + 1e-30), label="with ANC", lw=1)
        ax.set_xlim(20, 20000)
        top = 10 * np.log10(pd[1:].max())
        ax.set_ylim(top - 90, top + 5)
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes.flat[len(cfg.scenes):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("frequency (Hz)")
    for ax in axes[:, 0]:
        ax.set_ylabel("PSD (dB re FS²/Hz)")
    fig.suptitle(f"Spectrum at the ear, steady state, latency {spectrum_latency} samples")
    fig.tight_layout()
    fig.savefig(out / "spectra.png", dpi=90)
    plt.close(fig)
    figures.append(("spectra.png", "Spectrum at the ear before and after",
                    "Power spectral density of the noise at the ear without ANC and with it, over "
                    "the last quarter of each run at latency "
                    f"{spectrum_latency} samples. The vertical gap between the curves is the "
                    "attenuation at that frequency; where the curves meet, ANC does nothing."))

    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, name in zip(axes.flat, cfg.scenes, strict=False):
        for i, lat in enumerate(cfg.latencies):
            r = next(r for r in runs if r.scene == name and r.latency == lat)
            ax.plot(r.times, r.att_over_time, lw=1, label=f"D={lat}",
                    color=cmap(i / max(1, len(cfg.latencies) - 1)))
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.set_ylim(-5, 50)
    for ax in axes.flat[len(cfg.scenes):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7, ncol=2)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("attenuation (dB)")
    fig.suptitle("Attenuation over time (per 100 ms), one line per I/O latency D in samples")
    fig.tight_layout()
    fig.savefig(out / "attenuation_time.png", dpi=90)
    plt.close(fig)
    figures.append(("attenuation_time.png", "Attenuation over time",
                    "Attenuation in each 100 ms frame from switch-on, one line per latency. The "
                    "rise shows how fast the controller converges; a line that keeps climbing at "
                    "the end has not finished converging, one that drops has lost stability."))

    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, cfg.scenes, strict=False):
        rs = [r for r in runs if r.scene == name]
        lats = [r.latency for r in rs]
        ax.plot(lats, [r.bound_db for r in rs], "k--o", ms=3, lw=1, label="Wiener bound")
        ax.plot(lats, [r.mode_limit_db for r in rs], ":", lw=1.5, color="C2",
                label="slow-mode model")
        ax.plot(lats, [r.attenuation_db for r in rs], "-o", ms=4, color="C1", label="FxNLMS")
        for r in rs:
            if not r.passed:
                ax.plot(r.latency, r.attenuation_db, "x", ms=9, color="C3")
        ax.set_xscale("log", base=2)
        ax.set_xticks(lats)
        ax.set_xticklabels([str(v) for v in lats])
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.set_ylim(-2, max(45, max(r.bound_db for r in rs) + 3))
    for ax in axes.flat[len(cfg.scenes):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("I/O latency (samples at 48 kHz)")
    for ax in axes[:, 0]:
        ax.set_ylabel("attenuation (dB)")
    fig.suptitle("Steady-state attenuation against latency, controller and Wiener bound")
    fig.tight_layout()
    fig.savefig(out / "attenuation_latency.png", dpi=90)
    plt.close(fig)
    figures.append(("attenuation_latency.png", "Attenuation against latency",
                    "Steady-state attenuation of the controller (orange) and the Wiener bound "
                    "(dashed): the least-squares optimal fixed filter of the same length at the "
                    "same latency, computed from the same signals. The bound falls with latency "
                    "because the filter must predict the noise; broadband noise falls fastest, "
                    "tonal noise stays predictable. The distance between the two curves is what "
                    "the adaptive algorithm leaves on the table; red crosses mark cells more "
                    f"than {GAP_BAR_DB} dB short of the bound. The dotted green line is the "
                    "slow-mode model: what FxNLMS started from zero reaches on average over the "
                    "same segment, given how slowly each eigenmode of the filtered reference "
                    "adapts at this step size."))
    return figures


def plot_long(runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings, out: Path
              ) -> list[tuple[str, str, str]]:
    """The long runs: the gap to the bound before and after, and attenuation over time of
    the cells with a level bar."""
    if not long_runs:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = [_plot_gaps(plt, runs, long_runs, cfg, out)]
    with_bar = _long_level_runs(runs, long_runs, cfg)
    if not with_bar:
        return figures
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    for i, r in enumerate(with_bar):
        t, att = np.asarray(r.times), np.asarray(r.att_over_time)
        per_s = max(1, int(round(1.0 / (t[1] - t[0])))) if len(t) > 1 else 1
        n = len(att) // per_s * per_s
        ax.plot(t[per_s - 1:n:per_s], att[:n].reshape(-1, per_s).mean(axis=1), lw=1.2,
                color=f"C{i}", label=f"{r.scene} D={r.latency}")
        ax.axhline(r.bound_db, ls="--", lw=1, color=f"C{i}",
                   label=f"{r.scene} D={r.latency} Wiener bound")
    for minimum in sorted({_level_bar(r) or 0.0 for r in with_bar}):
        ax.axhline(minimum, ls=":", lw=1.5, color="k", label=f"bar {minimum:.0f} dB")
    ax.axvline(cfg.seconds, ls="-", lw=0.8, color="0.6")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("attenuation (dB, 1 s means)")
    ax.set_ylim(-2, max(45.0, max(r.bound_db for r in with_bar) + 3))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.suptitle(f"FxNLMS from zero for {cfg.long_seconds:g} s where it missed a level bar "
                 f"in {cfg.seconds:g} s")
    fig.tight_layout()
    fig.savefig(out / "long_runs.png", dpi=90)
    plt.close(fig)
    figures.append(("long_runs.png", "The level bars given more time",
                    f"The cells where FxNLMS from zero missed a level bar in the sweep's "
                    f"{cfg.seconds:g} s (grey line), over the {cfg.long_seconds:g} s of their "
                    "long run. A line that reaches the bar gets there with time; one that keeps "
                    "creeping up far below its bound (dashed) is waiting on eigenmodes of the "
                    "filtered reference tens of dB weaker than the strongest, which FxNLMS "
                    "adapts in hours, not minutes."))
    return figures


def _plot_gaps(plt: Any, runs: list[RunSummary], long_runs: list[RunSummary], cfg: Settings,
               out: Path) -> tuple[str, str, str]:
    """One row per cell run again: its gap to the bound after the sweep and after the long
    run, against the bar."""
    sweep = {(r.scene, r.latency): r for r in runs}
    fig, ax = plt.subplots(figsize=(8.0, 1.2 + 0.26 * len(long_runs)))
    rows = np.arange(len(long_runs))[::-1]
    for y, r in zip(rows, long_runs, strict=True):
        before = sweep[r.scene, r.latency].gap_db
        color = "C2" if r.passed else "C3"
        ax.plot([before, r.gap_db], [y, y], "-", color="0.7", lw=1.5)
        ax.plot(before, y, "o", mfc="white", mec="0.4", ms=6)
        ax.plot(r.gap_db, y, "o", color=color, ms=6)
    ax.axvline(GAP_BAR_DB, ls=":", color="k", lw=1.5)
    ax.set_yticks(rows)
    ax.set_yticklabels([f"{r.scene} D={r.latency}" for r in long_runs], fontsize=8)
    ax.set_xlabel("gap to the Wiener bound (dB)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"FxNLMS: gap after {cfg.seconds:g} s (open) and after {cfg.long_seconds:g} s "
                 f"(filled: green within {GAP_BAR_DB} dB, red short)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "gaps_given_time.png", dpi=90)
    plt.close(fig)
    n_pass = len(passed_given_time(runs, long_runs))
    return ("gaps_given_time.png", "FxNLMS given more time",
            f"Every cell where FxNLMS from zero missed a bar in the sweep's {cfg.seconds:g} s "
            f"runs again for {cfg.long_seconds:g} s (steady state is again the last quarter). "
            f"Given that time, {n_pass} of {len(runs)} cells come within {GAP_BAR_DB} dB of the "
            "bound (dotted line). The cells still short are the ones the slow-mode model gives "
            "hours or more: their bound uses eigenmodes of the filtered reference 40-80 dB "
            "weaker than the strongest.")


def summary_table(runs: list[RunSummary], cfg: Settings,
                  hybrid_runs: list[RunSummary] | None = None,
                  long_runs: list[RunSummary] | None = None) -> str:
    """Plain-text table: controller / bound per cell with PASS or MISS, then the level bars
    (also after the long runs); the same for the hybrid controller when it ran."""
    text = _table(runs, cfg, "FxNLMS")
    for line in given_time_lines(runs, long_runs or [], cfg):
        text += f"\n{line}"
    for line in long_bar_lines(runs, long_runs or [], cfg):
        text += f"\nbar after {cfg.long_seconds:g} s: {line}"
    if hybrid_runs:
        text += "\n\n" + _table(hybrid_runs, cfg, HYBRID_LABEL)
    return text


def _table(runs: list[RunSummary], cfg: Settings, label: str) -> str:
    head = f"{label}\nscene     " + "".join(f"  D={lat:<2d}{'':13s}" for lat in cfg.latencies)
    lines = [head]
    for name in cfg.scenes:
        cells = []
        for lat in cfg.latencies:
            r = _cell(runs, name, lat)
            verdict = "PASS" if r.passed else "MISS"
            cells.append(f"{r.attenuation_db:5.1f}/{r.bound_db:5.1f} {verdict}")
        lines.append(f"{name:9s} " + " ".join(f"{c:17s}" for c in cells))
    n_pass = sum(r.passed for r in runs)
    lines.append(f"cells: controller / Wiener bound attenuation (dB) at steady state; PASS = at "
                 f"most {GAP_BAR_DB} dB short of the bound: {n_pass} of {len(runs)} cells pass")
    for bar in level_bars(runs, cfg):
        lines.append(f"bar: {bar['scene']} >= {bar['minimum_db']:.0f} dB at D={bar['latency']}: "
                     f"{bar['attenuation_db']:.1f} dB {'PASS' if bar['passed'] else 'MISS'}")
    return "\n".join(lines)


HOW_TO_READ = """
<h2>How to read this report</h2>
<p>Every number compares the noise at the ear without ANC and with it, over the same samples
of the same simulated run: 10 dB means a tenth of the noise power is left. Figures are at
steady state (the last quarter of each run) unless a plot shows time.</p>
<p><b>The Wiener bound</b> is the least-squares optimal fixed FIR of the same length at the
same latency, computed in hindsight from the same signals: no filter of that length does
better on that segment. Its fall with latency is physics, not an implementation defect:
with D samples of I/O latency the filter must predict the noise D samples ahead, which
tonal noise allows and broadband noise does not. An adaptive filter can beat the bound by
a little when it tracks a slowly changing scene (a wandering engine tone).</p>
<p><b>PASS/MISS</b> compares the controller with the bound (at most {gap} dB short).
<b>The slow-mode model</b> explains a MISS: it splits the Wiener problem into the
eigenmodes of the filtered reference and lets each adapt at the FxNLMS rate
2&mu;&lambda;<sub>i</sub>/(L&middot;mean &lambda;). Low-frequency and band-limited noise
sampled at 48 kHz leaves many modes 40&ndash;80 dB weaker than the strongest; the bound
uses them, FxNLMS needs minutes to days to adapt them (the "bound within {gap} dB after"
figure in results.json and the progress lines). Where the controller sits on the dotted
line, its shortfall is that convergence time, not a fault in the loop.</p>
<p>Convergence time is when the attenuation per 100 ms last came within 3 dB of its final
value. Guard resets (a diverging controller reset by the C core) would show in results.json
and make the cell MISS.</p>
"""


def write_html(runs: list[RunSummary], figures: list[tuple[str, str, str]], cfg: Settings,
               out: Path, elapsed: float, hybrid_runs: list[RunSummary] | None = None,
               long_runs: list[RunSummary] | None = None) -> None:
    """index.html: settings, summary table, bars, how to read it, the figures."""
    longer = {(r.scene, r.latency): r for r in long_runs or []}

    def cell(r: RunSummary, later: RunSummary | None = None) -> str:
        cls = ' class="short"' if not r.passed else ""
        return (f"<td{cls}>{r.attenuation_db:.1f} <small>/ {r.bound_db:.1f}</small> "
                f"<b>{'PASS' if r.passed else 'MISS'}</b><br>"
                f"<small>{r.band_db['50-500']:.0f} | {r.band_db['500-1500']:.0f} dB, "
                f"{r.convergence_s:.1f} s"
                + (f"; model {r.mode_limit_db:.1f}" if math.isfinite(r.mode_limit_db) else "")
                + "</small>"
                + ("" if later is None else
                   f"<br><small>after {cfg.long_seconds:g} s: {later.attenuation_db:.1f} / "
                   f"{later.bound_db:.1f} <b>{'PASS' if later.passed else 'MISS'}</b></small>")
                + "</td>")

    rows = "".join(
        f"<tr><th title='{html.escape(describe(name))}'>{name}</th>"
        + "".join(cell(_cell(runs, name, lat), longer.get((name, lat)))
                  for lat in cfg.latencies) + "</tr>"
        for name in cfg.scenes)
    bars = "".join(
        f"<li>{b['scene']} &ge; {b['minimum_db']:.0f} dB at D = {b['latency']}: "
        f"{b['attenuation_db']:.1f} dB <b>{'PASS' if b['passed'] else 'MISS'}</b></li>"
        for b in level_bars(runs, cfg))
    bars += "".join(f"<li>run again for {cfg.long_seconds:g} s: {html.escape(line)}</li>"
                    for line in long_bar_lines(runs, long_runs or [], cfg))
    given_time = "".join(f"<p>{html.escape(line)}</p>"
                         for line in given_time_lines(runs, long_runs or [], cfg))
    n_pass = sum(r.passed for r in runs)
    hybrid = ""
    if hybrid_runs:
        h_rows = "".join(
            f"<tr><th>{name}</th>" + "".join(cell(_cell(hybrid_runs, name, lat))
                                             for lat in cfg.latencies) + "</tr>"
            for name in cfg.scenes)
        h_bars = "".join(
            f"<li>{b['scene']} &ge; {b['minimum_db']:.0f} dB at D = {b['latency']}: "
            f"{b['attenuation_db']:.1f} dB <b>{'PASS' if b['passed'] else 'MISS'}</b></li>"
            for b in level_bars(hybrid_runs, cfg))
        hybrid = (f"<h2>The same sweep with the hybrid controller</h2><p>{HYBRID_LABEL}: "
                  "each least-squares solve sets every eigenmode of the filtered reference at "
                  "once, so the weak modes that FxNLMS from zero needs minutes or more for "
                  "are in place after a quarter of a second, and FxNLMS keeps them while it "
                  "tracks. Same plant, same μ, no knowledge of the primary path. "
                  f"{sum(r.passed for r in hybrid_runs)} of {len(hybrid_runs)} cells pass.</p>"
                  f"<table><tr><th>scene</th>"
                  f"{''.join(f'<th>D = {lat}</th>' for lat in cfg.latencies)}</tr>"
                  f"{h_rows}</table><ul>{h_bars}</ul>")
    scenes = "".join(f"<li><b>{n}</b>: {html.escape(describe(n))}</li>" for n in cfg.scenes)
    figs = "".join(f"<h2>{html.escape(title)}</h2><p>{html.escape(text)}</p>"
                   f"<img src='{fname}' alt='{html.escape(title)}'>"
                   for fname, title, text in figures)
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>ANC headset simulation report</title>
<style>body{{font-family:sans-serif;max-width:1300px;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:center}}
td.short{{background:#fde8e8}}img{{max-width:100%}}small{{color:#555}}</style></head><body>
<h1>ANC headset simulation report</h1>
<p>Feedforward FxNLMS with {cfg.taps} taps at 48 kHz in the closed-loop headset model (C core):
primary path with a {PRIMARY_DELAY}-sample acoustic lead, secondary path with a
{SECONDARY_DELAY}-sample delay ({PATH_TAPS}-tap FIRs), I/O latency D added to the secondary
path, the controller's secondary-path estimate measured end to end (delay(D) ∗ S). The
controller adapts on blocks of {cfg.block} samples and commits its weights to the
sample-by-sample fast path with a crossfade. Step size μ = {cfg.mu}, {cfg.seconds:g} s per run,
seed {cfg.seed}. Noise that the reference microphone does not observe reaches the ear at
{cfg.ear_noise_db:g} dB relative to the coherent noise, as in a real headset; it caps any
attenuation near {-cfg.ear_noise_db:g} dB. {_mic_text(cfg)} Steady state is the last quarter of
each run.</p>
{HOW_TO_READ.format(gap=GAP_BAR_DB)}
<h2>Summary</h2>
<p>Each cell: controller attenuation / <small>Wiener bound</small> in dB (overall) and
PASS/MISS, then the controller's attenuation in the 50–500 Hz | 500–1500 Hz bands, its
convergence time and the slow-mode model's prediction. Shaded cells are more than
{GAP_BAR_DB} dB short of the bound ({n_pass} of {len(runs)} pass). A cell that missed a bar
was run again for {cfg.long_seconds:g} s: its last line is that run's steady state. Rows:
scenes; columns: I/O latency in samples (1 sample = 20.8 µs).</p>
<table><tr><th>scene</th>{"".join(f"<th>D = {lat}</th>" for lat in cfg.latencies)}</tr>
{rows}</table>
{given_time}
<h2>Attenuation bars</h2><ul>{bars}</ul>
{hybrid}
<h2>Scenes</h2><ul>{scenes}</ul>
{figs}
<p><small>{len(runs)} runs in {elapsed:.0f} s; full numbers in results.json.</small></p>
<!-- more-sections -->
</body></html>
"""
    (out / "index.html").write_text(page)


def _mic_text(cfg: Settings) -> str:
    if cfg.ref_noise_db is None:
        return ("The reference microphone is noiseless (exact to float32), which lets the "
                "Wiener bound use components far below any real microphone's self-noise.")
    return (f"The reference microphone adds white self-noise {-cfg.ref_noise_db:g} dB below "
            "the noise it picks up (a MEMS microphone's 25-29 dBA under 85-90 dB SPL); the "
            "controller and the Wiener bound see it, the ear does not.")


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _json_cells(runs: list[RunSummary]) -> list[dict[str, object]]:
    cells = []
    for r in runs:
        row = {k: v for k, v in r.__dict__.items() if k not in ("times", "att_over_time")}
        row.update(gap_db=r.gap_db, passed=r.passed,
                   convergence_s=_finite_or_none(r.convergence_s),
                   seconds_to_bound=_finite_or_none(r.seconds_to_bound),
                   mode_limit_db=_finite_or_none(r.mode_limit_db))
        cells.append(row)
    return cells


def results_json(runs: list[RunSummary], cfg: Settings, elapsed: float,
                 hybrid_runs: list[RunSummary] | None = None,
                 long_runs: list[RunSummary] | None = None) -> dict[str, object]:
    """Everything the report shows, as plain JSON (infinities and NaN become null)."""
    out: dict[str, object] = {
        "settings": cfg.__dict__, "gap_bar_db": GAP_BAR_DB, "elapsed_s": elapsed,
        "cells_passed": sum(r.passed for r in runs), "cells": len(runs),
        "level_bars": level_bars(runs, cfg), "runs": _json_cells(runs),
        "long_runs": {"seconds": cfg.long_seconds,
                      "cells_passed": sum(r.passed for r in long_runs or []),
                      "cells_passed_given_time": len(passed_given_time(runs, long_runs or [])),
                      "level_bars": long_bars(runs, long_runs or [], cfg),
                      "runs": _json_cells(long_runs or [])}}
    if hybrid_runs:
        out["hybrid"] = {"controller": HYBRID_LABEL,
                         "cells_passed": sum(r.passed for r in hybrid_runs),
                         "cells": len(hybrid_runs),
                         "level_bars": level_bars(hybrid_runs, cfg),
                         "runs": _json_cells(hybrid_runs)}
    return out


def _level_or_none(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a level in dB or 'none', got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite level in dB, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("demo-report"))
    p.add_argument("--seconds", type=float, default=SECONDS, help="simulated seconds per run")
    p.add_argument("--mu", type=float, default=MU, help="FxNLMS step size")
    p.add_argument("--taps", type=int, default=TAPS)
    p.add_argument("--block", type=int, default=BLOCK, help="adaptation block, samples")
    p.add_argument("--ear-noise-db", type=float, default=EAR_NOISE_DB,
                   help="incoherent noise at the ear relative to the coherent noise, dB")
    p.add_argument("--ref-noise-db", type=_level_or_none, default=REF_NOISE_DB,
                   help="reference microphone self-noise relative to the noise it picks up, "
                        "dB, or 'none' for a noiseless reference")
    p.add_argument("--latencies", default=",".join(map(str, LATENCIES)),
                   help="comma-separated I/O latencies in samples")
    p.add_argument("--scenes", default=",".join(scene_names()),
                   help="comma-separated scene names")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--long-seconds", type=float, default=LONG_SECONDS,
                   help="rerun FxNLMS this long where it missed a bar (0: do not)")
    p.add_argument("--no-hybrid", action="store_true",
                   help="skip the hybrid controller's run per cell")
    a = p.parse_args(argv)
    try:
        latencies = tuple(int(v) for v in a.latencies.split(","))
    except ValueError:
        p.error(f"--latencies must be comma-separated integers, got {a.latencies!r}")
    scenes = tuple(s for s in a.scenes.split(",") if s)
    unknown = [s for s in scenes if s not in scene_names()]
    if unknown:
        p.error(f"unknown scene(s) {', '.join(unknown)}; known: {', '.join(scene_names())}")
    if not scenes:
        p.error("--scenes names no scene")
    if any(v < 0 for v in latencies):
        p.error("--latencies must be >= 0")
    if not (math.isfinite(a.seconds) and a.seconds >= 1.0):
        p.error(f"--seconds must be at least 1, got {a.seconds}")
    if not (math.isfinite(a.mu) and a.mu > 0):
        p.error(f"--mu must be a positive number, got {a.mu}")
    if not (math.isfinite(a.long_seconds) and a.long_seconds >= 0):
        p.error(f"--long-seconds must be 0 or more, got {a.long_seconds}")
    if a.taps <= 0 or a.block <= 0:
        p.error("--taps and --block must be positive")
    if not math.isfinite(a.ear_noise_db):
        p.error(f"--ear-noise-db must be finite, got {a.ear_noise_db}")
    cfg = Settings(a.seconds, a.mu, a.taps, a.block, a.ear_noise_db, a.ref_noise_db, latencies,
                   scenes, a.seed, hybrid=not a.no_hybrid, long_seconds=a.long_seconds)
    a.out.mkdir(parents=True, exist_ok=True)
    print(f"Simulating {len(scenes)} scenes x {len(latencies)} latencies, "
          f"{cfg.seconds:g} s each (FxNLMS, L={cfg.taps}, mu={cfg.mu}, block={cfg.block}; "
          f"ear noise {cfg.ear_noise_db:g} dB, reference microphone noise "
          f"{'none' if cfg.ref_noise_db is None else f'{cfg.ref_noise_db:g} dB'})", flush=True)
    t0 = time.perf_counter()
    runs, spectra, hybrid_runs = run_sweep(cfg)
    long_runs = run_long(runs, cfg)
    figures = plot(runs, spectra, cfg, a.out) + plot_long(runs, long_runs, cfg, a.out)
    elapsed = time.perf_counter() - t0
    write_html(runs, figures, cfg, a.out, elapsed, hybrid_runs, long_runs)
    (a.out / "results.json").write_text(
        json.dumps(results_json(runs, cfg, elapsed, hybrid_runs, long_runs), indent=1))
    print()
    print(summary_table(runs, cfg, hybrid_runs, long_runs))
    print(f"\nReport: {a.out / 'index.html'} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
