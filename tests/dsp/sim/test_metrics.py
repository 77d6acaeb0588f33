"""Attenuation metrics, convergence time and the Wiener bound on problems with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dsp_c.sim import (
    attenuation_db,
    attenuation_over_time,
    band_attenuation_db,
    convergence_time,
    wiener_bound,
)

FS = 48_000


def test_attenuation_of_scaled_signals() -> None:
    d = np.random.default_rng(0).standard_normal(FS)
    assert attenuation_db(d, 0.1 * d) == pytest.approx(20.0)
    assert attenuation_db(d, d) == pytest.approx(0.0)
    assert attenuation_db(d, 2 * d) == pytest.approx(-6.0206, abs=1e-3)


def test_band_attenuation_sees_only_its_band() -> None:
    rng = np.random.default_rng(1)
    low = signal.sosfilt(signal.butter(8, [60, 400], "bandpass", fs=FS, output="sos"),
                         rng.standard_normal(4 * FS))
    high = signal.sosfilt(signal.butter(8, [700, 1300], "bandpass", fs=FS, output="sos"),
                          rng.standard_normal(4 * FS))
    d, e = low + high, 0.01 * low + high  # only the low band is cancelled (40 dB)
    assert band_attenuation_db(d, e, 50, 500, FS) == pytest.approx(40.0, abs=0.5)
    assert band_attenuation_db(d, e, 500, 1500, FS) == pytest.approx(0.0, abs=0.5)


def test_attenuation_over_time_and_convergence() -> None:
    rng = np.random.default_rng(2)
    d = rng.standard_normal(3 * FS)
    gain = np.where(np.arange(len(d)) < FS, 1.0, 0.01)  # converges after 1 s to 40 dB
    t, att = attenuation_over_time(d, d * gain, FS)
    assert len(t) == 30 and t[0] == pytest.approx(0.1)
    assert np.all(att[:10] == pytest.approx(0.0)) and np.all(att[10:] == pytest.approx(40.0))
    assert convergence_time(t, att, 40.0) == pytest.approx(1.0)
    assert np.isnan(convergence_time(t, att[::-1], 40.0))  # diverged at the end


def test_wiener_bound_recovers_a_known_filter_and_its_noise_floor() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(2 * FS)
    s = np.array([0.0, 0.0, 0.5, 0.25])
    w_true = rng.standard_normal(16) * 0.3
    u = signal.lfilter(s, 1, x)
    noise = 1e-3 * rng.standard_normal(len(x))
    d = -signal.lfilter(w_true, 1, u) + noise
    seg = slice(FS, 2 * FS)
    bound = wiener_bound(x, d, s, 16, seg)
    np.testing.assert_allclose(bound.weights, w_true, atol=1e-3)
    # only the incoherent noise is left
    expected = attenuation_db(d[seg], noise[seg])
    assert bound.attenuation_db == pytest.approx(expected, abs=0.05)


def test_no_fixed_filter_beats_the_bound() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(FS)
    s = np.array([0.0, 1.0, -0.3])
    d = signal.lfilter([0, 0, 0.8, 0.2, -0.1], 1, x) + 0.05 * rng.standard_normal(FS)
    seg = slice(FS // 2, FS)
    bound = wiener_bound(x, d, s, 8, seg)
    u = signal.lfilter(s, 1, x)
    for _ in range(20):
        w = bound.weights + 0.01 * rng.standard_normal(8)
        e = d + signal.lfilter(w, 1, u)
        assert attenuation_db(d[seg], e[seg]) <= bound.attenuation_db


def test_bound_arguments_are_checked() -> None:
    x = np.zeros(100)
    with pytest.raises(ValueError, match="same shape"):
        wiener_bound(x, np.zeros(99), np.ones(2), 4, slice(0, 99))
    with pytest.raises(ValueError, match="fewer than taps"):
        wiener_bound(x, x, np.ones(2), 64, slice(50, 100))
    with pytest.raises(ValueError, match="taps must be positive"):
        wiener_bound(x, x, np.ones(2), 0, slice(0, 100))


@pytest.mark.parametrize("name", ["white", "pink", "band"])
def test_slow_mode_model_predicts_an_nlms_learning_curve(name: str) -> None:
    """ModeAnalysis's mean trajectory matches NLMS (the C core, L = 256) identifying the
    headset's primary path from zero, on the way to the bound and once there."""
    from dsp_c import Nlms
    from dsp_c.sim import make_plant, mode_analysis, scene

    mu = 0.05
    x = scene(name, 4.0, seed=7).astype(np.float64)
    p = make_plant(0).primary.astype(np.float64)
    d = -signal.lfilter(p, 1, x) + 1e-4 * np.random.default_rng(9).standard_normal(len(x))
    _, e = Nlms(taps=256, mu=mu, eps=1e-9).process(x.astype(np.float32),
                                                    (-d).astype(np.float32))
    for seg in (slice(FS, 2 * FS), slice(3 * FS, 4 * FS)):
        modes = mode_analysis(x, d, np.ones(1), 256, seg)
        assert modes.predicted_db(mu) == pytest.approx(attenuation_db(d[seg], e[seg]), abs=1.5)
        bound = wiener_bound(x, d, np.ones(1), 256, seg).attenuation_db
        assert -10 * np.log10(modes.floor) == pytest.approx(bound, abs=0.1)
    assert modes.residual(mu, 0.0) == pytest.approx(1.0, abs=1e-6)  # W = 0 removes nothing
    assert modes.samples_to_within(mu, 1.5) < 3 * FS  # it got there within the run
    with pytest.raises(ValueError, match="mu must be a positive number"):
        modes.predicted_db(0.0)
