"""`make demo`: every noise scene at several I/O latencies, with the Wiener bound alongside.

Prints one line per run, a summary table with PASS/MISS per cell against the issue-2 bars
(within 1.5 dB of the Wiener bound everywhere; engine hum ≥ 30 dB up to 32 samples;
band-limited noise ≥ 20 dB at 1 sample), reruns for LONG_SECONDS every cell where FxNLMS
missed a bar, so each bar is also judged at a steady state reached with time, runs a level
bar still missed then for HOURS of simulated time (dsp_c.sim.chunked), and writes
demo-report/index.html with PNG figures and results.json. Runs go to a process per CPU.
Run it directly with `python -m dsp_c.demo --help`.
"""

from dsp_c.demo.cli import main
from dsp_c.demo.sweep import (
    BLOCK,
    EAR_NOISE_DB,
    GAP_BAR_DB,
    HOURS,
    LATENCIES,
    LEVEL_BARS,
    LONG_SECONDS,
    MU,
    REF_NOISE_DB,
    SECONDS,
    TAPS,
    RunSummary,
    Settings,
    missed_cells,
    passed_given_time,
)

__all__ = ["BLOCK", "EAR_NOISE_DB", "GAP_BAR_DB", "HOURS", "LATENCIES", "LEVEL_BARS",
           "LONG_SECONDS", "MU", "REF_NOISE_DB", "SECONDS", "TAPS", "RunSummary", "Settings",
           "main", "missed_cells", "passed_given_time"]
