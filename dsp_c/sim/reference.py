"""Pure-NumPy closed-loop reference of the headset with an FxLMS/FxNLMS controller.

Slow (one Python iteration per sample) and written for clarity: it is the oracle the C
simulator (`dsp_c.ClosedLoop`, `dsp_c/include/anc_plant.h`) is tested against, with the same
signal model and the same block-adaptation/crossfade scheme:

    d[n] = (P ∗ x)[n] + v[n]           noise at the ear without ANC (v: optional
                                       disturbance the reference does not observe)
    u[n] = W_fast · [x[n] … x[n−L+1]]  anti-noise computed on the fast path
    y[n] = u[n − D]                    after the I/O latency D
    e[n] = d[n] + (S ∗ y)[n]           ear signal with ANC

When a block of B samples is complete the controller adapts on it, sample by sample,

    r[n] = (Ŝ ∗ x)[n],  r_n = [r[n] … r[n−L+1]]
    FxLMS:  W ← (1 − leak) W − μ e[n] r_n
    FxNLMS: W ← (1 − leak) W − μ e[n] r_n / (eps + ‖r_n‖²)

and W is committed to the fast path, which crossfades linearly from its current weights to
W over the next B samples. With B = 1 this is textbook per-sample FxLMS.

Modified FxNLMS ("mfxnlms"; Bjarnason 1992, Kim, Park & Youn 1994) takes the I/O latency
and the block out of the adaptation loop. It rebuilds the noise at the ear from what the
controller emitted, d̂[n] = e[n] − (Ŝ ∗ u)[n], and adapts on the error the *current*
weights would give,

    ê[n] = d̂[n] + W · r_n,   W ← (1 − leak) W − μ ê[n] r_n / (eps + ‖r_n‖²)

so with Ŝ = delay(D) ∗ S the update is plain NLMS on (r, −d), stable for 0 < μ < 2 at any
latency. The fast path still applies W D samples (plus up to two blocks) late, so large
steps, whose weights follow the noise's phase, cost attenuation on tonal noise.
The loop keeps its state between `run` calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from scipy import signal

ALGORITHMS = ("fxlms", "fxnlms", "mfxnlms")


def _fir(name: str, h: np.ndarray) -> np.ndarray:
    a = np.asarray(h, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf")
    return a


class ClosedLoopBase(ABC):
    """What both loops share: argument checks, the plant and controller settings, W and the
    fast path's crossfade state. A loop sets its own state in `_init_state`."""

    DEFAULT_BLOCK: ClassVar[int]  # adaptation block (samples) when none is given

    def __init__(
        self,
        primary: np.ndarray,
        secondary: np.ndarray,
        latency: int,
        sec_path: np.ndarray,
        taps: int = 256,
        mu: float = 0.1,
        algorithm: str = "fxnlms",
        leak: float = 0.0,
        eps: float = 1e-6,
        block: int | None = None,
    ) -> None:
        block = self.DEFAULT_BLOCK if block is None else block
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        if taps <= 0:
            raise ValueError(f"taps must be positive, got {taps}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0 samples, got {latency}")
        if block <= 0:
            raise ValueError(f"block must be positive, got {block}")
        if not (np.isfinite(mu) and mu > 0):
            raise ValueError(f"mu must be a positive number, got {mu}")
        if not (0 <= leak < 1):
            raise ValueError(f"leak must be in [0, 1), got {leak}")
        self.primary = _fir("primary", primary)
        self.secondary = _fir("secondary", secondary)
        self.sec_path = _fir("sec_path", sec_path)
        self.latency, self.taps, self.block = latency, taps, block
        self.mu, self.leak, self.eps = float(mu), float(leak), float(eps)
        self.normalized = algorithm != "fxlms"
        self.modified = algorithm == "mfxnlms"
        self.weights = np.zeros(taps)          # the controller's W
        self._fast_cur = np.zeros(taps)        # fast-path weights in use
        self._fast_next = np.zeros(taps)       # weights being faded in
        self._fade_pos = 0                     # 0: idle, else samples of the fade done + 1
        self._init_state()

    @abstractmethod
    def _init_state(self) -> None:
        """Allocate the loop's own histories and filter states."""


class ReferenceLoop(ClosedLoopBase):
    """Closed loop plant + controller, per sample, in float64."""

    DEFAULT_BLOCK = 1

    def _init_state(self) -> None:
        taps, latency = self.taps, self.latency
        self._x_hist = np.zeros(taps)          # newest first
        self._r_hist = np.zeros(taps)
        self._y_hist = np.zeros(len(self.secondary))
        self._u_delay = np.zeros(latency + 1)  # u[n], u[n-1], …, u[n-D]
        self._p_state = np.zeros(len(self.primary) - 1)
        self._r_state = np.zeros(len(self.sec_path) - 1)
        self._u_hist = np.zeros(len(self.sec_path))  # produced anti-noise, newest first
        self._block_e: list[float] = []
        self._block_r: list[float] = []

    def _fast_path(self) -> float:
        out = float(self._fast_cur @ self._x_hist)
        if self._fade_pos:
            a = self._fade_pos / self.block
            out = (1 - a) * out + a * float(self._fast_next @ self._x_hist)
            if self._fade_pos == self.block:
                self._fast_cur = self._fast_next
                self._fade_pos = 0
            else:
                self._fade_pos += 1
        return out

    def _adapt_block(self) -> None:
        w = self.weights
        for e_n, r_n in zip(self._block_e, self._block_r, strict=True):
            self._r_hist[1:] = self._r_hist[:-1]
            self._r_hist[0] = r_n
            if self.modified:  # e_n holds d̂[n]: the error the current W would give
                e_n = e_n + float(w @ self._r_hist)
            step = self.mu * e_n
            if self.normalized:
                step /= self.eps + float(self._r_hist @ self._r_hist)
            w = (1 - self.leak) * w - step * self._r_hist
        self.weights = w
        self._block_e.clear()
        self._block_r.clear()
        if self._fade_pos:  # finish a running crossfade before the next commit
            self._fast_cur = self._fast_next
        self._fast_next = w.copy()
        self._fade_pos = 1

    def run(
        self, x: np.ndarray, disturbance: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feed reference samples (and optional ear disturbance, added to d); returns (d, e, y)."""
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
        e = np.empty_like(x)
        y = np.empty_like(x)
        for n in range(len(x)):
            self._x_hist[1:] = self._x_hist[:-1]
            self._x_hist[0] = x[n]
            self._u_delay[1:] = self._u_delay[:-1]
            self._u_delay[0] = self._fast_path()
            self._u_hist[1:] = self._u_hist[:-1]
            self._u_hist[0] = self._u_delay[0]
            y[n] = self._u_delay[-1]
            self._y_hist[1:] = self._y_hist[:-1]
            self._y_hist[0] = y[n]
            e[n] = d[n] + float(self.secondary @ self._y_hist)
            if self.modified:
                self._block_e.append(e[n] - float(self.sec_path @ self._u_hist))
            else:
                self._block_e.append(e[n])
            self._block_r.append(r[n])
            if len(self._block_e) == self.block:
                self._adapt_block()
        return d, e, y
