"""The demo's figures: spectra, attenuation over time and against latency, the long runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dsp_c.demo.sweep import (
    GAP_BAR_DB,
    RunSummary,
    Settings,
    Spectra,
    cell_at,
    level_bar_of,
    long_level_runs,
    passed_given_time,
    spectrum_latency,
)
from dsp_c.sim.chunked import CHUNK_SECONDS, FADE_SECONDS, STEADY_SECONDS, ChunkedRun


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
    at_latency = spectrum_latency(cfg)

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
    _finish_grid(plt, fig, axes, len(cfg.scenes), "frequency (Hz)", "PSD (dB re FS²/Hz)",
                 f"Spectrum at the ear, steady state, latency {at_latency} samples",
                 out / "spectra.png")
    figures.append(("spectra.png", "Spectrum at the ear before and after",
                    "Power spectral density of the noise at the ear without ANC and with it, over "
                    "the last quarter of each run at latency "
                    f"{at_latency} samples. The vertical gap between the curves is the "
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
    _finish_grid(plt, fig, axes, len(cfg.scenes), "time (s)", "attenuation (dB)",
                 "Attenuation over time (per 100 ms), one line per I/O latency D in samples",
                 out / "attenuation_time.png", legend_columns=2)
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
    _finish_grid(plt, fig, axes, len(cfg.scenes), "I/O latency (samples at 48 kHz)",
                 "attenuation (dB)",
                 "Steady-state attenuation against latency, controller and Wiener bound",
                 out / "attenuation_latency.png")
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


def _finish_grid(plt: Any, fig: Any, axes: Any, panels: int, xlabel: str, ylabel: str,
                 title: str, path: Path, legend_columns: int = 1) -> None:
    """Blank the unused panels, label the outer axes, title, save to `path`, close."""
    for ax in axes.flat[panels:]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=8 if legend_columns == 1 else 7, ncol=legend_columns)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    _save(plt, fig, path, title)


def _save(plt: Any, fig: Any, path: Path, title: str | None = None) -> None:
    """Title (when given), lay out, save as PNG to `path`, close."""
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


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
    with_bar = long_level_runs(runs, long_runs, cfg)
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
    for minimum in sorted({level_bar_of(r) or 0.0 for r in with_bar}):
        ax.axhline(minimum, ls=":", lw=1.5, color="k", label=f"bar {minimum:.0f} dB")
    ax.axvline(cfg.seconds, ls="-", lw=0.8, color="0.6")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("attenuation (dB, 1 s means)")
    ax.set_ylim(-2, max(45.0, max(r.bound_db for r in with_bar) + 3))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    _save(plt, fig, out / "long_runs.png", f"FxNLMS from zero for {cfg.long_seconds:g} s "
          f"where it missed a level bar in {cfg.seconds:g} s")
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
    _save(plt, fig, out / "gaps_given_time.png")
    n_pass = len(passed_given_time(runs, long_runs))
    return ("gaps_given_time.png", "FxNLMS given more time",
            f"Every cell where FxNLMS from zero missed a bar in the sweep's {cfg.seconds:g} s "
            f"runs again for {cfg.long_seconds:g} s (steady state is again the last quarter). "
            f"Given that time, {n_pass} of {len(runs)} cells come within {GAP_BAR_DB} dB of the "
            "bound (dotted line). The cells still short are the ones the slow-mode model gives "
            "hours or more: their bound uses eigenmodes of the filtered reference 40-80 dB "
            "weaker than the strongest.")


def plot_hours(runs: list[RunSummary], long_runs: list[RunSummary],
               hours_runs: list[ChunkedRun], cfg: Settings, out: Path
               ) -> list[tuple[str, str, str]]:
    """The hours-long runs: attenuation per minute against the bar, the Wiener bound and the
    slow-mode model's trajectory, with the sweep's and the long run's steady states."""
    if not hours_runs:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    longer = {(r.scene, r.latency): r for r in long_runs}
    fig, ax = plt.subplots(figsize=(8.0, 3.8))
    for i, r in enumerate(hours_runs):
        label = f"{r.scene} D={r.latency}"
        minutes = r.chunk_end_s / 60
        ax.plot(minutes, r.chunk_att_db, lw=0.8, color=f"C{i}", alpha=0.35,
                label=f"{label}, per {_minutes(r.chunk_seconds)}")
        window = max(1, int(round(r.steady_seconds / r.chunk_seconds)))
        if len(minutes) > window:
            residual = np.convolve(10 ** (-r.chunk_att_db / 10), np.ones(window) / window,
                                   mode="valid")
            ax.plot(minutes[window - 1:], -10 * np.log10(residual), lw=1.6, color=f"C{i}",
                    label=f"{label}, running mean over {_minutes(r.steady_seconds)}")
        ax.plot(minutes, r.model_att_db, ls="-.", lw=1.0, color=f"C{i}", alpha=0.7,
                label=f"{label}, slow-mode model")
        ax.axhline(r.bound_db, ls="--", lw=1, color=f"C{i}", label=f"{label} Wiener bound")
        ax.plot(r.seconds / 60, r.attenuation_db, "D", color=f"C{i}", ms=7,
                label=f"{label}, steady state (last {_minutes(r.steady_seconds)})")
        sweep = cell_at(runs, r.scene, r.latency)
        ax.plot(cfg.seconds * 0.875 / 60, sweep.attenuation_db, "o", mfc="white",
                mec=f"C{i}", label=f"{label}, sweep ({cfg.seconds:g} s)")
        if (r.scene, r.latency) in longer:
            ax.plot(cfg.long_seconds * 0.875 / 60, longer[r.scene, r.latency].attenuation_db,
                    "s", mfc="white", mec=f"C{i}", label=f"{label}, long run "
                    f"({cfg.long_seconds:g} s)")
    for minimum in sorted({level_bar_of(r) or 0.0 for r in hours_runs}):
        ax.axhline(minimum, ls=":", lw=1.5, color="k", label=f"bar {minimum:.0f} dB")
    ax.set_xscale("log")
    ax.set_xlabel("simulated time (min, log scale)")
    ax.set_ylabel("attenuation (dB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    _save(plt, fig, out / "hours_runs.png", f"FxNLMS from zero for {cfg.hours:g} h where a "
          f"level bar was still missed after {cfg.long_seconds:g} s")
    return [("hours_runs.png", "The level bars given hours",
             f"Where a level bar was still missed after {cfg.long_seconds:g} s, FxNLMS from "
             f"zero runs for {cfg.hours:g} h of simulated time, streamed through the loop "
             f"{CHUNK_SECONDS:g} s at a time (a fresh draw of the scene each chunk, joined by a "
             f"{FADE_SECONDS:g} s crossfade). The faint line is the attenuation of each chunk, "
             f"the bold one its running mean over {_minutes(STEADY_SECONDS)}, the diamond the "
             f"steady state (the last {_minutes(STEADY_SECONDS)}) on which the bar is judged, "
             "the dashed line the Wiener bound over that steady state and the dash-dotted line "
             "the slow-mode model's mean trajectory. Open markers: the sweep's and the long "
             "run's steady states.")]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min"
