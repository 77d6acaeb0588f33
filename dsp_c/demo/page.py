"""The demo's summary table, its HTML page and results.json."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from dsp_c.demo.sweep import (
    GAP_BAR_DB,
    HYBRID_LABEL,
    RunSummary,
    Settings,
    cell_at,
    finite_or_none,
    given_time_lines,
    hours_bar_lines,
    hours_bars,
    level_bars,
    long_bar_lines,
    long_bars,
    passed_given_time,
)
from dsp_c.sim import describe
from dsp_c.sim.chunked import ChunkedRun
from dsp_c.sim.plant import PATH_TAPS, PRIMARY_DELAY, SECONDARY_DELAY


def summary_table(runs: list[RunSummary], cfg: Settings,
                  hybrid_runs: list[RunSummary] | None = None,
                  long_runs: list[RunSummary] | None = None,
                  hours_runs: list[ChunkedRun] | None = None) -> str:
    """Plain-text table: controller / bound per cell with PASS or MISS, then the level bars
    (also after the long and the hours-long runs); the same for the hybrid controller when
    it ran."""
    text = _table(runs, cfg, "FxNLMS")
    for line in given_time_lines(runs, long_runs or [], cfg):
        text += f"\n{line}"
    for line in long_bar_lines(runs, long_runs or [], cfg):
        text += f"\nbar after {cfg.long_seconds:g} s: {line}"
    for line in hours_bar_lines(hours_runs or [], cfg):
        text += f"\nbar after {cfg.hours:g} h: {line}"
    if hybrid_runs:
        text += "\n\n" + _table(hybrid_runs, cfg, HYBRID_LABEL)
    return text


def _table(runs: list[RunSummary], cfg: Settings, label: str) -> str:
    head = f"{label}\nscene     " + "".join(f"  D={lat:<2d}{'':13s}" for lat in cfg.latencies)
    lines = [head]
    for name in cfg.scenes:
        cells = []
        for lat in cfg.latencies:
            r = cell_at(runs, name, lat)
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
               long_runs: list[RunSummary] | None = None,
               hours_runs: list[ChunkedRun] | None = None) -> None:
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

    def table_rows(of: list[RunSummary], later: dict[tuple[str, int], RunSummary]) -> str:
        return "".join(
            f"<tr><th title='{html.escape(describe(name))}'>{name}</th>"
            + "".join(cell(cell_at(of, name, lat), later.get((name, lat)))
                      for lat in cfg.latencies) + "</tr>"
            for name in cfg.scenes)

    def bar_items(of: list[RunSummary]) -> str:
        return "".join(
            f"<li>{b['scene']} &ge; {b['minimum_db']:.0f} dB at D = {b['latency']}: "
            f"{b['attenuation_db']:.1f} dB <b>{'PASS' if b['passed'] else 'MISS'}</b></li>"
            for b in level_bars(of, cfg))

    rows = table_rows(runs, longer)
    bars = bar_items(runs)
    bars += "".join(f"<li>run again for {cfg.long_seconds:g} s: {html.escape(line)}</li>"
                    for line in long_bar_lines(runs, long_runs or [], cfg))
    bars += "".join(f"<li>run for {cfg.hours:g} h: {html.escape(line)}</li>"
                    for line in hours_bar_lines(hours_runs or [], cfg))
    given_time = "".join(f"<p>{html.escape(line)}</p>"
                         for line in given_time_lines(runs, long_runs or [], cfg))
    n_pass = sum(r.passed for r in runs)
    hybrid = ""
    if hybrid_runs:
        h_rows = table_rows(hybrid_runs, {})
        h_bars = bar_items(hybrid_runs)
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


def _json_cells(runs: list[RunSummary]) -> list[dict[str, object]]:
    cells = []
    for r in runs:
        row = {k: v for k, v in r.__dict__.items() if k not in ("times", "att_over_time")}
        row.update(gap_db=r.gap_db, passed=r.passed,
                   convergence_s=finite_or_none(r.convergence_s),
                   seconds_to_bound=finite_or_none(r.seconds_to_bound),
                   mode_limit_db=finite_or_none(r.mode_limit_db))
        cells.append(row)
    return cells


def _json_chunked(r: ChunkedRun) -> dict[str, object]:
    row: dict[str, object] = {k: v for k, v in r.__dict__.items() if not isinstance(v, np.ndarray)}
    row.update(gap_db=r.gap_db,
               model_seconds_to_bound=finite_or_none(r.model_seconds_to_bound),
               minutes=[round(float(t) / 60, 3) for t in r.chunk_end_s],
               att_db=[round(float(v), 3) for v in r.chunk_att_db],
               model_att_db=[finite_or_none(round(float(v), 3)) for v in r.model_att_db])
    return row


def results_json(runs: list[RunSummary], cfg: Settings, elapsed: float,
                 hybrid_runs: list[RunSummary] | None = None,
                 long_runs: list[RunSummary] | None = None,
                 hours_runs: list[ChunkedRun] | None = None) -> dict[str, object]:
    """Everything the report shows, as plain JSON (infinities and NaN become null)."""
    out: dict[str, object] = {
        "settings": cfg.__dict__, "gap_bar_db": GAP_BAR_DB, "elapsed_s": elapsed,
        "cells_passed": sum(r.passed for r in runs), "cells": len(runs),
        "level_bars": level_bars(runs, cfg), "runs": _json_cells(runs),
        "long_runs": {"seconds": cfg.long_seconds,
                      "cells_passed": sum(r.passed for r in long_runs or []),
                      "cells_passed_given_time": len(passed_given_time(runs, long_runs or [])),
                      "level_bars": long_bars(runs, long_runs or [], cfg),
                      "runs": _json_cells(long_runs or [])},
        "hours_runs": {"hours": cfg.hours, "level_bars": hours_bars(hours_runs or [], cfg),
                       "runs": [_json_chunked(r) for r in hours_runs or []]}}
    if hybrid_runs:
        out["hybrid"] = {"controller": HYBRID_LABEL,
                         "cells_passed": sum(r.passed for r in hybrid_runs),
                         "cells": len(hybrid_runs),
                         "level_bars": level_bars(hybrid_runs, cfg),
                         "runs": _json_cells(hybrid_runs)}
    return out
