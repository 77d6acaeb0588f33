"""Scenes are deterministic per seed and have the spectral character they claim."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dsp_c.sim import SCENES, describe, register, scene, scene_names

FS = 48_000


def psd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return signal.welch(x.astype(np.float64), FS, nperseg=16384)


def fraction(f: np.ndarray, p: np.ndarray, lo: float, hi: float) -> float:
    return float(p[(f >= lo) & (f < hi)].sum() / p.sum())


def slope_db_per_octave(x: np.ndarray, lo: float, hi: float) -> float:
    f, p = psd(x)
    band = (f >= lo) & (f <= hi)
    return float(np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)[0])


def peak_prominence_db(f: np.ndarray, p: np.ndarray, f0: float) -> float:
    """Power within ±3 Hz of f0 over the median power of 20–60 Hz away (same bin width)."""
    near = p[np.abs(f - f0) <= 3].max()
    ring = p[(np.abs(f - f0) >= 20) & (np.abs(f - f0) <= 60)]
    return float(10 * np.log10(near / np.median(ring)))


@pytest.mark.parametrize("name", sorted(SCENES))
def test_same_seed_same_signal_other_seed_other_signal(name: str) -> None:
    a = scene(name, 0.5, seed=7)
    assert a.dtype == np.float32 and a.shape == (FS // 2,)
    assert np.array_equal(a, scene(name, 0.5, seed=7))
    assert not np.allclose(a, scene(name, 0.5, seed=8))
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(0.1, rel=1e-3)
    assert describe(name)


def test_colored_noise_slopes() -> None:
    assert slope_db_per_octave(scene("white", 4.0), 100, 16000) == pytest.approx(0, abs=0.3)
    assert slope_db_per_octave(scene("pink", 4.0), 100, 16000) == pytest.approx(-3, abs=0.3)
    assert slope_db_per_octave(scene("brown", 4.0), 100, 16000) == pytest.approx(-6, abs=0.3)


def test_engine_is_harmonic_hum() -> None:
    f, p = psd(scene("engine", 4.0))
    assert fraction(f, p, 0, 500) > 0.99
    for k in (1, 2, 5, 10):  # every harmonic stands far above the rumble between them
        assert peak_prominence_db(f, p, 45.0 * k) > 25


def test_fan_has_a_blade_pass_tone_over_broadband_air_noise() -> None:
    f, p = psd(scene("fan", 4.0))
    assert peak_prominence_db(f, p, 140.0) > 15
    assert peak_prominence_db(f, p, 280.0) > 10
    assert fraction(f, p, 500, 4000) > 0.1  # broadband part


def test_aircraft_is_low_frequency_broadband_with_fan_tones() -> None:
    f, p = psd(scene("aircraft", 4.0))
    assert fraction(f, p, 0, 500) > 0.9
    assert peak_prominence_db(f, p, 118.0) > 10
    assert peak_prominence_db(f, p, 236.0) > 10
    assert slope_db_per_octave(scene("aircraft", 4.0), 500, 8000) == pytest.approx(-9, abs=1)


def test_traffic_is_rumble_with_passing_vehicles() -> None:
    x = scene("traffic", 8.0).astype(np.float64)
    f, p = psd(x)
    assert fraction(f, p, 0, 1500) > 0.95
    levels = 10 * np.log10(np.mean(x.reshape(-1, FS // 4) ** 2, axis=1))  # per 250 ms
    assert np.ptp(levels) > 6  # level swells as vehicles pass


def test_babble_is_speech_band_with_syllabic_modulation() -> None:
    x = scene("babble", 6.0).astype(np.float64)
    f, p = psd(x)
    assert fraction(f, p, 80, 5000) > 0.97
    assert fraction(f, p, 200, 2500) > 0.6  # formant region
    levels = 10 * np.log10(np.mean(x.reshape(-1, FS // 20) ** 2, axis=1))  # per 50 ms
    assert 1.0 < np.std(levels) < 6.0  # modulated, but six talkers fill the gaps


def test_band_noise_stays_in_band() -> None:
    f, p = psd(scene("band", 4.0))
    assert fraction(f, p, 50, 1500) > 0.95
    assert fraction(f, p, 3000, 24000) < 1e-4


def test_registry_rejects_duplicates_and_unknown_names() -> None:
    assert set(scene_names()) >= {"engine", "aircraft", "traffic", "babble", "fan", "white",
                                  "pink", "brown", "band"}
    with pytest.raises(ValueError, match="already registered"):
        register("white", "again")(lambda n, fs, rng: np.zeros(n))
    with pytest.raises(ValueError, match="unknown scene 'jet'.*known scenes: engine"):
        scene("jet", 1.0)
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        scene("white", -1.0)
    with pytest.raises(ValueError, match="fs must be at least 8000"):
        scene("white", 1.0, fs=100)
