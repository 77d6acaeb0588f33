"""Fixed filters and the safety limiter: Fir, BiquadCascade, Limiter."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from dsp_c._anc_cffi import ffi, lib
from dsp_c._checks import (
    DspValueError,
    FloatArray,
    check_status,
    coefficients,
    float_ptr,
    new_state,
    real,
    signal_in,
    signal_out,
)


class _SampleFilter:
    """One input, one output of the same length: `process` allocates the output,
    `process_into` writes into the caller's. Subclasses set `_kernel` (the C process
    function) and `_reset` and fill `_inst`."""

    _kernel: ClassVar[Any]
    _reset: ClassVar[Any]
    _inst: Any

    def process(self, x: FloatArray) -> FloatArray:
        signal_in("x", x)
        y = np.empty_like(x)
        self._kernel(self._inst, float_ptr(x), float_ptr(y), x.size)
        return y

    def process_into(self, x: FloatArray, y: FloatArray) -> None:
        signal_in("x", x)
        signal_out("y", y, x.size)
        self._kernel(self._inst, float_ptr(x), float_ptr(y), x.size)

    def reset(self) -> None:
        self._reset(self._inst)


class Fir(_SampleFilter):
    """FIR filter, y[n] = sum_k h[k] x[n-k] (scipy.signal.lfilter(h, [1], x) order)."""

    _kernel = lib.anc_fir_f32
    _reset = lib.anc_fir_reset_f32

    def __init__(self, coeffs: Any) -> None:
        self._coeffs = coefficients("coeffs", coeffs)
        taps = self._coeffs.size
        self._inst = ffi.new("anc_fir_instance_f32 *")
        self._state, state_ptr = new_state(lib.anc_fir_state_len_f32(taps))
        check_status(lib.anc_fir_init_f32(self._inst, taps, float_ptr(self._coeffs), state_ptr,
                                          self._state.size), "Fir")


class BiquadCascade(_SampleFilter):
    """Second-order sections in transposed direct form II.

    `sos` has scipy's layout: one row [b0 b1 b2 a0 a1 a2] per section (rows are
    normalized by a0), so `BiquadCascade(sos).process(x)` matches scipy.signal.sosfilt.
    """

    _kernel = lib.anc_biquad_f32
    _reset = lib.anc_biquad_reset_f32

    def __init__(self, sos: Any) -> None:
        rows = coefficients("sos", sos, shape_hint="any")
        if rows.ndim != 2 or rows.shape[1] != 6:
            raise DspValueError(f"sos must have shape (sections, 6), got {rows.shape}")
        if np.any(rows[:, 3] == 0):
            raise DspValueError("sos has a section with a0 == 0")
        self._sos = np.ascontiguousarray(rows).reshape(-1)
        self.sections = rows.shape[0]
        self._inst = ffi.new("anc_biquad_instance_f32 *")
        self._state, state_ptr = new_state(lib.anc_biquad_state_len_f32(self.sections))
        check_status(lib.anc_biquad_init_f32(self._inst, self.sections, float_ptr(self._sos),
                                             state_ptr, self._state.size), "BiquadCascade")


class Limiter(_SampleFilter):
    """Safety limiter: |y| <= peak always; instant attack, smooth exponential release."""

    _kernel = lib.anc_limiter_f32
    _reset = lib.anc_limiter_reset_f32

    def __init__(self, peak: float, release_samples: float = 480.0) -> None:
        self.peak = real("peak", peak, low=0.0, low_open=True)
        release = real("release_samples", release_samples, low=1.0)
        self._inst = ffi.new("anc_limiter_instance_f32 *")
        check_status(lib.anc_limiter_init_f32(self._inst, self.peak, release), "Limiter")

    @property
    def gain(self) -> float:
        """Gain applied to the last sample."""
        return float(self._inst.gain)

    @property
    def blocked(self) -> int:
        """Non-finite input samples replaced by zero."""
        return int(self._inst.blocked)
