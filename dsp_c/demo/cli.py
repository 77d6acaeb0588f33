"""`make demo`: every noise scene at several I/O latencies, with the Wiener bound alongside."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from dsp_c.demo.figures import plot, plot_hours, plot_long
from dsp_c.demo.page import results_json, summary_table, write_html
from dsp_c.demo.sweep import (
    BLOCK,
    EAR_NOISE_DB,
    HOURS,
    LATENCIES,
    LONG_SECONDS,
    MU,
    REF_NOISE_DB,
    SECONDS,
    TAPS,
    Settings,
    run_hours,
    run_long,
    run_sweep,
)
from dsp_c.sim import scene_names


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
    p = argparse.ArgumentParser(prog="python -m dsp_c.demo",
                                description=(__doc__ or "").splitlines()[0])
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
    p.add_argument("--hours", type=float, default=HOURS,
                   help="then run FxNLMS this many hours of simulated time where a level bar "
                        "is still missed (0: do not)")
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
    if not (math.isfinite(a.hours) and a.hours >= 0):
        p.error(f"--hours must be 0 or more, got {a.hours}")
    if a.taps <= 0 or a.block <= 0:
        p.error("--taps and --block must be positive")
    if not math.isfinite(a.ear_noise_db):
        p.error(f"--ear-noise-db must be finite, got {a.ear_noise_db}")
    cfg = Settings(a.seconds, a.mu, a.taps, a.block, a.ear_noise_db, a.ref_noise_db, latencies,
                   scenes, a.seed, hybrid=not a.no_hybrid, long_seconds=a.long_seconds,
                   hours=a.hours)
    a.out.mkdir(parents=True, exist_ok=True)
    print(f"Simulating {len(scenes)} scenes x {len(latencies)} latencies, "
          f"{cfg.seconds:g} s each (FxNLMS, L={cfg.taps}, mu={cfg.mu}, block={cfg.block}; "
          f"ear noise {cfg.ear_noise_db:g} dB, reference microphone noise "
          f"{'none' if cfg.ref_noise_db is None else f'{cfg.ref_noise_db:g} dB'})", flush=True)
    t0 = time.perf_counter()
    runs, spectra, hybrid_runs = run_sweep(cfg)
    long_runs = run_long(runs, cfg)
    hours_runs = run_hours(runs, long_runs, cfg)
    figures = (plot(runs, spectra, cfg, a.out) + plot_long(runs, long_runs, cfg, a.out)
               + plot_hours(runs, long_runs, hours_runs, cfg, a.out))
    elapsed = time.perf_counter() - t0
    write_html(runs, figures, cfg, a.out, elapsed, hybrid_runs, long_runs, hours_runs)
    (a.out / "results.json").write_text(json.dumps(
        results_json(runs, cfg, elapsed, hybrid_runs, long_runs, hours_runs), indent=1))
    print()
    print(summary_table(runs, cfg, hybrid_runs, long_runs, hours_runs))
    print(f"\nReport: {a.out / 'index.html'} ({elapsed:.0f} s)")
    return 0
