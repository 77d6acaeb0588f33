"""LMS/NLMS: system identification and the white-input misadjustment theory."""

from __future__ import annotations

import numpy as np
import pytest

from dsp_c import Lms, Nlms
from tests.dsp.helpers import decaying_fir, fir_out, misalignment_db, power_db, white


def test_nlms_identifies_256_tap_fir() -> None:
    rng = np.random.default_rng(20)
    h = decaying_fir(rng, 256, 60.0)
    x = white(rng, 48_000)
    d = (fir_out(h, x) + 1e-3 * rng.standard_normal(x.size)).astype(np.float32)
    f = Nlms(taps=256, mu=0.5, eps=1e-6)
    y, e = f.process(x, d)
    assert misalignment_db(f.weights, h) < -40.0
    np.testing.assert_allclose(e, d - y, atol=1e-6)
    assert f.resets == 0


@pytest.mark.parametrize("mu", [0.1, 0.5, 1.0])
def test_nlms_steady_state_mse_matches_theory(mu: float) -> None:
    """For white input, MSE = sigma_v^2 (1 + mu / (2 - mu)) (Slock 1993)."""
    rng = np.random.default_rng(21)
    taps, sigma_v = 32, 1e-2
    h = decaying_fir(rng, taps, 8.0)
    n_total = 400_000
    settle = 40_000  # many time constants (~taps / mu samples) even for mu = 0.1
    x = white(rng, n_total)
    d = (fir_out(h, x) + sigma_v * rng.standard_normal(n_total)).astype(np.float32)
    f = Nlms(taps=taps, mu=mu, eps=0.0)
    _, e = f.process(x, d)
    measured = power_db(e[settle:])
    theory = 10 * np.log10(sigma_v**2 * (1 + mu / (2 - mu)))
    assert abs(measured - theory) < 0.3, (measured, theory)


def test_lms_identifies_fir() -> None:
    rng = np.random.default_rng(22)
    h = decaying_fir(rng, 64, 12.0)
    x = white(rng, 48_000)
    d = (fir_out(h, x) + 1e-3 * rng.standard_normal(x.size)).astype(np.float32)
    f = Lms(taps=64, mu=0.005)
    f.process(x, d)
    assert misalignment_db(f.weights, h) < -40.0


def test_chunked_processing_equals_one_call() -> None:
    rng = np.random.default_rng(23)
    h = decaying_fir(rng, 100, 20.0)
    x = white(rng, 10_000)
    d = fir_out(h, x).astype(np.float32)
    whole = Nlms(taps=100, mu=0.3, leak=1e-4)
    y1, _ = whole.process(x, d)
    chunked = Nlms(taps=100, mu=0.3, leak=1e-4)
    cuts = [0, 1, 3, 7, 32, 33, 5000, 10_000]
    y2 = np.concatenate([chunked.process(x[a:b].copy(), d[a:b].copy())[0]
                         for a, b in zip(cuts, cuts[1:], strict=False)])
    np.testing.assert_allclose(y2, y1, rtol=0, atol=1e-5)
    np.testing.assert_allclose(chunked.weights, whole.weights, atol=1e-6)


def test_weights_include_the_pending_updates() -> None:
    """The weights after n samples predict sample n+1 exactly like the filter will."""
    rng = np.random.default_rng(24)
    h = decaying_fir(rng, 16, 4.0)
    x = white(rng, 2_001)
    d = fir_out(h, x).astype(np.float32)
    f = Nlms(taps=16, mu=0.5)
    f.process(x[:2000].copy(), d[:2000].copy())
    w = f.weights
    y_next, _ = f.process(x[2000:].copy(), d[2000:].copy())
    window = x[2000 - 15:2001][::-1]
    assert y_next[0] == pytest.approx(float(w @ window), abs=1e-5)


def test_leak_shrinks_weights_without_excitation() -> None:
    f = Nlms(taps=8, mu=0.5, leak=0.01)
    f.weights = np.ones(8, dtype=np.float32)
    zeros = np.zeros(100, dtype=np.float32)
    f.process(zeros, zeros)
    np.testing.assert_allclose(f.weights, 0.99**100, rtol=1e-4)
