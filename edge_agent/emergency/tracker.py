"""Turns per-frame candidates into emergency events: runs of consistent candidates.

A *run* is a sequence of frames whose candidate of one class continues the previous one
(gap of at most `max_gap` frames, frequency change per frame of at most `max_step`).
A run also remembers the tone it came from, so alternating between two tones (a hi-lo
siren, a bell's two strongest partials) continues it; up to `max_jumps` jumps to a new
tone are tolerated. A run becomes an
event once it has `need` candidate frames, fills at least `min_fill` of its span, and at
least `min_novel` of its frames were novel (the sound was not already part of the scene).
Each run fires at most once. All state is a few scalars per class: O(1) per frame.
"""

from __future__ import annotations

from dataclasses import dataclass


RETURN_TOLERANCE = 0.05  # relative distance of a return to the run's other tone


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


@dataclass
class Trigger:
    start_frame: int
    frame: int
    confidence: float


class RunTracker:
    """Run state of one class."""

    def __init__(self, rule: RunRule, salience_db: float) -> None:
        self.rule = rule
        self.salience_db = salience_db
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
        self.fired = False

    def step(self, frame: int, hz: float, salience: float, level: float,
             novel: bool) -> Trigger | None:
        """Feed the frame's candidate (call only for frames that have one)."""
        rule = self.rule
        continues = frame - self.last <= rule.max_gap + 1
        if continues and abs(hz / self.last_hz - 1.0) > rule.max_step:
            if self.other_hz > 0 and abs(hz / self.other_hz - 1.0) <= RETURN_TOLERANCE:
                self.other_hz = self.last_hz  # back to the other tone or partial
            elif self.jumps < rule.max_jumps and _ratio_in(hz, self.last_hz, rule.jump_ratio):
                self.jumps += 1
                self.other_hz = self.last_hz
            else:
                continues = False
        if not continues:
            self.start, self.present, self.novel, self.jumps = frame, 0, 0, 0
            self.sal_sum, self.fired, self.other_hz = 0.0, False, 0.0
            self.level_sum = self.level_sq = 0.0
        self.last, self.last_hz = frame, hz
        self.present += 1
        self.novel += int(novel)
        self.sal_sum += salience
        self.level_sum += level
        self.level_sq += level * level
        if self.fired or self.present < rule.need:
            return None
        fill = self.present / (frame - self.start + 1)
        if fill < rule.min_fill or self.novel < rule.min_novel * self.present:
            return None
        mean_sal = self.sal_sum / self.present
        mean_level = self.level_sum / self.present
        level_sd = max(0.0, self.level_sq / self.present - mean_level**2) ** 0.5
        if mean_sal < rule.strong_db and level_sd > rule.max_level_sd_db:
            return None
        self.fired = True
        strength = min(1.0, max(0.0, 0.5 + (mean_sal - self.salience_db) / 20.0))
        return Trigger(self.start, frame, fill * strength)


def _ratio_in(a: float, b: float, bounds: tuple[float, float]) -> bool:
    ratio = max(a, b) / min(a, b)
    return bounds[0] <= ratio <= bounds[1]
