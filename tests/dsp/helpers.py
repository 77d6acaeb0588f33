"""Shared helpers for the dsp_c tests: seeded signals and error measures."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def white(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(n)).astype(np.float32)


def decaying_fir(rng: np.random.Generator, taps: int, decay: float) -> np.ndarray:
    """A random FIR whose taps decay exponentially (like an acoustic path)."""
    return (rng.standard_normal(taps) * np.exp(-np.arange(taps) / decay)).astype(np.float32)


def fir_out(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    return lfilter(h.astype(np.float64), [1.0], x.astype(np.float64))


def misalignment_db(w: np.ndarray, h: np.ndarray) -> float:
    """10 log10(||w - h||^2 / ||h||^2)."""
    w64, h64 = w.astype(np.float64), h.astype(np.float64)
    return float(10 * np.log10(np.sum((w64 - h64) ** 2) / np.sum(h64**2)))


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    err = test.astype(np.float64) - ref
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-300)))


def power_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2)))
