"""The per-block DSP chain: fast path, limiter, adaptation, disturbance estimate.

For every block the backend fills `x` (reference mic) and, after the anti-noise `y` was
emitted, `e` (error mic). Then:

    output():  x guarded → u = W x (fast path, crossfading to each commit) → y = limit(u)
    adapt():   e guarded → d̂ = e − Ŝ ∗ y → controller adapts on (x, e, y) → commit W

Every buffer is allocated here once and every C call is bound once, so a block allocates
nothing. Reconfiguring (new controller, new tap count, loaded weights) happens between
blocks and may allocate; it keeps the anti-noise continuous (see `reconfigure`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from dsp_c._anc_cffi import lib

from dsp_c import FxLms
from dsp_c._checks import FloatArray, bound_call, float_ptr
from dsp_c.filters import Fir, Limiter
from edge_agent.audio.fastpath import (
    FastPath,
    bind_adapt,
    bind_weights,
    resized,
)

HISTORY = 2048  # reference samples kept for priming a resized fast path (>= max taps)
GUARD_LIMIT = 1e30  # a block whose energy is not below this holds NaN/Inf (or is absurd)


@dataclass(frozen=True)
class ControllerParams:
    algorithm: str
    taps: int
    mu: float
    leak: float


class DspChain:
    """One headset channel's anti-noise chain over blocks of `block` samples."""

    def __init__(self, block: int, params: ControllerParams, sec_path: FloatArray,
                 peak: float = 1.0) -> None:
        if HISTORY % block:
            raise ValueError(f"block: must divide {HISTORY}, got {block}")
        self.block = block
        self.sec_path = np.ascontiguousarray(sec_path, dtype=np.float32)
        z = lambda: np.zeros(block, dtype=np.float32)  # noqa: E731
        self.x, self.e, self.u, self.y, self.sy, self.dh = z(), z(), z(), z(), z(), z()
        self._history = np.zeros(HISTORY, dtype=np.float32)
        self._hviews = [self._history[i:i + block] for i in range(0, HISTORY, block)]
        self._hpos = 0
        self.limiter = Limiter(peak)
        self._lim_inst = self.limiter._inst
        self._shat = Fir(self.sec_path)
        self._run_lim = self._bind2(lib.anc_limiter_f32, self._lim_inst, self.u, self.y)
        self._run_shat = self._bind2(lib.anc_fir_f32, self._shat._inst, self.y, self.sy)
        self.adapting = True
        self.muted = False
        self.guarded = 0  # blocks whose input held NaN/Inf
        self.resets_before = 0  # divergence resets of replaced controllers
        self.params = params
        self._install(params, np.zeros(params.taps, dtype=np.float32), prime=False)

    def _bind2(self, fn: Any, inst: Any, a: FloatArray, b: FloatArray) -> Callable[[], None]:
        """rt() runs fn(inst, a, b, n): one C call over buffers bound once."""
        return bound_call(self, fn, inst, float_ptr(a), float_ptr(b), a.size, buffers=(a, b))

    # --- configuration (between blocks) -------------------------------------------------

    def _install(self, params: ControllerParams, w: FloatArray, prime: bool) -> None:
        ctrl = FxLms(taps=params.taps, sec_path=self.sec_path, mu=params.mu, leak=params.leak,
                     algorithm=params.algorithm)
        ctrl.restart_from(w)
        fast = FastPath(params.taps, self.block)
        if prime:  # continue the output: as if the new path had always run with w
            ordered = np.concatenate([self._history[self._hpos:], self._history[:self._hpos]])
            fast.prime(ordered, np.zeros(params.taps, np.float32) if self.muted else w)
        self.w = np.zeros(params.taps, dtype=np.float32)
        self.zero_w = np.zeros(params.taps, dtype=np.float32)
        previous: FxLms | None = getattr(self, "ctrl", None)
        if previous is not None:
            self.resets_before += previous.resets
        self.ctrl, self.fast, self.params = ctrl, fast, params
        self._run_fast = fast.bind(self.x, self.u)
        self._run_adapt = bind_adapt(ctrl, self.x, self.e, self.y)
        self._run_weights = bind_weights(ctrl, self.w)
        self._commit_w = fast.bind_commit(self.w)
        self._commit_zero = fast.bind_commit(self.zero_w)

    def weights(self) -> FloatArray:
        return self.ctrl.weights

    def reconfigure(self, algorithm: str | None = None, taps: int | None = None,
                    mu: float | None = None, leak: float | None = None) -> None:
        """New controller parameters; the current filter is kept (resized if taps change)."""
        p = self.params
        params = ControllerParams(algorithm if algorithm is not None else p.algorithm,
                                  taps if taps is not None else p.taps,
                                  mu if mu is not None else p.mu,
                                  leak if leak is not None else p.leak)
        w = resized(self.ctrl.weights, params.taps)
        self._install(params, w, prime=params.taps != self.params.taps)

    def load(self, weights: FloatArray) -> None:
        """Crossfade to weights computed elsewhere; the controller continues from them."""
        w = np.ascontiguousarray(weights, dtype=np.float32)
        if w.size != self.params.taps:
            self.reconfigure(taps=int(w.size))
        self.ctrl.restart_from(w)
        if not self.muted:
            self.w[:] = w
            self._commit_w()

    def set_muted(self, muted: bool) -> None:
        """Fade the anti-noise out (off, transparency) or back in; adaptation follows."""
        if muted == self.muted:
            return
        self.muted = muted
        self.adapting = not muted
        if muted:
            self._commit_zero()
        else:
            self._run_weights()
            self._commit_w()

    def set_peak(self, peak: float) -> None:
        self._lim_inst.peak = peak

    # --- per block ----------------------------------------------------------------------

    def _guard(self, a: FloatArray) -> None:
        if not a.dot(a) < GUARD_LIMIT:
            np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            np.clip(a, -1.0, 1.0, out=a)
            self.guarded += 1

    def output(self) -> None:
        """x → y: the anti-noise for this block."""
        self._guard(self.x)
        np.copyto(self._hviews[self._hpos // self.block], self.x)
        self._hpos = (self._hpos + self.block) % HISTORY
        self._run_fast()
        self._run_lim()

    def adapt(self) -> None:
        """After the backend filled e: estimate d̂, adapt and commit the new W."""
        self._guard(self.e)
        self._run_shat()
        np.subtract(self.e, self.sy, out=self.dh)
        if self.adapting:
            self._run_adapt()
            self._run_weights()
            self._commit_w()

    @property
    def resets(self) -> int:
        return self.resets_before + self.ctrl.resets

    @property
    def blocked(self) -> int:
        return int(self._lim_inst.blocked)
