"""Adaptive FIR filters: Lms, Nlms (both leaky if asked) and Rls.

`y, e = f.process(x, d)` allocates the outputs; `f.process_into(x, d, y, e)` writes into
caller-provided arrays; `rt = f.bind(x, d, y, e)` checks and casts the four buffers once
and returns a callable whose every call is one C call over those buffers, allocating
nothing - the form for real-time block loops (refill x and d in place, call rt()).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dsp_c._anc_cffi import ffi, lib
from dsp_c._checks import (
    FloatArray,
    bound_block,
    check_status,
    float_ptr,
    new_state,
    positive_int,
    real,
    signal_in,
    signal_out,
)

DEFAULT_MAX_WEIGHT_NORM = 1e3


class _AdaptiveFir:
    """Shared flow: a C instance, its state buffer, process/bind, weights, resets."""

    _run: Any  # the C process function: (inst, x, d, y, e, n)
    _run_bound: Any  # the same over an anc_<algo>_bound_f32 struct
    _bound_type: str
    _inst: Any
    taps: int

    def process(self, x: FloatArray, d: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Filter x, adapt towards d; returns (y, e) with e = d - y."""
        signal_in("x", x)
        signal_in("d", d, x.size)
        y = np.empty_like(x)
        e = np.empty_like(x)
        self._run(self._inst, float_ptr(x), float_ptr(d), float_ptr(y), float_ptr(e), x.size)
        return y, e

    def process_into(self, x: FloatArray, d: FloatArray, y: FloatArray, e: FloatArray) -> None:
        """As process, writing into caller-provided y and e."""
        signal_in("x", x)
        signal_in("d", d, x.size)
        signal_out("y", y, x.size)
        signal_out("e", e, x.size)
        self._run(self._inst, float_ptr(x), float_ptr(d), float_ptr(y), float_ptr(e), x.size)

    def bind(self, x: FloatArray, d: FloatArray, y: FloatArray, e: FloatArray
             ) -> Callable[[], None]:
        """Bind four equal-length buffers once; the returned rt() processes them in place."""
        signal_in("x", x)
        signal_in("d", d, x.size)
        signal_out("y", y, x.size)
        signal_out("e", e, x.size)
        io = {"x": float_ptr(x), "d": float_ptr(d), "y": float_ptr(y), "e": float_ptr(e),
              "block_size": x.size}
        return bound_block(self, self._run_bound, self._bound_type, (x, d, y, e), s=self._inst,
                           io=io)

    @property
    def resets(self) -> int:
        """How often the divergence guard reset the filter."""
        return int(self._inst.resets)


class Lms(_AdaptiveFir):
    """LMS: w <- (1 - leak) w + mu e[n] x_n, e = d - y (see dsp_c/include/anc_lms.h)."""

    _normalized = 0

    def __init__(self, taps: int, mu: float, leak: float = 0.0,
                 max_weight_norm: float = DEFAULT_MAX_WEIGHT_NORM, eps: float = 0.0) -> None:
        self.taps = positive_int("taps", taps)
        self.mu = real("mu", mu, low=0.0, low_open=True)
        self.eps = real("eps", eps, low=0.0)
        self.leak = real("leak", leak, low=0.0, high=1.0, high_open=True)
        bound = real("max_weight_norm", max_weight_norm, low=0.0, low_open=True)
        self._inst = ffi.new("anc_lms_instance_f32 *")
        self._state, state_ptr = new_state(lib.anc_lms_state_len_f32(self.taps))
        check_status(lib.anc_lms_init_f32(self._inst, self.taps, self._normalized, self.mu,
                                          self.eps, self.leak, bound, state_ptr,
                                          self._state.size), type(self).__name__)
        self._run = lib.anc_lms_f32
        self._run_bound, self._bound_type = lib.anc_lms_run_bound_f32, "anc_lms_bound_f32"

    @property
    def weights(self) -> FloatArray:
        """Copy of the weights; w[k] multiplies x[n-k]."""
        out = np.empty(self.taps, dtype=np.float32)
        lib.anc_lms_weights_f32(self._inst, float_ptr(out))
        return out

    @weights.setter
    def weights(self, w: Any) -> None:
        arr = np.ascontiguousarray(w, dtype=np.float32)
        if arr.shape != (self.taps,) or not np.all(np.isfinite(arr)):
            raise ValueError(f"weights must be {self.taps} finite values")
        lib.anc_lms_set_weights_f32(self._inst, float_ptr(arr))

    def reset(self) -> None:
        """Zero the weights and the history (the reset counter is kept)."""
        lib.anc_lms_reset_f32(self._inst)


class Nlms(Lms):
    """NLMS: w <- (1 - leak) w + mu e[n] x_n / (eps + ||x_n||^2), e = d - y."""

    _normalized = 1

    def __init__(self, taps: int, mu: float = 0.5, eps: float = 1e-6, leak: float = 0.0,
                 max_weight_norm: float = DEFAULT_MAX_WEIGHT_NORM) -> None:
        super().__init__(taps=taps, mu=mu, leak=leak, max_weight_norm=max_weight_norm, eps=eps)


class Rls(_AdaptiveFir):
    """Exponentially weighted RLS, P kept exactly symmetric (see dsp_c/include/anc_rls.h)."""

    def __init__(self, taps: int, lam: float = 0.999, delta: float = 0.01,
                 max_weight_norm: float = DEFAULT_MAX_WEIGHT_NORM) -> None:
        self.taps = positive_int("taps", taps, limit=4096)
        self.lam = real("lam", lam, low=0.0, high=1.0, low_open=True)
        self.delta = real("delta", delta, low=0.0, low_open=True)
        bound = real("max_weight_norm", max_weight_norm, low=0.0, low_open=True)
        self._inst = ffi.new("anc_rls_instance_f32 *")
        self._state, state_ptr = new_state(lib.anc_rls_state_len_f32(self.taps))
        check_status(lib.anc_rls_init_f32(self._inst, self.taps, self.lam, self.delta, bound,
                                          state_ptr, self._state.size), "Rls")
        self._run = lib.anc_rls_f32
        self._run_bound, self._bound_type = lib.anc_rls_run_bound_f32, "anc_rls_bound_f32"

    @property
    def weights(self) -> FloatArray:
        """Copy of the weights; w[k] multiplies x[n-k]."""
        return np.array(ffi.unpack(self._inst.weights, self.taps), dtype=np.float32)

    @property
    def p_resets(self) -> int:
        """How often P was re-initialized after losing positive definiteness."""
        return int(self._inst.p_resets)

    def reset(self) -> None:
        lib.anc_rls_reset_f32(self._inst)
