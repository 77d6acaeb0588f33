"""The emergency detector on its own: settings, streaming = offline, other sample rates."""

from __future__ import annotations

import numpy as np
import pytest

from dsp_c.sim.emergency import emergency_sound, mix_at_snr
from dsp_c.sim.scenes import scene
from edge_agent.emergency import DetectorSettings, EmergencyDetector, detect, detect_stream

# NumPy's invalid-value / overflow warnings mean NaN or Inf inside the features: errors here.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@pytest.mark.parametrize("field, value", [("min_confidence", 1.5), ("salience_db", 1.0),
                                          ("hold_s", -1.0), ("warmup_s", "soon")])
def test_settings_name_the_bad_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        DetectorSettings(**{field: value})  # type: ignore[arg-type]


def test_sample_rate_is_checked() -> None:
    with pytest.raises(ValueError, match="fs"):
        EmergencyDetector(8000)


def test_streaming_in_any_block_size_equals_offline() -> None:
    x = mix_at_snr(scene("traffic", 6.0, seed=5), emergency_sound("horn", 2.0, seed=6),
                   0.0, 3.0)
    offline = detect(x)
    assert [e.cls for e in offline] == ["horn"]
    for block in (32, 480, 4096):
        streamed = detect_stream(x[i:i + block] for i in range(0, len(x), block))
        assert streamed == offline, block


def test_silence_and_steady_noise_give_no_events() -> None:
    assert detect(np.zeros(48_000 * 3)) == []
    assert detect(scene("white", 5.0, seed=1)) == []


def test_works_at_16_khz() -> None:
    from scipy import signal

    x48 = mix_at_snr(scene("engine", 6.0, seed=2), emergency_sound("siren", 2.5, seed=3),
                     0.0, 3.0)
    x16 = signal.resample_poly(x48, 1, 3)
    events = detect(x16, fs=16_000)
    assert [e.cls for e in events] == ["siren"]
    assert 2.8 <= events[0].onset_s <= 3.3


def test_active_state_holds_then_expires() -> None:
    det = EmergencyDetector(48_000, DetectorSettings(hold_s=0.5))
    x = mix_at_snr(scene("fan", 6.0, seed=8), emergency_sound("alarm", 1.0, seed=9),
                   3.0, 3.0)
    events = det.feed(x[: int(3.6 * 48_000)])
    assert [e.cls for e in events] == ["alarm"] and det.active
    assert det.active_class == "alarm"
    det.feed(x[int(3.6 * 48_000):])  # the alarm ended at 4.0 s; 2 s of fan follow
    assert not det.active and det.active_class is None


def test_frames_without_a_horn_compute_no_nan() -> None:
    """No horn (f0 = inf) and digital silence: no 0·inf in the horn-partial test."""
    noise = np.concatenate([np.zeros(48_000), scene("engine", 4.0, seed=2)])
    x = mix_at_snr(noise, emergency_sound("siren", 2.0, seed=3), 0.0, 3.0)
    assert [e.cls for e in detect(x)] == ["siren"]
