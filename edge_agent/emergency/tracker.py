"""Turns per-frame candidates into emergency events: runs of consistent candidates.

A *run* is a sequence of frames whose candidate of one class continues the previous one
(gap of at most `max_gap` frames, frequency change per frame of at most `max_step`).
A run also remembers the tone it came from, so alternating between two tones (a hi-lo
siren, a bell's two strongest partials) continues it; up to `max_jumps` jumps to a new
tone are tolerated. A frame whose best peak belongs to another sound is a gap, not the
end of an established run. A run becomes an event once it has `need` candidate frames,
fills at least `min_fill` of its span, at least `min_novel` of its frames were novel (the
sound was not already part of the scene), and its latest `need` frames are salient enough
or steady in level (so a run that grew out of a voice is judged on what it is now). A
salient run that already swept widely or jumped between two tones fires after
`fast_need` frames. A run whose confidence is still below the detector's minimum keeps
going and may fire later; each run fires at most once. State: a few scalars and the
latest `need` frames per class.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

RETURN_TOLERANCE = 0.05  # relative distance of a return to the run's other tone
# Pitch steps of this relative size count for reversals (a vibrato's wobble; a hi-lo
# siren's tone changes are larger).
REVERSAL_STEP = (0.006, 0.04)
# A siren comes in at a steady level; a vowel swells by 10-20 dB within 100 ms.
FAST_MAX_LEVEL_SD_DB = 4.0
# A run this long is not broken by one frame whose best peak belongs to another sound.
MIN_PRESENT_TO_BRIDGE = 3


@dataclass(frozen=True)
class RunRule:
    need: int  # candidate frames before the run fires
    max_gap: int  # missing frames tolerated inside a run
    max_step: float  # relative frequency change per frame that still continues a run
    max_jumps: int  # larger frequency changes tolerated per run …
    jump_ratio: tuple[float, float] = (1.0, 1e9)  # … if their ratio is in this range
    # A run must either stand out strongly (mean salience ≥ strong_db) or hold a steady
    # level (standard deviation ≤ max_level_sd_db): vowels in babble do neither.
    strong_db: float = 0.0
    max_level_sd_db: float = 1e9
    min_fill: float = 0.8
    min_novel: float = 0.5
    # A siren's pitch glides smoothly (wail, yelp) or holds (hi-lo, beeps): a voice's
    # vibrato turns up and down many times within one run.
    max_reversals: int = 1_000_000
    # A salient run (mean salience >= fast_db) that sweeps by fast_span or jumps fires
    # after fast_need frames already.
    fast_need: int = 1_000_000
    fast_span: float = 1e9
    fast_db: float = 1e9
    # Confidence grows from 0.5 at the salience threshold to 1 at threshold + 0.5 * span.
    span_db: float = 20.0


@dataclass
class Trigger:
    start_frame: int
    frame: int
    confidence: float


class RunTracker:
    """Run state of one class."""

    def __init__(self, rule: RunRule, salience_db: float, min_confidence: float = 0.0) -> None:
        self.rule = rule
        self.salience_db = salience_db
        self.min_confidence = min_confidence  # a weaker run keeps going and may fire later
        self.reset()

    def reset(self) -> None:
        self.start = -1_000_000
        self.last = -1_000_000
        self.last_hz = 0.0
        self.other_hz = 0.0  # the previous tone of a two-tone sound (hi-lo siren, bell)
        self.present = 0
        self.novel = 0
        self.jumps = 0
        self.sal_sum = 0.0
        self.level_sum = self.level_sq = 0.0
        # salience and level of the run's latest `need` frames: a run that grew out of
        # another sound (a voice before the siren) is judged on what it is now
        self.recent: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=self.rule.need)
        self.fired = False
        self.reversals = 0  # direction changes of the pitch between significant steps
        self.direction = 0
        self.low_hz = self.high_hz = 1.0  # pitch range of the run

    def prefers(self, alt_hz: float, best_hz: float, frame: int) -> bool:
        """True if `alt_hz` continues the live run and `best_hz` does not fit it better."""
        if frame - self.last > self.rule.max_gap + 1 or self.last_hz <= 0:
            return False
        d_alt = abs(alt_hz / self.last_hz - 1.0)
        return d_alt <= self.rule.max_step and d_alt < abs(best_hz / self.last_hz - 1.0)

    def step(self, frame: int, hz: float, salience: float, level: float,
             novel: bool) -> Trigger | None:
        """Feed the frame's candidate (call only for frames that have one)."""
        rule = self.rule
        continues = frame - self.last <= rule.max_gap + 1
        glide = hz / self.last_hz - 1.0 if continues else 0.0
        if continues and abs(glide) > rule.max_step:
            glide = 0.0  # a jump or a return, not a glide
            if self.other_hz > 0 and abs(hz / self.other_hz - 1.0) <= RETURN_TOLERANCE:
                self.other_hz = self.last_hz  # back to the other tone or partial
            elif self.jumps < rule.max_jumps and _ratio_in(hz, self.last_hz, rule.jump_ratio):
                self.jumps += 1
                self.other_hz = self.last_hz
            elif self.present >= MIN_PRESENT_TO_BRIDGE and frame - self.last <= rule.max_gap:
                return None  # another sound's peak won this frame: a gap in this run
            else:
                continues = False
        if not continues:
            self.start, self.present, self.novel, self.jumps = frame, 0, 0, 0
            self.sal_sum, self.fired, self.other_hz = 0.0, False, 0.0
            self.level_sum = self.level_sq = 0.0
            self.recent.clear()
            self.reversals = self.direction = 0
            self.low_hz = self.high_hz = hz
        elif REVERSAL_STEP[0] < abs(glide) < REVERSAL_STEP[1]:
            direction = 1 if glide > 0 else -1
            if self.direction and direction != self.direction:
                self.reversals += 1
            self.direction = direction
        self.last, self.last_hz = frame, hz
        self.low_hz, self.high_hz = min(self.low_hz, hz), max(self.high_hz, hz)
        self.present += 1
        self.novel += int(novel)
        self.sal_sum += salience
        self.level_sum += level
        self.level_sq += level * level
        self.recent.append((salience, level))
        if self.fired or self.present < min(rule.need, rule.fast_need):
            return None
        if self.present < rule.need and not self._unmistakable():
            return None
        fill = self.present / (frame - self.start + 1)
        if fill < rule.min_fill or self.novel < rule.min_novel * self.present:
            return None
        mean_sal, level_sd = self._recent_stats()
        if mean_sal < rule.strong_db and level_sd > rule.max_level_sd_db:
            return None
        if self.reversals > rule.max_reversals:
            return None
        strength = min(1.0, max(0.0, 0.5 + (mean_sal - self.salience_db) / rule.span_db))
        if fill * strength < self.min_confidence:
            return None
        self.fired = True
        return Trigger(self.start, frame, fill * strength)


    def _recent_stats(self) -> tuple[float, float]:
        """Mean salience and level standard deviation of the latest frames."""
        n = len(self.recent)
        sal = sum(r[0] for r in self.recent) / n
        mean_level = sum(r[1] for r in self.recent) / n
        sd = (sum((r[1] - mean_level) ** 2 for r in self.recent) / n) ** 0.5
        return sal, sd

    def _unmistakable(self) -> bool:
        """A strong run that already swept widely or jumped between two tones: a siren's
        signature, which a voice's formant (weaker, wobbling in place) does not show."""
        rule = self.rule
        mean_sal, level_sd = self._recent_stats()
        if mean_sal < rule.fast_db or self.reversals > 1 or level_sd > FAST_MAX_LEVEL_SD_DB:
            return False
        return self.jumps > 0 or self.high_hz / self.low_hz - 1.0 >= rule.fast_span


def _ratio_in(a: float, b: float, bounds: tuple[float, float]) -> bool:
    ratio = max(a, b) / min(a, b)
    return bounds[0] <= ratio <= bounds[1]
