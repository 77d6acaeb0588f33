"""Streaming emergency-sound detector (sirens, alarms, horns) and its offline twin.

    det = EmergencyDetector(fs=48000)
    for block in audio_blocks:            # any block size; 32 in the audio loop
        for event in det.process(block):  # usually an empty tuple
            switch_to_transparency(event)
        if was_switched and not det.active:
            restore_previous_mode()

Per block the detector only copies samples into a preallocated ring buffer. Once per hop
(10.7 ms at 48 kHz) it analyses one frame (features.py) and steps the per-class run
trackers (tracker.py). `feed(signal)` and `detect(signal, fs)` run the very same analysis
on many frames at once (vectorized) and give the same events as block-by-block streaming.

An event is reported at detection time with an estimated onset; the detector is then
*active* until no evidence of that class has been seen for `hold_s` seconds (evidence: a
run of at least EVIDENCE_FRAMES consistent frames; a chance peak in the noise is none).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edge_agent.emergency.features import CLASS_ORDER, NONE, Candidates, FrameAnalyzer
from edge_agent.emergency.tracker import RunRule, RunTracker

NO_EVENTS: tuple[EmergencyEvent, ...] = ()
SIREN, SIREN_ALT = 0, 3  # candidate columns: the best and the runner-up siren peak
EVIDENCE_FRAMES = 4  # a class is still heard while a run of this many frames continues
OFFLINE_CHUNK_FRAMES = 2048  # frames analysed per vectorized batch (bounds memory)

# Frame counts are at the 10.7 ms hop of 48 kHz.
RULES: dict[str, RunRule] = {
    # Sirens sweep (yelps by up to ~15 % per hop); hi-lo sirens jump between two tones
    # a musical third or fourth apart.
    # A weak siren holds its level within a run; a voice's formant peak does not.
    "siren": RunRule(need=18, max_gap=4, max_step=0.2, max_jumps=1, jump_ratio=(1.15, 1.5),
                     strong_db=22.0, max_level_sd_db=1.5, min_fill=0.7, fast_need=10,
                     fast_span=0.15, fast_db=19.0),
    # Beeps and bells hold a steady pitch: it never wobbles up and down.
    "alarm": RunRule(need=12, max_gap=1, max_step=0.03, max_jumps=1,
                     strong_db=20.0, max_level_sd_db=1.5, max_reversals=0),
    # A two-horn stack may be seen through either horn's f0. Stack scores are means of
    # capped partial saliences (features.HORN_CLIP_DB): a few dB above the threshold is
    # already a clear stack. Under band noise or a machine's own comb the stack drops out
    # for a frame or three.
    "horn": RunRule(need=12, max_gap=3, max_step=0.3, max_jumps=1, span_db=8.0,
                    min_fill=0.6),
}


@dataclass(frozen=True)
class EmergencyEvent:
    """An emergency sound: class, estimated onset and detection time (s from stream start)."""

    cls: str
    onset_s: float
    detected_s: float
    confidence: float

    def as_dict(self) -> dict[str, object]:
        return {"class": self.cls, "onset_s": round(self.onset_s, 3),
                "detected_s": round(self.detected_s, 3),
                "confidence": round(self.confidence, 3)}


@dataclass(frozen=True)
class DetectorSettings:
    """Tunables (the [emergency] table of the device configuration)."""

    min_confidence: float = 0.5
    salience_db: float = 13.0  # a tone must stand this far above its spectral neighbourhood
    horn_db: float = 7.0  # mean salience of a horn's first harmonics
    hold_s: float = 2.0  # active state held after the last evidence
    warmup_s: float = 0.5  # no events while the scene's background is first learned

    def __post_init__(self) -> None:
        checks = {"min_confidence": (0.0, 1.0), "salience_db": (3.0, 60.0),
                  "horn_db": (3.0, 60.0), "hold_s": (0.0, 3600.0), "warmup_s": (0.0, 60.0)}
        for name, (lo, hi) in checks.items():
            value = getattr(self, name)
            if not isinstance(value, int | float) or not lo <= value <= hi:
                raise ValueError(f"{name}: expected a number {lo}..{hi}, got {value!r}")


class EmergencyDetector:
    """Block-streaming detector. Not thread-safe: call it from the audio thread only."""

    def __init__(self, fs: int = 48000, settings: DetectorSettings | None = None) -> None:
        if not isinstance(fs, int) or not 16000 <= fs <= 192000:
            raise ValueError(f"fs: expected an integer sample rate 16000..192000, got {fs!r}")
        self.fs = fs
        self.settings = settings or DetectorSettings()
        self.analyzer = FrameAnalyzer(fs, self.settings.salience_db, self.settings.horn_db)
        self.win, self.hop = self.analyzer.win, self.analyzer.hop
        thresholds = {"siren": self.settings.salience_db, "alarm": self.settings.salience_db,
                      "horn": self.settings.horn_db}
        scale = 512 * fs / (48000 * self.hop)  # keep rule durations in seconds at any fs
        self.trackers = [RunTracker(_scaled(RULES[c], scale), thresholds[c],
                                    self.settings.min_confidence) for c in CLASS_ORDER]
        self.hold_frames = int(np.ceil(self.settings.hold_s * fs / self.hop))
        self.warmup_frames = int(np.ceil(self.settings.warmup_s * fs / self.hop))
        self.ring = np.zeros(1 << int(np.ceil(np.log2(2 * self.win))))
        self._frame = np.zeros((1, self.win))
        self.last_evidence = np.full(len(CLASS_ORDER), -1_000_000, dtype=np.int64)
        self.active_since = np.full(len(CLASS_ORDER), -1, dtype=np.int64)  # -1: inactive
        self.samples = 0
        self.frames = 0

    # --- state ---------------------------------------------------------------------------

    def reset(self) -> None:
        self.analyzer.reset()
        for t in self.trackers:
            t.reset()
        self.ring[:] = 0.0
        self.last_evidence[:] = -1_000_000
        self.active_since[:] = -1
        self.samples = self.frames = 0

    @property
    def time_s(self) -> float:
        """Seconds of audio consumed."""
        return self.samples / self.fs

    @property
    def active(self) -> bool:
        """True while an emergency sound was heard within the last `hold_s` seconds."""
        return bool((self.active_since >= 0).any())

    @property
    def active_class(self) -> str | None:
        """The most recently detected class that is still active, if any."""
        if not self.active:
            return None
        return CLASS_ORDER[int(np.argmax(self.active_since))]

    # --- streaming -----------------------------------------------------------------------

    def process(self, block: np.ndarray) -> tuple[EmergencyEvent, ...]:
        """Consume one block of samples (1-D float, full scale ±1); return new events."""
        n = len(block)
        size = len(self.ring)
        if n > size - self.win:
            # Larger than the ring can take between frames: go through the offline path.
            return tuple(self.feed(block))
        pos = self.samples % size
        first = min(n, size - pos)
        self.ring[pos:pos + first] = block[:first]
        if first < n:
            self.ring[: n - first] = block[first:]
        self.samples += n
        events: tuple[EmergencyEvent, ...] = NO_EVENTS
        while self.frames * self.hop + self.win <= self.samples:
            start = (self.frames * self.hop) % size
            head = min(self.win, size - start)
            self._frame[0, :head] = self.ring[start:start + head]
            if head < self.win:
                self._frame[0, head:] = self.ring[: self.win - head]
            found = self._step(self.analyzer.analyse(self._frame))
            if found:
                events = events + tuple(found)
        return events

    def feed(self, signal: np.ndarray) -> list[EmergencyEvent]:
        """Consume any amount of audio at once (vectorized); same results as `process`."""
        x = np.asarray(signal, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"signal: expected a 1-D array, got shape {x.shape}")
        size = len(self.ring)
        keep = min(self.samples, self.win)
        # The last `keep` samples already consumed, oldest first.
        history = self.ring[np.arange(self.samples - keep, self.samples) % size]
        joined = np.concatenate([history, x])
        base = self.samples - keep  # absolute index of joined[0]
        events: list[EmergencyEvent] = []
        total = self.samples + len(x)
        while self.frames * self.hop + self.win <= total:
            count = min(OFFLINE_CHUNK_FRAMES,
                        (total - self.win - self.frames * self.hop) // self.hop + 1)
            offset = self.frames * self.hop - base
            span = joined[offset: offset + (count - 1) * self.hop + self.win]
            frames = sliding_window_view(span, self.win)[:: self.hop]
            events += self._step(self.analyzer.analyse(frames))
        # Leave the ring as streaming would have left it.
        tail = x[len(x) - min(len(x), size):]
        self.ring[np.arange(total - len(tail), total) % size] = tail
        self.samples = total
        return events

    # --- decisions -----------------------------------------------------------------------

    def _step(self, cand: Candidates) -> list[EmergencyEvent]:
        """Advance the trackers over the analysed frames (one row per frame)."""
        events: list[EmergencyEvent] = []
        bins, hz, sal, level, novel = cand.bins, cand.hz, cand.salience, cand.level, cand.novel
        present_rows = np.flatnonzero((bins != NONE).any(axis=1))
        first_frame = self.frames
        # Frames without any candidate only age the active states: handle them in bulk.
        for row in present_rows:
            frame = first_frame + int(row)
            self._expire(frame)
            for c, tracker in enumerate(self.trackers):
                if bins[row, c] == NONE:
                    continue
                col = c
                if c == SIREN and bins[row, SIREN_ALT] != NONE and tracker.prefers(
                        float(hz[row, SIREN_ALT]), float(hz[row, c]), frame):
                    col = SIREN_ALT
                trig = tracker.step(frame, float(hz[row, col]), float(sal[row, col]),
                                    float(level[row, col]), bool(novel[row, col]))
                if tracker.last == frame and tracker.present >= EVIDENCE_FRAMES:
                    self.last_evidence[c] = frame  # a sustained tone, not a chance peak
                if (trig is None or frame < self.warmup_frames or self.active_since[c] >= 0
                        or trig.confidence < self.settings.min_confidence):
                    continue
                self.active_since[c] = frame
                events.append(EmergencyEvent(
                    CLASS_ORDER[c],
                    onset_s=(trig.start_frame * self.hop + self.win / 2) / self.fs,
                    detected_s=(frame * self.hop + self.win) / self.fs,
                    confidence=trig.confidence))
        self.frames += len(bins)
        self._expire(self.frames - 1)
        return events

    def _expire(self, frame: int) -> None:
        """End active states whose class has not been heard for `hold_s`."""
        stale = (self.active_since >= 0) & (frame - self.last_evidence > self.hold_frames)
        if stale.any():
            self.active_since[stale] = -1


def _scaled(rule: RunRule, scale: float) -> RunRule:
    """The rule with its frame counts scaled to another hop length."""
    return RunRule(need=max(2, round(rule.need * scale)), max_gap=round(rule.max_gap * scale),
                   max_step=rule.max_step, max_jumps=rule.max_jumps, jump_ratio=rule.jump_ratio,
                   strong_db=rule.strong_db, max_level_sd_db=rule.max_level_sd_db,
                   min_fill=rule.min_fill, min_novel=rule.min_novel, span_db=rule.span_db,
                   max_reversals=rule.max_reversals,
                   fast_need=max(2, round(rule.fast_need * scale)) if rule.fast_need < 1_000_000
                   else rule.fast_need, fast_span=rule.fast_span, fast_db=rule.fast_db)


def detect(signal: np.ndarray, fs: int = 48000,
           settings: DetectorSettings | None = None) -> list[EmergencyEvent]:
    """All emergency events in a recording (offline, vectorized)."""
    detector = EmergencyDetector(fs, settings)
    return detector.feed(signal)


def detect_stream(blocks: Iterable[np.ndarray], fs: int = 48000,
                  settings: DetectorSettings | None = None) -> list[EmergencyEvent]:
    """All events of a block stream, processed block by block (the real-time path)."""
    detector = EmergencyDetector(fs, settings)
    events: list[EmergencyEvent] = []
    for block in blocks:
        events += detector.process(block)
    return events
