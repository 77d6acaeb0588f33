"""The loop's shared state: statistics, block-time histogram and the analysis ring.

One flat buffer (plain memory, or POSIX shared memory when the loop runs in its own
process) holds three numpy views:

- `slots`: float64 scalars (SLOT names below), written by the loop under a seqlock:
  `seq` is odd while the loop updates, so `snapshot()` retries until it reads an even,
  unchanged `seq` - a consistent copy without a lock the loop could wait on.
- `hist`: block processing time histogram, 1 µs bins, the last bin collects overflow.
- `miss_log`: float64 (MISS_LOG, MISS_FIELDS), the last deadline misses (written under the
  seqlock): stream time (s) of the block, how late it started after its release (µs), how
  long it then took, changes applied before it included (µs), and the release instant on
  the system's monotonic clock (s; CLOCK_MONOTONIC on Linux, as in kernel traces and other
  processes' time.monotonic()). Miss n is row (n - 1) % MISS_LOG.
- `ring`: float32 (2, RING) - the reference signal x and the disturbance estimate d̂ of
  every block, for the analysis stage (features, emergency detector, adaptation
  statistics). `ring_write` counts samples written; the reader keeps its own position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

SLOTS = ("seq", "ready", "stop", "finished", "blocks", "misses", "sum_us", "max_us",
         "resets", "blocked", "guarded", "mode", "user_mode", "emergency", "emergency_cls",
         "emergency_enabled", "switched_sample", "algorithm", "taps", "mu", "leak",
         "filter_version", "samples", "att_d", "att_e", "cmd_sent", "cmd_applied",
         "ring_write", "peak", "sample_rate", "block", "latency", "change_errors",
         "emergency_transparency", "rt_priority", "change_max_us")
SLOT = {name: i for i, name in enumerate(SLOTS)}
N_SLOTS = 64
HIST_BINS = 5001  # 0..4999 µs in 1 µs bins, then overflow
RING = 1 << 16  # samples per ring channel (1.37 s at 48 kHz)
MISS_LOG = 16  # deadline misses remembered with their timing
MISS_FIELDS = 4  # stream time, late start, work, release instant (see the module doc)


@dataclass(frozen=True)
class Snapshot:
    slots: np.ndarray
    hist: np.ndarray
    miss_log: np.ndarray

    def __getitem__(self, name: str) -> float:
        return float(self.slots[SLOT[name]])


class SharedState:
    """Views over one buffer of `size()` bytes (zeroed by the creator)."""

    def __init__(self, buf: memoryview | bytearray) -> None:
        off = 0
        self.slots = np.ndarray((N_SLOTS,), np.float64, buf, off)
        off += N_SLOTS * 8
        self.hist = np.ndarray((HIST_BINS,), np.int64, buf, off)
        off += HIST_BINS * 8
        self.miss_log = np.ndarray((MISS_LOG, MISS_FIELDS), np.float64, buf, off)
        off += MISS_LOG * MISS_FIELDS * 8
        self.ring = np.ndarray((2, RING), np.float32, buf, off)

    @staticmethod
    def size() -> int:
        return N_SLOTS * 8 + HIST_BINS * 8 + MISS_LOG * MISS_FIELDS * 8 + 2 * RING * 4

    def get(self, name: str) -> float:
        return float(self.slots[SLOT[name]])

    def set(self, name: str, value: float) -> None:
        self.slots[SLOT[name]] = value

    def snapshot(self, timeout_s: float = 2.0) -> Snapshot:
        """A consistent copy of slots, histogram and miss log (seqlock read).

        The writer is inside an update for a few µs per block; if it is preempted there
        (a loop thread waiting for the GIL), the reader yields and retries."""
        seq = SLOT["seq"]
        deadline = time.monotonic() + timeout_s
        tries = 0
        while True:
            before = self.slots[seq]
            if before % 2 == 0:
                slots = self.slots.copy()
                hist = self.hist.copy()
                miss_log = self.miss_log.copy()
                if self.slots[seq] == before:
                    return Snapshot(slots, hist, miss_log)
            tries += 1
            if tries % 16 == 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("audio state did not settle: the loop stopped inside "
                                       "an update (did its process die?)")
                time.sleep(0.0001)


def percentiles_us(hist: np.ndarray, qs: tuple[float, ...], max_us: float) -> list[float]:
    """Upper bounds of the histogram's q-quantiles in µs (overflow bin: the maximum)."""
    total = int(hist.sum())
    if total == 0:
        return [0.0 for _ in qs]
    cum = np.cumsum(hist)
    out = []
    for q in qs:
        i = int(np.searchsorted(cum, q * total))
        out.append(max_us if i >= HIST_BINS - 1 else min(float(i + 1), max_us))
    return out
