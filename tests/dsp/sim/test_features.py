"""The C feature extractor against NumPy, tones in the right band, and the protocol file."""

from __future__ import annotations

import numpy as np
import pytest

from dsp_c.features import (
    FeatureExtractor,
    feature_definition,
    load_definition,
    nominal_centre_hz,
    reference_features,
)
from dsp_c.sim import scene

FS = 48_000


def test_matches_numpy_on_every_scene_within_0p01_db() -> None:
    for name in ("babble", "engine", "white", "brown"):
        x = scene(name, 1.5, seed=3)
        ours = FeatureExtractor().process(x).astype(np.float64)
        ref = reference_features(x)
        assert ours.shape == ref.shape == (15, 31)
        bands = slice(0, 26)
        # bands within 60 dB of the loudest: float32 FFT rounding stays far below 0.01 dB
        loud = ref[:, bands] > ref[:, bands].max(axis=1, keepdims=True) - 60
        np.testing.assert_array_less(np.abs(ours[:, bands] - ref[:, bands])[loud], 0.01)
        np.testing.assert_allclose(ours[:, 26:28], ref[:, 26:28], atol=1e-3)   # dB values
        np.testing.assert_allclose(ours[:, 28], ref[:, 28], atol=1e-9)         # counts
        np.testing.assert_allclose(ours[:, 29], ref[:, 29], rtol=1e-4)         # centroid
        np.testing.assert_allclose(ours[:, 30], ref[:, 30], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("nominal", [50, 100, 315, 1000, 2500, 8000, 16000])
def test_a_tone_lands_in_its_band(nominal: float) -> None:
    fx = FeatureExtractor()
    band = [nominal_centre_hz(f) for f in fx.band_centres_hz].index(nominal)
    fc = fx.band_centres_hz[band]
    n = np.arange(FS)
    tone = (0.5 * np.sin(2 * np.pi * fc * n / FS)).astype(np.float32)
    frames = fx.process(tone)[2:]  # from the first frame that holds only the tone
    levels = frames[:, :26]
    assert np.all(np.argmax(levels, axis=1) == band)
    # a 0.5-amplitude sine has mean square 0.125 = -9.03 dB; nearly all of it in its band
    np.testing.assert_allclose(levels[:, band], 10 * np.log10(0.125), atol=0.5)
    # a frame holds a non-integer number of periods: ±0.03 dB at 50 Hz
    np.testing.assert_allclose(frames[:, 26], 10 * np.log10(0.125), atol=0.05)
    np.testing.assert_allclose(frames[:, 27], 10 * np.log10(2), atol=0.05)  # sine crest
    np.testing.assert_allclose(frames[:, 29], fc, rtol=0.05)
    assert np.all(frames[:, 30] < 0.05)  # tonal: far from flat


def test_white_noise_is_flat_and_rises_one_db_per_band() -> None:
    x = scene("white", 3.0, seed=1)
    frames = FeatureExtractor().process(x)[2:]
    levels = frames[:, 8:26].mean(axis=0)  # 160 Hz and up: enough bins per band
    slope = np.polyfit(np.arange(len(levels)), levels, 1)[0]
    assert slope == pytest.approx(1.0, abs=0.1)  # band width grows 10^(1/10) per band
    assert np.all(frames[:, 30] > 0.5)
    assert np.all(frames[:, 28] > 0.4)  # white noise crosses zero about every other sample


def test_chunked_input_gives_the_same_frames_and_reset_restarts() -> None:
    x = scene("traffic", 1.0, seed=2)
    fx = FeatureExtractor()
    whole = fx.process(x)
    fx.reset()
    parts = np.concatenate([fx.process(c) for c in np.array_split(x, 17)])
    assert np.array_equal(whole, parts)
    assert fx.process(np.zeros(10, np.float32)).shape == (0, 31)


def test_silence_gives_the_documented_floors() -> None:
    frames = FeatureExtractor().process(np.zeros(9600, np.float32))
    assert frames.shape == (2, 31)
    assert np.all(frames[:, :27] == pytest.approx(-120.0))
    assert np.all(frames[:, 27:30] == 0.0)
    assert np.all(frames[:, 30] == pytest.approx(1.0))


def test_protocol_file_is_the_extractor_definition() -> None:
    on_disk = load_definition()
    assert on_disk == feature_definition()
    names = [f["name"] for f in on_disk["features"]]
    assert names == list(FeatureExtractor().names)
    assert [f["index"] for f in on_disk["features"]] == list(range(31))
    assert [b["nominal_hz"] for b in on_disk["bands"]][:4] == [50, 63, 80, 100]
    assert on_disk["frame_period_s"] == 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fft_size": 1000}, "fft_size"),
        ({"hop": 0}, "hop"),
        ({"hop": 9000}, "hop"),
        ({"fs": -1}, "fs"),
        ({"f_lo_hz": 2000, "f_hi_hz": 1000}, "f_hi_hz"),
        ({"fft_size": 256, "hop": 128}, "narrower than one FFT bin"),
    ],
)
def test_bad_configuration_is_named(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureExtractor(**kwargs)  # type: ignore[arg-type]


def test_bad_samples_are_named() -> None:
    fx = FeatureExtractor()
    with pytest.raises(ValueError, match="x must have dtype float32"):
        fx.process(np.zeros(10))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x must be 1-D"):
        fx.process(np.zeros((2, 10), np.float32))
