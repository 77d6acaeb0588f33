"""Attenuation metrics and the Wiener bound.

Every figure compares the ear signal without ANC (d) and with it (e) over the same samples.
Steady state is the last `STEADY_FRACTION` of a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, signal

STEADY_FRACTION = 0.25
BANDS_HZ: dict[str, tuple[float, float]] = {"50-500": (50.0, 500.0), "500-1500": (500.0, 1500.0)}
FRAME_SECONDS = 0.1
CONVERGENCE_MARGIN_DB = 3.0


def _db_ratio(num: float, den: float) -> float:
    if den <= 0:
        return float("inf") if num > 0 else 0.0
    if num <= 0:
        return float("-inf")
    return float(10 * np.log10(num / den))


def steady_slice(n: int, fraction: float = STEADY_FRACTION) -> slice:
    """The last `fraction` of n samples."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return slice(n - max(1, int(n * fraction)), n)


def attenuation_db(d: np.ndarray, e: np.ndarray) -> float:
    """10·log10(Σd² / Σe²): positive when ANC makes the ear quieter."""
    d64, e64 = np.asarray(d, np.float64), np.asarray(e, np.float64)
    return _db_ratio(float(d64 @ d64), float(e64 @ e64))


def band_attenuation_db(d: np.ndarray, e: np.ndarray, lo: float, hi: float, fs: int) -> float:
    """Attenuation of the power in [lo, hi) Hz (Welch periodograms, 8192-point Hann)."""
    nper = min(8192, len(d))
    f, pd = signal.welch(np.asarray(d, np.float64), fs, nperseg=nper)
    _, pe = signal.welch(np.asarray(e, np.float64), fs, nperseg=nper)
    band = (f >= lo) & (f < hi)
    return _db_ratio(float(pd[band].sum()), float(pe[band].sum()))


def attenuation_over_time(
    d: np.ndarray, e: np.ndarray, fs: int, frame_seconds: float = FRAME_SECONDS
) -> tuple[np.ndarray, np.ndarray]:
    """Attenuation per frame: (frame end times in s, attenuation in dB)."""
    frame = max(1, int(round(frame_seconds * fs)))
    n = len(d) // frame
    dd = np.asarray(d[: n * frame], np.float64).reshape(n, frame)
    ee = np.asarray(e[: n * frame], np.float64).reshape(n, frame)
    pd, pe = (dd**2).sum(axis=1), (ee**2).sum(axis=1)
    with np.errstate(divide="ignore"):
        att = 10 * np.log10(np.maximum(pd, 1e-300) / np.maximum(pe, 1e-300))
    return (np.arange(1, n + 1) * frame) / fs, att


def convergence_time(times: np.ndarray, att_db: np.ndarray, final_db: float,
                     margin_db: float = CONVERGENCE_MARGIN_DB) -> float:
    """First time from which every later frame is within `margin_db` of `final_db`.

    Returns NaN when the last frame is not within the margin (never converged).
    """
    ok = att_db >= final_db - margin_db
    if len(ok) == 0 or not ok[-1]:
        return float("nan")
    bad = np.flatnonzero(~ok)
    first_good = 0 if len(bad) == 0 else bad[-1] + 1
    # a frame's time stamp is its end; convergence happened during the first good frame
    return float(times[first_good - 1]) if first_good > 0 else 0.0


@dataclass(frozen=True)
class WienerBound:
    """Least-squares optimal fixed FIR for the segment and the error it leaves."""

    weights: np.ndarray
    error: np.ndarray
    attenuation_db: float


def _covariance_normal_equations(
    u: np.ndarray, d: np.ndarray, taps: int, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact UᵀU and Uᵀd for rows n in [start, stop), row n = [u[n], u[n-1], …, u[n-L+1]].

    The first row of UᵀU is L dot products; every later entry follows along its diagonal,
    R[i+1, j+1] = R[i, j] + u[start-1-i]·u[start-1-j] − u[stop-1-i]·u[stop-1-j],
    so the whole matrix costs O(N·L + L²) instead of O(N·L²). u before index 0 is zero.
    """
    pad = 2 * taps
    up = np.concatenate([np.zeros(pad), u])  # up[n + pad] = u[n]
    seg = up[start + pad : stop + pad]
    lagged = [up[start + pad - k : stop + pad - k] for k in range(taps)]
    first_row = np.array([seg @ lag for lag in lagged])
    cross = np.array([d[start:stop] @ lag for lag in lagged])
    m = np.arange(taps - 1)[:, None]
    k = np.arange(taps)[None, :]
    enter = up[start + pad - 1 - m] * up[start + pad - 1 - m - k]
    leave = up[stop + pad - 1 - m] * up[stop + pad - 1 - m - k]
    drift = np.vstack([np.zeros((1, taps)), np.cumsum(enter - leave, axis=0)])
    gram = np.empty((taps, taps))
    for i in range(taps):  # row i, diagonals k = 0 … L-1-i
        gram[i, i:] = first_row[: taps - i] + drift[i, : taps - i]
    gram = np.triu(gram) + np.triu(gram, 1).T
    return gram, cross


def wiener_bound(
    x: np.ndarray, d: np.ndarray, end_to_end_secondary: np.ndarray, taps: int, segment: slice,
) -> WienerBound:
    """min_w ‖d + U w‖² over `segment`, U the regressor matrix of u = (delay(D) ∗ S) ∗ x.

    The normal equations (UᵀU) w = −Uᵀd are formed exactly (covariance method, not the
    windowed-autocorrelation approximation) and solved by Cholesky, so no fixed filter of
    `taps` taps at this latency does better on this segment.
    """
    if taps <= 0:
        raise ValueError(f"taps must be positive, got {taps}")
    x64 = np.asarray(x, np.float64)
    d64 = np.asarray(d, np.float64)
    if x64.shape != d64.shape:
        raise ValueError(f"x and d must have the same shape, got {x64.shape} and {d64.shape}")
    u = signal.lfilter(np.asarray(end_to_end_secondary, np.float64), [1.0], x64)
    start, stop, _ = segment.indices(len(u))
    if stop - start < taps:
        raise ValueError(f"segment has {stop - start} samples, fewer than taps={taps}")
    gram, cross = _covariance_normal_equations(u, d64, taps, start, stop)
    # tiny ridge keeps Cholesky well defined for band-limited inputs (eigenvalues ≈ 0)
    ridge = 1e-10 * np.trace(gram) / taps
    w = -linalg.cho_solve(linalg.cho_factor(gram + ridge * np.eye(taps)), cross)
    history = np.concatenate([np.zeros(taps), u])[start + 1 : stop + taps]  # u[start-L+1 …]
    err = d64[start:stop] + signal.oaconvolve(history, w, mode="valid")
    return WienerBound(w, err, attenuation_db(d64[start:stop], err))
