"""Bindings the block loop needs beyond dsp_c's classes: the fast path, and moving
weights between an FxLms controller and it, with every buffer bound once.

Each bound call is `dsp_c._checks.bound_call`: a functools.partial over the CFFI function
that runs the C call and no Python frame of its own, and keeps the bound arrays and the
owner of the C state (the FastPath or the FxLms controller) alive for as long as it exists.

The fast path (dsp_c/include/anc_fastpath.h) applies W sample by sample and crossfades
to newly committed weights over `fade_len` samples, so a commit never clicks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from dsp_c._anc_cffi import ffi, lib

from dsp_c import FxLms
from dsp_c._checks import (
    FloatArray,
    bound_call,
    check_status,
    float_ptr,
    new_state,
    signal_out,
)


class FastPath:
    """y[n] = W x_n with glitch-free commits of new W (crossfade over `fade_len`)."""

    def __init__(self, taps: int, fade_len: int) -> None:
        self.taps = taps
        self._inst = ffi.new("anc_fastpath_instance_f32 *")
        self._state, ptr = new_state(lib.anc_fastpath_state_len_f32(taps))
        check_status(lib.anc_fastpath_init_f32(self._inst, taps, fade_len, ptr,
                                               self._state.size), "FastPath")

    def bind(self, x: FloatArray, y: FloatArray) -> Callable[[], None]:
        """rt() filters x into y: one C call, nothing allocated."""
        signal_out("y", y, x.size)
        return bound_call(self, lib.anc_fastpath_f32, self._inst, float_ptr(x), float_ptr(y),
                          x.size, buffers=(x, y))

    def bind_commit(self, w: FloatArray) -> Callable[[], None]:
        """rt() commits the current content of w (length taps)."""
        signal_out("w", w, self.taps)
        return bound_call(self, lib.anc_fastpath_commit_f32, self._inst, float_ptr(w),
                          buffers=(w,))

    def prime(self, history: FloatArray, w: FloatArray) -> None:
        """Start from weights w, as if it had been running over `history` (oldest first)."""
        lib.anc_fastpath_commit_f32(self._inst, float_ptr(np.ascontiguousarray(w)))
        out = np.empty_like(history)
        lib.anc_fastpath_f32(self._inst, float_ptr(history), float_ptr(out), history.size)

    @property
    def commits(self) -> int:
        return int(self._inst.commits)


def bind_adapt(ctrl: FxLms, ref: FloatArray, err: FloatArray, emitted: FloatArray
               ) -> Callable[[], None]:
    """rt() adapts the controller on a block already played (dsp_c FxLms.adapt, bound)."""
    n = ref.size
    for name, a in (("ref", ref), ("err", err), ("emitted", emitted)):
        signal_out(name, a, n)
    return bound_call(ctrl, lib.anc_fxlms_adapt_f32, ctrl._inst, float_ptr(ref),
                      float_ptr(err), float_ptr(emitted), n, buffers=(ref, err, emitted))


def bind_weights(ctrl: FxLms, out: FloatArray) -> Callable[[], None]:
    """rt() copies the controller's current W into out."""
    signal_out("out", out, ctrl.taps)
    return bound_call(ctrl, lib.anc_fxlms_weights_f32, ctrl._inst, float_ptr(out), buffers=(out,))


def resized(w: FloatArray, taps: int) -> FloatArray:
    """w truncated or zero-padded to `taps` coefficients."""
    out = np.zeros(taps, dtype=np.float32)
    n = min(taps, w.size)
    out[:n] = w[:n]
    return out
