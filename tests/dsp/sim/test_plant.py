"""Headset paths and the secondary-path estimate with its errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dsp_c.sim import end_to_end_secondary, estimate_secondary, make_plant, realized_phase_error
from dsp_c.sim.plant import PRIMARY_DELAY, SECONDARY_DELAY

FS = 48_000


def test_paths_have_their_delays_and_responses() -> None:
    plant = make_plant(seed=0)
    assert plant.primary.dtype == plant.secondary.dtype == np.float32
    assert np.all(plant.primary[:PRIMARY_DELAY] == 0) and plant.primary[PRIMARY_DELAY] != 0
    assert np.all(plant.secondary[:SECONDARY_DELAY] == 0)
    assert plant.secondary[SECONDARY_DELAY] != 0
    # acoustic lead of the primary path: 2 samples = 41.7 µs, inside the 30–45 µs of a headset
    assert 30e-6 <= PRIMARY_DELAY / FS <= 45e-6
    f = np.array([100.0, 1000.0, 8000.0])
    _, hp = signal.freqz(plant.primary, worN=f, fs=FS)
    gain_db = 20 * np.log10(np.abs(hp))
    assert gain_db[0] > -4 and gain_db[2] < gain_db[0] - 20  # passive attenuation grows with f


def test_seed_changes_only_the_small_reflection_tails() -> None:
    a, b = make_plant(seed=1), make_plant(seed=2)
    assert np.array_equal(a.primary, make_plant(seed=1).primary)
    diff = np.linalg.norm(a.primary - b.primary) / np.linalg.norm(a.primary)
    assert 0 < diff < 0.2


def test_exact_estimate_is_the_end_to_end_path() -> None:
    s = make_plant().secondary
    for latency in (0, 1, 32):
        est = estimate_secondary(s, latency)
        assert np.array_equal(est, end_to_end_secondary(s, latency))
        assert np.all(est[:latency] == 0)


def test_gain_error_and_extra_delay() -> None:
    s = make_plant().secondary
    est = estimate_secondary(s, 4, gain_error_db=6.0, extra_delay=3)
    np.testing.assert_allclose(est[7 : 7 + len(s)], s * 10 ** (6 / 20), rtol=1e-6)
    assert np.all(est[:7] == 0)


def test_phase_error_rotates_every_frequency_where_the_latency_leaves_room() -> None:
    s = make_plant().secondary
    e2e = end_to_end_secondary(s, 32)
    est = estimate_secondary(s, 32, phase_error_deg=60.0)
    f = np.array([300.0, 1000.0, 3000.0, 8000.0])
    np.testing.assert_allclose(realized_phase_error(e2e, est, f), -60.0, atol=6.0)
    # magnitude nearly unchanged (a Hilbert rotation is all-pass; the truncated tails cost
    # up to ~1.2 dB at the low end)
    _, h0 = signal.freqz(e2e, worN=f, fs=FS)
    _, h1 = signal.freqz(est, worN=f, fs=FS)
    np.testing.assert_allclose(np.abs(h1), np.abs(h0), rtol=0.15)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"latency": -1}, "latency"), ({"latency": 0, "extra_delay": -2}, "extra_delay"),
     ({"latency": 0, "gain_error_db": float("nan")}, "gain_error_db")],
)
def test_bad_estimate_arguments_are_named(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_secondary(make_plant().secondary, **kwargs)  # type: ignore[arg-type]
