"""Emergency sounds through the live loop: recall, onset-to-transparency, false alarms.

Sirens, alarms and horns (dsp_c.sim.emergency, every kind) are mixed at 0 dB SNR into
every non-emergency scene of the simulator and played through the inline engine, whose
simulated time is exact. The false-alarm bar (≤ 1 per hour) is checked here on ten
minutes of scenes; bench/edge_loop_bench.py runs the full hour.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
from scipy import signal

from dsp_c.sim.emergency import KINDS
from dsp_c.sim.plant import make_plant
from dsp_c.sim.scenes import scene
from edge_agent.audio import InjectSound, SetMode
from edge_agent.audio.engine import InlineEngine
from edge_agent.config import AudioConfig, EmergencyConfig, SimAudioConfig, WavAudioConfig
from edge_agent.emergency import detect, detect_stream

# NumPy's invalid-value / overflow warnings mean NaN or Inf inside the features: errors here.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

FS, B = 48_000, 32
PER_S = FS // B
AMBIENT = ("engine", "aircraft", "traffic", "babble", "fan", "white", "pink", "brown", "band")
ONSET_S = 3.0
BUDGET_S = 0.3


def trials() -> list[tuple[str, str, str, int]]:
    kinds = [(cls, kind) for cls, ks in KINDS.items() for kind in ks]  # 7 kinds
    combos = list(itertools.product(kinds, AMBIENT))  # 63
    return [(cls, kind, sc, i) for i, ((cls, kind), sc) in enumerate(combos)]


def live_switch_delay(cls: str, kind: str, scene_name: str, seed: int
                      ) -> tuple[float | None, str | None]:
    """Seconds from the onset until the loop ran in transparency (None: not in 0.5 s)."""
    audio = AudioConfig(mu=0.02, sim=SimAudioConfig(scene=scene_name, seed=seed))
    eng = InlineEngine(audio, EmergencyConfig())
    assert eng.request(InjectSound(cls, seconds=3.0, snr_db=0.0, seed=seed, at_s=ONSET_S,
                                   kind=kind))
    eng.run(int(ONSET_S * PER_S))
    assert eng.stats().mode == "anc"  # nothing before the onset
    for _ in range(int(0.5 * PER_S)):
        eng.run(1)
        em = eng.stats().emergency
        if em.active and em.switched_s is not None:
            return em.switched_s - ONSET_S, em.cls
    return None, None


@pytest.mark.slow
def test_recall_at_0db_with_transparency_within_300ms() -> None:
    results = [(cls, kind, sc, *live_switch_delay(cls, kind, sc, seed))
               for cls, kind, sc, seed in trials()]
    in_time = [r for r in results if r[3] is not None and r[3] <= BUDGET_S]
    recall = len(in_time) / len(results)
    misses = [(c, k, s, d) for c, k, s, d, _ in results if d is None or d > BUDGET_S]
    assert recall >= 0.95, misses
    right_class = [r for r in in_time if r[4] == r[0]]
    assert len(right_class) >= 0.9 * len(in_time), [r for r in in_time if r[4] != r[0]]
    assert all(r[3] is not None and r[3] >= 0 for r in in_time)  # never before the onset


def test_no_false_alarm_in_ten_minutes_of_ordinary_scenes() -> None:
    seconds = 600 / len(AMBIENT)
    alarms = []
    for i, name in enumerate(AMBIENT):
        x = scene(name, seconds, FS, seed=9000 + i)
        alarms += [(name, e.as_dict()) for e in detect(x)]
    assert alarms == []


def test_the_users_mode_returns_when_the_sound_has_ended() -> None:
    eng = InlineEngine(AudioConfig(mu=0.02, sim=SimAudioConfig(scene="traffic", seed=2)),
                       EmergencyConfig(hold_s=1.0))
    eng.request(SetMode("adaptive"))
    eng.request(InjectSound("alarm", seconds=1.5, snr_db=0.0, seed=5, at_s=2.0))
    eng.run(6 * PER_S)
    events = []
    while not eng.events.empty():
        events.append(eng.events.get())
    assert [e.kind for e in events] == ["emergency_started", "emergency_ended"]
    started, ended = events
    assert started.cls == "alarm" and started.previous_mode == "adaptive"
    assert 1.9 <= started.onset_s <= 2.1 and started.confidence >= 0.5
    assert ended.at_s >= 3.5 + 1.0 - 0.05  # after the sound (2.0 + 1.5 s) and the hold
    stats = eng.stats()
    assert (stats.mode, stats.emergency.active) == ("adaptive", False)


def test_disabled_detection_never_switches() -> None:
    eng = InlineEngine(AudioConfig(mu=0.02, sim=SimAudioConfig(scene="fan")),
                       EmergencyConfig(enabled=False))
    eng.request(InjectSound("siren", seconds=2.0, snr_db=10.0, at_s=1.0))
    eng.run(3 * PER_S)
    assert eng.events.empty() and eng.stats().mode == "anc"


def test_detect_agrees_with_the_live_loop(tmp_path: Path) -> None:
    from dsp_c.sim.emergency import emergency_sound, mix_at_snr

    x = scene("babble", 8.0, FS, seed=11)
    for cls, onset, seed in (("horn", 1.5, 3), ("siren", 5.0, 4)):
        x = mix_at_snr(x, emergency_sound(cls, 1.5, FS, seed), 3.0, onset)
    d = signal.lfilter(make_plant(0).primary, [1.0], x).astype(np.float32)
    path = tmp_path / "scene.wav"
    scipy.io.wavfile.write(path, FS, np.stack([x, d], axis=1))

    audio = AudioConfig(backend="wav", mu=0.02, wav=WavAudioConfig(path))
    eng = InlineEngine(audio, EmergencyConfig())
    eng.run()
    live = []
    while not eng.events.empty():
        ev = eng.events.get()
        if ev.kind == "emergency_started":
            live.append((ev.cls, round(ev.onset_s, 3), round(ev.confidence, 3)))

    offline = [(e.cls, round(e.onset_s, 3), round(e.confidence, 3)) for e in detect(x, FS)]
    streamed = detect_stream((x[i:i + B] for i in range(0, len(x), B)), FS)
    assert [e.cls for e in streamed] == [e[0] for e in offline]
    assert {c for c, _, _ in live} == {"horn", "siren"}
    # the loop reports the start of each emergency; the offline run lists them all
    assert all(ev in offline for ev in live), (live, offline)
