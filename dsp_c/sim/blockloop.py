"""Fast NumPy closed loop: the same model as `reference.ReferenceLoop`, vectorized per block.

Within one adaptation block the fast-path weights are fixed (or crossfading on a known
schedule) and the errors are already measured, so the block's anti-noise, ear signal and
weight update are closed-form matrix products:

    W_end = keepᴮ W − Σᵢ keep^(B−1−i) gᵢ rᵢ,   gᵢ = μ eᵢ / (eps + ‖rᵢ‖²)  (FxNLMS; FxLMS: μ eᵢ)

For modified FxNLMS the block's corrected errors ê depend on each other through the
weights updated inside the block; with G = R Rᵀ (R: the block's filtered-reference rows)

    ê_i + Σ_{j<i} keep^(i−1−j) μ_j G_ij ê_j = d̂_i + keep^i W·r_i,   μ_j = μ / (eps + ‖r_j‖²)

a unit lower-triangular system solved once per block.

This is exact (up to rounding) and ~100× faster than the per-sample reference; it also
accepts a disturbance at the ear (noise not coherent with the reference microphone).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import linalg, signal

from .reference import ClosedLoopBase


class BlockLoop(ClosedLoopBase):
    """Closed loop plant + FxLMS/FxNLMS controller with block adaptation, in float64."""

    DEFAULT_BLOCK = 32

    def _init_state(self) -> None:
        taps, latency = self.taps, self.latency
        self._x_past = np.zeros(taps - 1)       # oldest first
        self._r_past = np.zeros(taps - 1)
        self._u_past = np.zeros(latency)        # the last D computed anti-noise samples
        self._y_past = np.zeros(len(self.secondary) - 1)
        self._p_state = np.zeros(len(self.primary) - 1)
        self._r_state = np.zeros(len(self.sec_path) - 1)
        self._u_made = np.zeros(len(self.sec_path) - 1)  # produced anti-noise, oldest first
        self._pend_e: list[np.ndarray] = []     # errors / filtered refs of a partial block
        self._pend_r: list[np.ndarray] = []     # filtered-reference windows (rows)
        self._fill = 0

    def _fast_path(self, windows: np.ndarray) -> np.ndarray:
        """Anti-noise for consecutive samples with the same commit state (rows newest-first)."""
        u = windows @ self._fast_cur
        if self._fade_pos:
            m = len(windows)
            a = (self._fade_pos + np.arange(m)) / self.block
            a = np.minimum(a, 1.0)
            u = (1 - a) * u + a * (windows @ self._fast_next)
            self._fade_pos += m
            if self._fade_pos > self.block:
                self._fast_cur = self._fast_next
                self._fade_pos = 0
        return u

    def _corrected_errors(self, d_hat: np.ndarray, r_rows: np.ndarray, steps: np.ndarray,
                          keep: float) -> np.ndarray:
        """ê for modified FxNLMS: the unit lower-triangular solve of the module docstring."""
        m = len(d_hat)
        i = np.arange(m)
        rhs = d_hat + keep**i * (r_rows @ self.weights)
        coupling = np.tril((r_rows @ r_rows.T) * steps[None, :], -1)
        if keep != 1.0:
            coupling *= keep ** np.maximum(i[:, None] - 1 - i[None, :], 0)
        coupling[np.diag_indices(m)] = 1.0
        return linalg.solve_triangular(coupling, rhs, lower=True, unit_diagonal=True,
                                       check_finite=False)

    def _adapt(self, e: np.ndarray, r_rows: np.ndarray) -> None:
        steps = np.full(len(e), self.mu)
        if self.normalized:
            steps = steps / (self.eps + np.einsum("ij,ij->i", r_rows, r_rows))
        keep = 1.0 - self.leak
        if self.modified:  # e holds d̂ for this block
            e = self._corrected_errors(e, r_rows, steps, keep)
        g = steps * e
        if keep != 1.0:
            g = g * keep ** np.arange(len(e) - 1, -1, -1)
        self.weights = keep ** len(e) * self.weights - g @ r_rows
        if self._fade_pos:
            self._fast_cur = self._fast_next
        self._fast_next = self.weights.copy()
        self._fade_pos = 1

    def run(
        self, x: np.ndarray, disturbance: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feed reference samples (and optional ear disturbance); returns (d, e, y)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"x must be 1-D, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or Inf")
        v = np.zeros_like(x) if disturbance is None else np.asarray(disturbance, np.float64)
        if v.shape != x.shape:
            raise ValueError(f"disturbance must have x's shape {x.shape}, got {v.shape}")
        d, self._p_state = signal.lfilter(self.primary, [1.0], x, zi=self._p_state)
        d = d + v
        r, self._r_state = signal.lfilter(self.sec_path, [1.0], x, zi=self._r_state)
        x_all = np.concatenate([self._x_past, x])
        r_all = np.concatenate([self._r_past, r])
        x_rows = sliding_window_view(x_all, self.taps)[:, ::-1]  # row n: x[n], x[n-1], …
        r_rows = sliding_window_view(r_all, self.taps)[:, ::-1]
        e = np.empty_like(x)
        y = np.empty_like(x)
        D, S = self.latency, self.secondary
        start = 0
        while start < len(x):
            stop = min(len(x), start + self.block - self._fill)
            u = self._fast_path(x_rows[start:stop])
            u_line = np.concatenate([self._u_past, u])
            y_seg = u_line[: stop - start]
            self._u_past = u_line[len(u_line) - D :] if D else self._u_past
            y_line = np.concatenate([self._y_past, y_seg])
            e[start:stop] = d[start:stop] + np.convolve(y_line, S, mode="valid")
            y[start:stop] = y_seg
            self._y_past = y_line[len(y_line) - (len(S) - 1) :] if len(S) > 1 else self._y_past
            if self.modified:  # d̂ = e − Ŝ ∗ u, u the anti-noise produced
                made = np.concatenate([self._u_made, u])
                shat_u = np.convolve(made, self.sec_path, mode="valid")
                self._u_made = made[len(made) - len(self._u_made) :]
                self._pend_e.append(e[start:stop] - shat_u)
            else:
                self._pend_e.append(e[start:stop])
            self._pend_r.append(r_rows[start:stop])
            self._fill += stop - start
            if self._fill == self.block:
                self._adapt(np.concatenate(self._pend_e), np.concatenate(self._pend_r))
                self._pend_e, self._pend_r, self._fill = [], [], 0
            start = stop
        self._x_past = x_all[len(x_all) - (self.taps - 1) :] if self.taps > 1 else self._x_past
        self._r_past = r_all[len(r_all) - (self.taps - 1) :] if self.taps > 1 else self._r_past
        return d, e, y
