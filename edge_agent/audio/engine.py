"""The two ways to run the loop behind the AudioEngine interface (api.py).

- `ProcessEngine` (real time: paced sim, ALSA): the loop runs alone in a child process
  with its own interpreter and GIL, automatic garbage collection off (collected only right
  after a change was applied). Statistics, histogram and the analysis ring live in one
  shared memory file; changes travel over a pipe, announced by a counter the loop reads
  once per block. The analysis stage runs in a thread of this process.
- `InlineEngine` (as fast as possible: wav, unpaced sim, tests, `anc-edge simulate`):
  loop and analysis alternate in one thread, so simulated time is exact and runs are
  deterministic. `run(blocks)` drives it synchronously.

Why a process and not a tuned switch interval: see README.md in this directory.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import gc
import mmap
import multiprocessing
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from dsp_c.sim.plant import estimate_secondary, make_plant
from edge_agent.audio.analysis import Analysis
from edge_agent.audio.api import (
    ALGORITHMS,
    EMERGENCY_CLASSES,
    MODES,
    AdaptationStatistics,
    AudioEngine,
    AudioStats,
    Change,
    DeadlineMiss,
    EmergencyState,
    InjectSound,
)
from edge_agent.audio.backends import (
    DEFAULT_LATENCY,
    Backend,
    SimBackend,
    WavBackend,
    resolve_scene,
)
from edge_agent.audio.chain import HISTORY
from edge_agent.audio.core import LoopCore, collect_garbage_now, run_loop
from edge_agent.audio.state import MISS_LOG, SLOT, SharedState, Snapshot, percentiles_us
from edge_agent.config import AudioConfig, EmergencyConfig

CHANGE_QUEUE = 64
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
ANALYSIS_IDLE_S = 0.002
DEFAULT_RT_PRIORITY = 10


def make_backend(audio: AudioConfig) -> Backend:
    """The backend `audio.backend` names, opened (files read, device opened)."""
    if audio.backend == "sim":
        return SimBackend(audio.sim.scene, audio.sim.seed, audio.sample_rate, audio.block)
    if audio.backend == "wav":
        if audio.wav is None:
            raise ValueError('[audio] backend is "wav" but there is no [audio.wav] table')
        return WavBackend(audio.wav.input, audio.sample_rate, audio.block, audio.wav.output,
                          audio.wav.loop)
    if audio.backend == "alsa":
        from edge_agent.audio.alsa import AlsaBackend

        return AlsaBackend(audio.alsa.device, audio.sample_rate, audio.block)
    raise ValueError(f"[audio] backend: unknown backend {audio.backend!r}")


def model_sec_path(audio: AudioConfig) -> np.ndarray:
    """Ŝ of the backend (the simulated headset's end-to-end secondary path)."""
    seed = audio.sim.seed if audio.backend == "sim" else 0
    return estimate_secondary(make_plant(seed, audio.sample_rate).secondary, DEFAULT_LATENCY)


def _check_block(audio: AudioConfig) -> None:
    b = audio.block
    if b & (b - 1) or b > HISTORY:
        raise ValueError(f"[audio] block: the loop needs a power of two up to {HISTORY}, "
                         f"got {b}")


def stats_snapshot(audio: AudioConfig, state: SharedState, analysis: Analysis) -> AudioStats:
    """AudioStats from the loop's shared state and the analysis stage."""
    snap = state.snapshot()
    features, em = analysis.view()
    blocks = snap["blocks"]
    p50, p99, p999 = percentiles_us(snap.hist, (0.5, 0.99, 0.999), snap["max_us"])
    fs = snap["sample_rate"] or audio.sample_rate
    att_d, att_e = snap["att_d"], snap["att_e"]
    attenuation = None
    if att_d > 0 and att_e > 0 and snap["mode"] not in (0, 2):  # off, transparency
        attenuation = float(10 * np.log10(att_d / att_e))
    switched = snap["switched_sample"]
    if em.active and switched >= 0:
        em = EmergencyState(em.active, em.cls, em.confidence, em.onset_s, em.detected_s,
                            switched / fs)
    elif not em.active and snap["emergency"]:  # forced by an EmergencyOverride
        em = EmergencyState(True, EMERGENCY_CLASSES[int(snap["emergency_cls"])],
                            switched_s=switched / fs if switched >= 0 else None)
    return AudioStats(
        mode=MODES[int(snap["mode"])], user_mode=MODES[int(snap["user_mode"])],
        algorithm=ALGORITHMS[int(snap["algorithm"])], taps=int(snap["taps"]),
        filter_version=int(snap["filter_version"]), attenuation_db=attenuation,
        block_time_p50_us=p50, block_time_p99_us=p99, block_time_p999_us=p999,
        block_time_max_us=snap["max_us"],
        block_time_mean_us=snap["sum_us"] / blocks if blocks else 0.0,
        budget_us=audio.block * 1e6 / fs, deadline_misses=int(snap["misses"]),
        blocks=int(blocks), divergence_resets=int(snap["resets"]),
        limited_samples=int(snap["blocked"]) + int(snap["guarded"]) * audio.block,
        stream_time_s=snap["samples"] / fs, features=features,
        feature_names=analysis.feature_names, emergency=em,
        recent_misses=recent_misses(snap))


def recent_misses(snap: Snapshot) -> tuple[DeadlineMiss, ...]:
    """The miss log's entries, oldest first."""
    n = int(snap["misses"])
    rows = [snap.miss_log[k % MISS_LOG] for k in range(max(0, n - MISS_LOG), n)]
    return tuple(DeadlineMiss(*(float(v) for v in r)) for r in rows)


class _Engine(AudioEngine):
    """What both engines share: state, analysis, statistics and change validation."""

    state: SharedState
    analysis: Analysis

    def __init__(self, audio: AudioConfig) -> None:
        _check_block(audio)
        self.audio = audio
        self._lock = threading.Lock()

    def _check(self, change: Change) -> None:
        if isinstance(change, InjectSound) and self.audio.backend != "sim":
            raise ValueError(f"InjectSound needs the sim backend, not {self.audio.backend}")

    def stats(self) -> AudioStats:
        return stats_snapshot(self.audio, self.state, self.analysis)

    def adaptation_statistics(self) -> AdaptationStatistics | None:
        return self.analysis.adaptation_statistics()


class InlineEngine(_Engine):
    """Loop and analysis in one thread, in lockstep; exact simulated time."""

    def __init__(self, audio: AudioConfig, emergency: EmergencyConfig,
                 backend: Backend | None = None, paced: bool = False) -> None:
        super().__init__(audio)
        self._buf = bytearray(SharedState.size())
        self.state = SharedState(memoryview(self._buf))
        self.backend = backend if backend is not None else make_backend(audio)
        self.core = LoopCore(audio, emergency, self.backend, self.state)
        self._changes: queue.Queue[Change] = queue.Queue(CHANGE_QUEUE)
        self._internal: collections.deque[Change] = collections.deque()
        self.analysis = Analysis(self.state, emergency, self.backend.sec_path,
                                 self._internal.append)
        self.events = self.analysis.events
        self.paced = paced
        self._thread: threading.Thread | None = None
        self._closed = False

    def _poll(self) -> None:
        internal, pending = self._internal, self._changes.queue
        while internal:
            self.core.apply(internal.popleft())
        while pending:
            try:
                self.core.apply(self._changes.get_nowait())
            except queue.Empty:
                break

    def run(self, blocks: int | None = None) -> int:
        """Run `blocks` blocks (None: to the end of the input or stop()) in this thread."""
        return run_loop(self.core, self.paced, self._poll, self.analysis.poll, blocks)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the engine was already started")
        self._thread = threading.Thread(target=self.run, name="audio-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.state.set("stop", 1)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        if not self._closed:
            self._closed = True
            self.backend.close()

    def request(self, change: Change) -> bool:
        self._check(change)
        try:
            self._changes.put_nowait(change)
        except queue.Full:
            return False
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def realtime_priority(priority: int) -> int:
    """Ask for SCHED_FIFO at `priority` (0: don't); the priority granted, 0 if refused."""
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return 0
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError):
        return 0
    return priority


PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_CHECK_BLOCKS = 250  # blocks between parent-pid checks (≈ 0.17 s at 48 kHz / 32)


def _die_with_parent(parent_pid: int) -> bool:
    """Ask Linux to SIGTERM this process when its parent dies; False if it already has.

    prctl(PR_SET_PDEATHSIG) fires when the thread that started this process exits, so the
    engine must be started from a thread that lives as long as the agent (the main thread).
    Where prctl is not available the loop's parent-pid check still ends the process.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    return os.getppid() == parent_pid  # the parent may have died before prctl


def _child_main(audio: AudioConfig, emergency: EmergencyConfig, path: str,
                changes: Connection, errors: Connection, paced: bool, priority: int,
                parent_pid: int) -> None:
    """The loop process: attach the state, build backend and chain, run until stopped.

    It also stops when its parent is gone (SIGKILLed agent): by PR_SET_PDEATHSIG on Linux,
    and by a parent-pid check every PARENT_CHECK_BLOCKS blocks everywhere.
    """
    if not _die_with_parent(parent_pid):
        return
    backend: Backend | None = None
    try:
        with open(path, "r+b") as f:
            mm = mmap.mmap(f.fileno(), SharedState.size())
        state = SharedState(memoryview(mm))
        backend = make_backend(audio)
        core = LoopCore(audio, emergency, backend, state)
        slots, applied, countdown = state.slots, 0, PARENT_CHECK_BLOCKS
        i_sent, i_applied, i_stop = SLOT["cmd_sent"], SLOT["cmd_applied"], SLOT["stop"]

        def poll() -> None:
            nonlocal applied, countdown
            countdown -= 1
            if countdown == 0:
                countdown = PARENT_CHECK_BLOCKS
                if os.getppid() != parent_pid:
                    slots[i_stop] = 1
            if slots[i_sent] != applied:
                while slots[i_sent] != applied:
                    core.apply(changes.recv())
                    applied += 1
                slots[i_applied] = applied
                collect_garbage_now()

        gc.collect()
        gc.freeze()
        gc.disable()
        state.set("rt_priority", realtime_priority(priority))
        state.set("ready", 1)
        run_loop(core, paced, poll)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit
        with contextlib.suppress(OSError):
            errors.send(f"{type(exc).__name__}: {exc}")
    finally:
        if backend is not None:
            backend.close()


class ProcessEngine(_Engine):
    """The loop in its own process (own GIL); analysis in a thread here.

    `rt_priority` > 0 asks the OS for SCHED_FIFO at that priority for the loop process
    (granted when permitted: root or CAP_SYS_NICE / an rtprio limit; see README.md).
    """

    def __init__(self, audio: AudioConfig, emergency: EmergencyConfig, paced: bool = True,
                 rt_priority: int = DEFAULT_RT_PRIORITY) -> None:
        super().__init__(audio)
        self._validate(audio)
        self.emergency_config, self.paced, self.rt_priority = emergency, paced, rt_priority
        fd, self._path = tempfile.mkstemp(prefix="anc-audio-", dir=_shm_dir())
        os.ftruncate(fd, SharedState.size())
        self._mm = mmap.mmap(fd, SharedState.size())
        os.close(fd)
        self.state = SharedState(memoryview(self._mm))
        self.state.set("sample_rate", audio.sample_rate)
        self.state.set("taps", audio.taps)
        self.state.set("user_mode", MODES.index(audio.mode))
        self.analysis = Analysis(self.state, emergency, model_sec_path(audio),
                                 self._send_internal)
        self.events = self.analysis.events
        ctx = multiprocessing.get_context("spawn")
        self._ctx = ctx
        self._recv, self._send = ctx.Pipe(duplex=False)
        self._err_recv, self._err_send = ctx.Pipe(duplex=False)
        self._proc: Any = None
        self._thread: threading.Thread | None = None
        self._sent = 0
        self._stopping = threading.Event()

    @staticmethod
    def _validate(audio: AudioConfig) -> None:
        """Fail in the caller's process, with a clear message, on what would fail later."""
        if audio.backend == "sim":
            resolve_scene(audio.sim.scene)
        elif audio.backend == "wav":
            make_backend(audio)  # reads and checks the file
        elif audio.backend == "alsa":
            from edge_agent.audio.alsa import check_available

            check_available()

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("the engine was already started")
        self._proc = self._ctx.Process(
            target=_child_main, name="anc-audio-loop", daemon=True,
            args=(self.audio, self.emergency_config, self._path, self._recv, self._err_send,
                  self.paced, self.rt_priority, os.getpid()))
        self._proc.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.state.get("ready") == 0:
            if self._err_recv.poll(0.01):
                message = self._err_recv.recv()
                self._proc.join(STOP_TIMEOUT_S)
                self._cleanup()
                raise RuntimeError(f"audio loop failed to start: {message}")
            if not self._proc.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("audio loop process did not start")
        with contextlib.suppress(OSError):
            os.unlink(self._path)  # both processes have it mapped; nothing else needs it
        self._thread = threading.Thread(target=self._analyse, name="audio-analysis",
                                        daemon=True)
        self._thread.start()

    def _analyse(self) -> None:
        while not self._stopping.is_set():
            if self.analysis.poll() == 0:
                time.sleep(ANALYSIS_IDLE_S)

    def _send_internal(self, change: Change) -> None:
        with self._lock:
            self._send.send(change)
            self._sent += 1
            self.state.set("cmd_sent", self._sent)

    def request(self, change: Change) -> bool:
        self._check(change)
        with self._lock:
            if self._sent - int(self.state.get("cmd_applied")) >= CHANGE_QUEUE:
                return False
            self._send.send(change)
            self._sent += 1
            self.state.set("cmd_sent", self._sent)
        return True

    def stop(self) -> None:
        self._stopping.set()
        self.state.set("stop", 1)
        if self._proc is not None:
            self._proc.join(STOP_TIMEOUT_S)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(STOP_TIMEOUT_S)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
        self._cleanup()

    def _cleanup(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._path)

    def error(self) -> str | None:
        """The loop process's last error, if it died of one."""
        if self._err_recv.poll(0):
            return str(self._err_recv.recv())
        return None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.is_alive() \
            and self.state.get("finished") == 0

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else int(self._proc.pid)


def _shm_dir() -> str | None:
    return "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None


def build_engine(audio: AudioConfig, emergency: EmergencyConfig,
                 realtime: bool | None = None) -> AudioEngine:
    """Real time (sim by default, alsa always) in a process; otherwise inline."""
    if realtime is None:
        realtime = audio.backend in ("sim", "alsa")
    if audio.backend == "alsa" or realtime:
        return ProcessEngine(audio, emergency, paced=audio.backend != "alsa")
    return InlineEngine(audio, emergency)
