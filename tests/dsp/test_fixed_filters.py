"""Fir and BiquadCascade against scipy.signal, within a float32 SNR floor."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dsp_c import BiquadCascade, Fir
from tests.dsp.helpers import decaying_fir, snr_db, white

FLOAT32_FIR_SNR_DB = 110.0      # float32 accumulation over 255 taps: ~125 dB measured
FLOAT32_BIQUAD_SNR_DB = 80.0    # recursive filters amplify rounding near their poles


def test_fir_matches_lfilter() -> None:
    rng = np.random.default_rng(10)
    h = decaying_fir(rng, 255, 60.0)
    x = white(rng, 20_000)
    y = Fir(h).process(x)
    ref = signal.lfilter(h.astype(np.float64), [1.0], x.astype(np.float64))
    assert snr_db(ref, y) > FLOAT32_FIR_SNR_DB


def test_fir_is_resumable_across_chunks() -> None:
    rng = np.random.default_rng(11)
    h = decaying_fir(rng, 37, 10.0)
    x = white(rng, 5_000)
    whole = Fir(h).process(x)
    f = Fir(h)
    parts = [f.process(np.ascontiguousarray(c)) for c in np.array_split(x, [1, 50, 51, 3000])]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("order,kind", [(4, "lowpass"), (8, "bandpass")])
def test_biquad_matches_sosfilt(order: int, kind: str) -> None:
    rng = np.random.default_rng(12)
    wn = 0.1 if kind == "lowpass" else [0.05, 0.2]
    sos = signal.butter(order, wn, btype=kind, output="sos")
    x = white(rng, 20_000)
    y = BiquadCascade(sos).process(x)
    ref = signal.sosfilt(sos, x.astype(np.float64))
    assert snr_db(ref, y) > FLOAT32_BIQUAD_SNR_DB


def test_biquad_normalizes_by_a0_and_resumes() -> None:
    rng = np.random.default_rng(13)
    sos = signal.cheby1(4, 1.0, 0.2, output="sos")
    scaled = sos.copy()
    scaled[0] *= 3.0  # same section, every coefficient times 3 (a0 = 3)
    x = white(rng, 4_000)
    b = BiquadCascade(scaled)
    y = np.concatenate([b.process(x[:1234].copy()), b.process(x[1234:].copy())])
    ref = signal.sosfilt(sos, x.astype(np.float64))
    assert snr_db(ref, y) > FLOAT32_BIQUAD_SNR_DB
