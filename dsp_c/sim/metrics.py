"""Attenuation metrics and the Wiener bound.

Every figure compares the ear signal without ANC (d) and with it (e) over the same samples.
Steady state is the last `STEADY_FRACTION` of a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
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
    The dot products run in einsum's single-threaded loop: threaded BLAS dots of this size
    are up to 40× slower on a busy machine.
    """
    pad = 2 * taps
    up = np.concatenate([np.zeros(pad), u])  # up[n + pad] = u[n]
    seg = up[start + pad : stop + pad]
    # row k: u[start-k … stop-1-k]
    lagged = sliding_window_view(up[start + pad - taps + 1 : stop + pad], stop - start)[::-1]
    first_row = np.einsum("kn,n->k", lagged, seg)
    cross = np.einsum("kn,n->k", lagged, d[start:stop])
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


@dataclass
class NormalEquations:
    """UᵀU and Uᵀd of one segment, u = (delay(D) ∗ S) ∗ x, with their eigendecomposition
    computed once on first use (the Wiener bound and the mode analysis share it)."""

    u: np.ndarray
    d: np.ndarray
    gram: np.ndarray
    cross: np.ndarray
    start: int
    stop: int
    d_power: float                      # dᵀd over the segment
    _eig: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def taps(self) -> int:
        return len(self.cross)

    def eig(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (descending) and eigenvectors (columns) of UᵀU."""
        if self._eig is None:
            lam, vec = linalg.eigh(self.gram, check_finite=False)
            self._eig = (lam[::-1].copy(), vec[:, ::-1].copy())
        return self._eig


def normal_equations(
    x: np.ndarray, d: np.ndarray, end_to_end_secondary: np.ndarray, taps: int, segment: slice,
) -> NormalEquations:
    """The exact normal equations of the Wiener problem on `segment` (inputs checked)."""
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
    seg = d64[start:stop]
    return NormalEquations(u, d64, gram, cross, start, stop, float(seg @ seg))


def summed_normal_equations(parts: list[NormalEquations], start: int) -> NormalEquations:
    """The normal equations of consecutive segments taken together (a long run's last
    chunks), the first starting at sample `start` of the run, without their signals: enough
    for `bound_db_of` and `mode_analysis`."""
    if not parts:
        raise ValueError("no segments to sum")
    return NormalEquations(np.zeros(0), np.zeros(0), np.sum([p.gram for p in parts], axis=0),
                           np.sum([p.cross for p in parts], axis=0), start,
                           start + sum(p.stop - p.start for p in parts),
                           sum(p.d_power for p in parts))


def _optimal_weights(eq: NormalEquations) -> np.ndarray:
    lam, vec = eq.eig()
    # tiny ridge keeps the solve well defined for band-limited inputs (eigenvalues ≈ 0)
    ridge = 1e-10 * np.trace(eq.gram) / eq.taps
    return -vec @ ((vec.T @ eq.cross) / (np.maximum(lam, 0.0) + ridge))


def bound_db_of(eq: NormalEquations) -> float:
    """The Wiener bound from the normal equations alone: ‖d + U w‖² = dᵀd + 2 wᵀUᵀd + wᵀUᵀU w
    at the optimal w, no signals needed."""
    w = _optimal_weights(eq)
    left = eq.d_power + 2 * float(w @ eq.cross) + float(w @ eq.gram @ w)
    return _db_ratio(eq.d_power, max(left, 0.0))


def wiener_bound(
    x: np.ndarray, d: np.ndarray, end_to_end_secondary: np.ndarray, taps: int, segment: slice,
    normal: NormalEquations | None = None,
) -> WienerBound:
    """min_w ‖d + U w‖² over `segment`, U the regressor matrix of u = (delay(D) ∗ S) ∗ x.

    The normal equations (UᵀU) w = −Uᵀd are formed exactly (covariance method, not the
    windowed-autocorrelation approximation) and solved through the eigendecomposition of
    UᵀU, so no fixed filter of `taps` taps at this latency does better on this segment.
    `normal` passes normal equations already formed for the same arguments.
    """
    eq = normal or normal_equations(x, d, end_to_end_secondary, taps, segment)
    w = _optimal_weights(eq)
    start, stop = eq.start, eq.stop
    history = np.concatenate([np.zeros(eq.taps), eq.u])[start + 1 : stop + eq.taps]
    err = eq.d[start:stop] + signal.oaconvolve(history, w, mode="valid")
    return WienerBound(w, err, attenuation_db(eq.d[start:stop], err))


@dataclass(frozen=True)
class ModeAnalysis:
    """The Wiener problem of a segment split into the eigenmodes of the regressor correlation.

    `spread[i]` is eigenvalue i over the mean eigenvalue (descending; they sum to `taps`),
    `gain[i]` the share of the noise power at the ear that the optimal filter removes through
    mode i, `floor` the share it leaves (the Wiener bound is −10·log10(floor)). NLMS with step
    μ (normalized by ‖r‖² ≈ taps · mean eigenvalue) started from W = 0 removes mode i with
    the mean trajectory 1 − exp(−2 μ spread[i] n / taps) after n samples; modes 40–80 dB
    below the strongest, which low-frequency and band-limited noise at 48 kHz has, need
    hours. `start`/`stop` are the segment's bounds in samples since the controller started.

    The trajectory assumes independent regressors and ‖r‖² ≈ taps · mean eigenvalue. It
    matches NLMS within ~1.5 dB for white, pink and band-limited noise with 256 taps
    (tests/dsp/sim/test_metrics.py); on tonal scenes NLMS lands up to ~3 dB below it, and for
    noise whose power sits far below fs/taps (brown) it is pessimistic, because NLMS's
    per-sample normalization speeds up the weak modes there.
    """

    spread: np.ndarray
    gain: np.ndarray
    floor: float
    start: int
    stop: int

    def _rates(self, mu: float) -> np.ndarray:
        if not (np.isfinite(mu) and mu > 0):
            raise ValueError(f"mu must be a positive number, got {mu}")
        return 2.0 * mu * self.spread / len(self.spread)

    def residual(self, mu: float, n: float) -> float:
        """Noise share left by the mean NLMS trajectory after n samples."""
        a = self._rates(mu)
        left = np.exp(-a * n) if np.isfinite(n) else (a == 0).astype(np.float64)
        return float(self.floor + self.gain @ left)

    def predicted_db(self, mu: float) -> float:
        """Attenuation of the mean NLMS trajectory averaged over the segment."""
        a = self._rates(mu)
        n0, n1 = self.start, self.stop
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mean = (np.exp(-a * n0) - np.exp(-a * n1)) / (a * (n1 - n0))
        mean = np.where(a * (n1 - n0) > 1e-9, mean, 1.0)
        return _db_ratio(1.0, float(self.floor + self.gain @ mean))

    def samples_to_within(self, mu: float, margin_db: float) -> float:
        """Samples until the mean NLMS trajectory is within `margin_db` of the bound (inf:
        never, some mode the bound needs does not adapt at all)."""
        target = self.floor * 10 ** (margin_db / 10)
        if self.residual(mu, np.inf) >= target:
            return float("inf")
        lo, hi = 0.0, 1.0
        while self.residual(mu, hi) > target:
            lo, hi = hi, hi * 2
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.residual(mu, mid) > target else (lo, mid)
        return hi


def mode_analysis(
    x: np.ndarray, d: np.ndarray, end_to_end_secondary: np.ndarray, taps: int, segment: slice,
    normal: NormalEquations | None = None,
) -> ModeAnalysis:
    """Eigenmodes of the Wiener problem on `segment` (see `ModeAnalysis`)."""
    return modes_of(normal or normal_equations(x, d, end_to_end_secondary, taps, segment))


def modes_of(eq: NormalEquations) -> ModeAnalysis:
    """Eigenmodes of the Wiener problem given by its normal equations (see `ModeAnalysis`)."""
    power = eq.d_power
    if power <= 0:
        raise ValueError("d is silent on the segment: nothing to attenuate")
    lam, vec = eq.eig()
    usable = lam > 1e-12 * lam[0]
    proj = vec.T @ eq.cross
    gain = np.where(usable, proj**2 / np.where(usable, lam, 1.0), 0.0) / power
    mean = lam.sum() / eq.taps
    floor = max(1.0 - float(gain.sum()), 1e-300)
    return ModeAnalysis(np.maximum(lam, 0.0) / mean, gain, floor, eq.start, eq.stop)
