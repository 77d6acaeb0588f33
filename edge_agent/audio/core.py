"""The real-time loop: one backend, one DSP chain, changes at block boundaries.

`LoopCore.step()` processes one block; `run_loop` drives it, paced at the block period
(or as fast as possible), measures each block's processing time into the histogram of
the shared state and counts deadline misses. Between blocks it applies pending changes.
Nothing here allocates per block in steady state, logs, or waits on anything but the
block clock.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import numpy as np

from edge_agent.audio.api import (
    ALGORITHMS,
    EMERGENCY_CLASSES,
    MODES,
    Change,
    EmergencyOverride,
    InjectSound,
    LoadFilter,
    SetController,
    SetMode,
    SetSafety,
)
from edge_agent.audio.backends import Backend
from edge_agent.audio.chain import ControllerParams, DspChain
from edge_agent.audio.state import HIST_BINS, MISS_LOG, RING, SLOT, SharedState
from edge_agent.config import AudioConfig, EmergencyConfig

ATT_SMOOTH_S = 1.0  # time constant of the attenuation meter
LATE_RESYNC_BLOCKS = 8  # behind by more than this: re-anchor the block clock
MUTED_MODES = ("off", "transparency")


class LoopCore:
    """State the loop owns: chain, backend, user mode, emergency flag."""

    def __init__(self, audio: AudioConfig, emergency: EmergencyConfig, backend: Backend,
                 state: SharedState) -> None:
        self.backend, self.state, self.block = backend, state, audio.block
        self.samples = 0
        params = ControllerParams(audio.algorithm, audio.taps, audio.mu, audio.leak)
        self.chain = DspChain(audio.block, params, backend.sec_path)
        backend.attach(self.chain)
        self.user_mode = audio.mode
        self.emergency = False
        self.emergency_cls = EMERGENCY_CLASSES[0]
        self.emergency_transparency = True
        s = self.slots = state.slots
        self._i = {name: SLOT[name] for name in SLOT}
        s[SLOT["sample_rate"]] = audio.sample_rate
        s[SLOT["block"]] = audio.block
        s[SLOT["latency"]] = getattr(backend, "latency", 0)
        s[SLOT["emergency_enabled"]] = float(emergency.enabled)
        s[SLOT["switched_sample"]] = -1
        s[SLOT["peak"]] = 1.0
        self._publish_params()
        self._apply_mode()
        B = audio.block
        if RING % B:
            raise ValueError(f"block: must divide {RING}, got {B}")
        ring = state.ring
        self._ring_x = [ring[0, i:i + B] for i in range(0, RING, B)]
        self._ring_d = [ring[1, i:i + B] for i in range(0, RING, B)]
        self._rk = 0
        self._att_keep = float(np.exp(-B / (ATT_SMOOTH_S * audio.sample_rate)))
        self._hist = state.hist
        self._miss_log = state.miss_log

    # --- changes (between blocks) -------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Apply one change; a failure is counted, never raised into the loop."""
        s, i = self.slots, self._i
        try:
            if isinstance(change, SetMode):
                self.user_mode = change.mode
            elif isinstance(change, SetController):
                self.chain.reconfigure(change.algorithm, change.taps, change.mu, change.leak)
                self._publish_params()
            elif isinstance(change, LoadFilter):
                self.chain.load(np.asarray(change.weights, dtype=np.float32))
                s[i["filter_version"]] = change.version
                self._publish_params()
            elif isinstance(change, SetSafety):
                if change.max_output_dbfs is not None:
                    peak = 10.0 ** (change.max_output_dbfs / 20.0)
                    self.chain.set_peak(peak)
                    s[i["peak"]] = peak
                if change.emergency_transparency is not None:
                    self.emergency_transparency = change.emergency_transparency
            elif isinstance(change, EmergencyOverride):
                self.emergency = change.active
                self.emergency_cls = change.cls
            elif isinstance(change, InjectSound):
                self.backend.inject(change, self.samples)
            else:
                raise TypeError(f"not an audio change: {type(change).__name__}")
        except Exception:  # noqa: BLE001 - the loop must survive any bad change
            s[i["change_errors"]] += 1
        self._apply_mode()

    def _publish_params(self) -> None:
        s, p = self.slots, self.chain.params
        s[SLOT["algorithm"]] = ALGORITHMS.index(p.algorithm)
        s[SLOT["taps"]] = p.taps
        s[SLOT["mu"]] = p.mu
        s[SLOT["leak"]] = p.leak

    def _apply_mode(self) -> None:
        forced = self.emergency and self.emergency_transparency
        mode = "transparency" if forced else self.user_mode
        s = self.slots
        if forced and s[SLOT["emergency"]] == 0:
            s[SLOT["switched_sample"]] = self.samples
        elif not forced:  # the switch time belongs to the emergency that is holding now
            s[SLOT["switched_sample"]] = -1
        s[SLOT["emergency"]] = float(self.emergency)
        s[SLOT["emergency_cls"]] = EMERGENCY_CLASSES.index(self.emergency_cls)
        s[SLOT["emergency_transparency"]] = float(self.emergency_transparency)
        s[SLOT["mode"]] = MODES.index(mode)
        s[SLOT["user_mode"]] = MODES.index(self.user_mode)
        self.chain.set_muted(mode in MUTED_MODES)

    # --- per block ----------------------------------------------------------------------

    def step(self) -> bool:
        """One block through backend and chain; False when the input has ended."""
        backend, chain = self.backend, self.chain
        if not backend.capture():
            return False
        chain.output()
        backend.play()
        chain.adapt()
        k = self._rk
        np.copyto(self._ring_x[k], chain.x)
        np.copyto(self._ring_d[k], chain.dh)
        self._rk = k + 1 if k + 1 < len(self._ring_x) else 0
        self.samples += self.block
        return True

    def record_change(self, elapsed_ns: int) -> None:
        """Time spent applying changes between two blocks (not part of block time)."""
        s, i = self.slots, self._i
        s[i["seq"]] += 1
        s[i["change_max_us"]] = max(s[i["change_max_us"]], elapsed_ns / 1000.0)
        s[i["seq"]] += 1

    def record(self, elapsed_ns: int, missed: bool, late_start_ns: int, work_ns: int,
               released_ns: int) -> None:
        """Account one block under the seqlock (see state.py); a missed block also goes into
        the miss log with how late it started after its release (at `released_ns` on the
        monotonic clock) and how long it took, changes included."""
        s, i, chain = self.slots, self._i, self.chain
        us = elapsed_ns / 1000.0
        s[i["seq"]] += 1
        s[i["blocks"]] += 1
        s[i["sum_us"]] += us
        if us > s[i["max_us"]]:
            s[i["max_us"]] = us
        self._hist[min(elapsed_ns // 1000, HIST_BINS - 1)] += 1
        if missed:
            s[i["misses"]] += 1
            # element writes, not a row view: a view's shape buffers would go into NumPy's
            # small-allocation cache on the first miss and stay there
            log, row = self._miss_log, int(s[i["misses"]] - 1) % MISS_LOG
            log[row, 0] = (self.samples - self.block) / s[i["sample_rate"]]
            log[row, 1] = late_start_ns / 1000.0
            log[row, 2] = work_ns / 1000.0
            log[row, 3] = released_ns / 1e9
        keep = self._att_keep
        s[i["att_d"]] = keep * s[i["att_d"]] + chain.dh.dot(chain.dh)
        s[i["att_e"]] = keep * s[i["att_e"]] + chain.e.dot(chain.e)
        s[i["resets"]] = chain.resets
        s[i["blocked"]] = chain.blocked
        s[i["guarded"]] = chain.guarded
        s[i["samples"]] = self.samples
        s[i["ring_write"]] = self.samples
        s[i["seq"]] += 1


def run_loop(core: LoopCore, paced: bool, poll: Callable[[], None],
             after_block: Callable[[], object] | None = None,
             max_blocks: int | None = None) -> int:
    """Run blocks until the state's stop flag, the end of input or `max_blocks`.

    `poll()` applies pending changes between blocks; when that took longer than 2 µs
    (something was applied) its time is recorded as `change_max_us`, apart from the block
    time, but it still counts against the block's deadline when paced. A block misses its
    deadline when it finishes later than one block period after it was released (paced),
    or takes longer than a block period to process (unpaced: it could not have kept up).
    A missed block's log entry says which: how late it started after its release (the
    loop was not running: a late wake-up) and how long it then took (its own work).
    Returns the number of blocks run.
    """
    slots = core.slots
    stop = SLOT["stop"]
    fs = float(slots[SLOT["sample_rate"]])
    period = int(round(core.block * 1e9 / fs))
    clock = time.monotonic_ns  # the clock of DeadlineMiss.released_s
    t_start = clock()
    k = 0
    release = t_start
    wait = core.backend.wait
    while slots[stop] == 0 and (max_blocks is None or k < max_blocks):
        if paced:
            release = t_start + k * period
            ahead = release - clock()
            if ahead > 0:
                time.sleep(ahead / 1e9)
        else:
            wait()
        t_wake = t0 = clock()
        poll()
        t_poll = clock()
        if t_poll - t0 > 2000:  # a change was applied: timed apart from the block
            core.record_change(t_poll - t0)
            t0 = t_poll
        ok = core.step()
        t1 = clock()
        if not ok:
            slots[SLOT["finished"]] = 1
            break
        missed = (t1 - release > period) if paced else (t1 - t0 > period)
        core.record(t1 - t0, missed, t_wake - release if paced else 0, t1 - t_wake,
                    release if paced else t_wake)
        k += 1
        if after_block is not None:
            after_block()
        if paced and t1 - release > LATE_RESYNC_BLOCKS * period:
            t_start = t1 - k * period
    return k


def collect_garbage_now() -> None:
    """Collect at a safe point (between changes) when automatic collection is off."""
    if not gc.isenabled():
        gc.collect()
