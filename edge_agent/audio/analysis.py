"""The analysis stage: what the loop hands over through the ring, off the hard deadline.

It reads the reference x and the disturbance estimate d̂ the loop wrote, and runs
- the noise feature extractor (dsp_c.features, one vector per 100 ms),
- the emergency detector (edge_agent.emergency): a detection sends the loop an
  emergency command (transparency from its next block on) and queues an AudioEvent once
  the loop has switched, so the event's reader finds the switch time in the stats; when
  the detector's hold time has passed without the sound, the loop is released (it
  restores the user's mode) and an "emergency_ended" event follows,
- the correlations the cloud needs for a Wiener solve (never raw audio).

Its per-frame work (an FFT, the detector's spectra) costs hundreds of µs every 10-100 ms:
too much for a 667 µs block at p99.9, so it runs here. In the inline engine it runs right
after each block (simulated time stays exact); in the process engine it runs in a thread
of the agent's process, a few ms behind the loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np
from scipy import signal

from dsp_c.features import FeatureExtractor
from edge_agent.audio.api import (
    EMERGENCY_CLASSES,
    MODES,
    AdaptationStatistics,
    AudioEvent,
    Change,
    EmergencyOverride,
    EmergencyState,
)
from edge_agent.audio.state import RING, SharedState
from edge_agent.config import EmergencyConfig
from edge_agent.emergency import DetectorSettings, EmergencyDetector, EmergencyEvent

STATS_CHUNK = 4800  # samples gathered before the correlations are updated
EVENT_QUEUE = 256
# The loop applies the emergency command at its next block boundary; an "emergency_started"
# event waits for that, but no longer than this (stream time), e.g. with transparency off.
ANNOUNCE_WAIT_S = 0.2


class Correlations:
    """Running sums of r[n] r[n-k] and d[n] r[n-k], r = Ŝ ∗ x, k = 0..taps-1."""

    def __init__(self, sec_path: np.ndarray, taps: int, fs: int) -> None:
        self.sec_path = np.asarray(sec_path, dtype=np.float64)
        self.fs = fs
        self._zi = np.zeros(len(self.sec_path) - 1)
        self._tail = np.zeros(0)
        self._pending_x: list[np.ndarray] = []
        self._pending_d: list[np.ndarray] = []
        self._pending = 0
        self.reset(taps)

    def reset(self, taps: int) -> None:
        self.taps = taps
        self.rr = np.zeros(taps)
        self.rd = np.zeros(taps)
        self.dd = 0.0
        self.samples = 0

    def add(self, x: np.ndarray, d: np.ndarray) -> None:
        self._pending_x.append(x.astype(np.float64))
        self._pending_d.append(d.astype(np.float64))
        self._pending += len(x)
        if self._pending >= STATS_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        x = np.concatenate(self._pending_x)
        d = np.concatenate(self._pending_d)
        self._pending_x, self._pending_d, self._pending = [], [], 0
        r, self._zi = signal.lfilter(self.sec_path, [1.0], x, zi=self._zi)
        L = self.taps
        tail = self._tail[-(L - 1):] if L > 1 else np.zeros(0)
        if len(tail) < L - 1:
            tail = np.concatenate([np.zeros(L - 1 - len(tail)), tail])
        ext = np.concatenate([tail, r])
        self.rr += np.correlate(ext, r, "valid")[::-1]
        self.rd += np.correlate(ext, d, "valid")[::-1]
        self.dd += float(d @ d)
        self.samples += len(r)
        self._tail = ext[-(1024 - 1):]

    def take(self) -> AdaptationStatistics | None:
        self.flush()
        if self.samples == 0:
            return None
        n = self.samples
        out = AdaptationStatistics(
            taps=self.taps, samples=n, r_autocorr=tuple(float(v) for v in self.rr / n),
            rd_crosscorr=tuple(float(v) for v in self.rd / n), d_power=self.dd / n,
            sec_path=tuple(float(v) for v in self.sec_path), sample_rate=self.fs)
        self.reset(self.taps)
        return out


class Analysis:
    """Consumes the ring; owns features, detector, correlations and emergency events."""

    def __init__(self, state: SharedState, emergency: EmergencyConfig, sec_path: np.ndarray,
                 send: Callable[[Change], None]) -> None:
        self.state = state
        self.fs = int(state.get("sample_rate"))
        self.send = send
        self.enabled = emergency.enabled
        settings = DetectorSettings(min_confidence=emergency.min_confidence,
                                    salience_db=emergency.salience_db, hold_s=emergency.hold_s)
        self.detector = EmergencyDetector(self.fs, settings)
        self.features = FeatureExtractor(fs=self.fs)
        self.feature_names = self.features.names
        self.latest_features: tuple[float, ...] | None = None
        self.correlations = Correlations(sec_path, int(state.get("taps")), self.fs)
        self.events: queue.Queue[AudioEvent] = queue.Queue(EVENT_QUEUE)
        self.dropped_events = 0
        self.overruns = 0  # samples the analysis fell so far behind that it skipped them
        self.read = 0
        self.emergency = EmergencyState()
        self._unannounced: AudioEvent | None = None  # started, the loop not yet switched
        self._announce_by = 0  # stream sample after which it is announced regardless
        self._lock = threading.Lock()  # guards latest_features/emergency/correlations

    def poll(self) -> int:
        """Analyse everything the loop has written since the last call; samples read."""
        self._announce()
        write = int(self.state.get("ring_write"))
        n = write - self.read
        if n <= 0:
            return 0
        if n > RING:
            self.overruns += n - RING
            self.read = write - RING
            n = RING
        start = self.read % RING
        first = min(n, RING - start)
        ring = self.state.ring
        if first == n:
            x, d = ring[0, start:start + n].copy(), ring[1, start:start + n].copy()
        else:
            x = np.concatenate([ring[0, start:], ring[0, :n - first]])
            d = np.concatenate([ring[1, start:], ring[1, :n - first]])
        self.read += n
        self._consume(x, d)
        return n

    def _consume(self, x: np.ndarray, d: np.ndarray) -> None:
        frames = self.features.process(x)
        with self._lock:
            if len(frames):
                self.latest_features = tuple(float(v) for v in frames[-1])
            taps = int(self.state.get("taps"))
            if taps != self.correlations.taps:
                self.correlations.reset(taps)
            self.correlations.add(x, d)
        if self.enabled:
            self._emergency(self.detector.process(x))

    def _emergency(self, found: tuple[EmergencyEvent, ...]) -> None:
        now = self.read / self.fs
        if found and not self.emergency.active:
            ev = found[0]
            self.send(EmergencyOverride(True, ev.cls))
            with self._lock:
                self.emergency = EmergencyState(True, ev.cls, ev.confidence, ev.onset_s,
                                                ev.detected_s)
            self._unannounced = AudioEvent("emergency_started", ev.cls, ev.confidence,
                                           ev.onset_s, ev.detected_s, self._user_mode())
            self._announce_by = self.read + int(ANNOUNCE_WAIT_S * self.fs)
            self._announce()
        elif self.emergency.active and not self.detector.active:
            self._announce(now=True)  # a start is always reported before its end
            em = self.emergency
            self.send(EmergencyOverride(False, em.cls or EMERGENCY_CLASSES[0]))
            with self._lock:
                self.emergency = EmergencyState()
            self._emit(AudioEvent("emergency_ended", em.cls or "", em.confidence or 0.0,
                                  em.onset_s or 0.0, now, self._user_mode()))

    def _announce(self, now: bool = False) -> None:
        """Queue the pending "emergency_started" once the loop has switched to transparency
        (its switch time is then in the stats), transparency is off, or the wait is over."""
        if self._unannounced is None:
            return
        if (now or self.state.get("switched_sample") >= 0
                or self.state.get("emergency_transparency") == 0
                or self.read >= self._announce_by):
            self._emit(self._unannounced)
            self._unannounced = None

    def _user_mode(self) -> str:
        return MODES[int(self.state.get("user_mode"))]

    def _emit(self, event: AudioEvent) -> None:
        try:
            self.events.put_nowait(event)
        except queue.Full:
            self.dropped_events += 1

    def adaptation_statistics(self) -> AdaptationStatistics | None:
        with self._lock:
            return self.correlations.take()

    def view(self) -> tuple[tuple[float, ...] | None, EmergencyState]:
        with self._lock:
            return self.latest_features, self.emergency
