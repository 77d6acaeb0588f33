"""Argument checks and the exception family of the binding (python-soundfile style).

Every signal array is checked once - dtype, shape, C-contiguity, length - before the
zero-copy cast to a C pointer. C status codes become exceptions only here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp_c._anc_cffi import ffi, lib

FloatArray = npt.NDArray[np.float32]


class DspError(Exception):
    """Base class of every error raised by the dsp_c binding."""


class DspValueError(DspError, ValueError):
    """A bad argument; the message names it."""


def check_status(status: int, what: str) -> None:
    """Turn a C anc_status into an exception naming the call."""
    if status != 0:
        text = ffi.string(lib.anc_strerror(status)).decode()
        raise DspValueError(f"{what}: {text} (status {status})")


def signal_in(name: str, a: Any, length: int | None = None) -> FloatArray:
    """A read-only signal: 1-D, float32, C-contiguous, optionally of a given length."""
    if not isinstance(a, np.ndarray):
        raise DspValueError(f"{name} must be a numpy.ndarray of float32, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise DspValueError(f"{name} must have dtype float32, got {a.dtype}")
    if a.ndim != 1:
        raise DspValueError(f"{name} must be 1-D, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise DspValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if length is not None and a.shape[0] != length:
        raise DspValueError(f"{name} has length {a.shape[0]}, expected {length}")
    if a.shape[0] >= 2**32:
        raise DspValueError(f"{name} is too long for one call ({a.shape[0]} samples)")
    return a


def signal_out(name: str, a: Any, length: int) -> FloatArray:
    """A caller-provided output buffer: as signal_in, and writeable."""
    signal_in(name, a, length)
    if not a.flags.writeable:
        raise DspValueError(f"{name} must be writeable")
    return a


def coefficients(name: str, values: Any, shape_hint: str = "1-D") -> FloatArray:
    """Filter coefficients: any real array-like, copied to float32; finite and non-empty."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DspValueError(f"{name} must be an array of real numbers ({exc})") from None
    if arr.size == 0:
        raise DspValueError(f"{name} must not be empty")
    if shape_hint == "1-D" and arr.ndim != 1:
        raise DspValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DspValueError(f"{name} contains NaN or Inf")
    return np.ascontiguousarray(arr, dtype=np.float32)


def positive_int(name: str, value: Any, limit: int = 2**24) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DspValueError(f"{name} must be an integer, got {value!r}")
    if not 0 < int(value) <= limit:
        raise DspValueError(f"{name} must be in 1..{limit}, got {value}")
    return int(value)


def non_negative_int(name: str, value: Any, limit: int = 2**20) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DspValueError(f"{name} must be an integer, got {value!r}")
    if not 0 <= int(value) <= limit:
        raise DspValueError(f"{name} must be in 0..{limit}, got {value}")
    return int(value)


def real(name: str, value: Any, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number within [low, high] (open ends where asked)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DspValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise DspValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise DspValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise DspValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return v


def float_ptr(a: FloatArray) -> Any:
    """Zero-copy `float *` into a checked array (keep the array alive while it is used)."""
    return ffi.from_buffer("float[]", a)


def new_state(length: int) -> tuple[FloatArray, Any]:
    """A zeroed float32 state buffer and its pointer."""
    buf = np.zeros(length, dtype=np.float32)
    return buf, float_ptr(buf)


def bound_call(owner: object, func: Any, *args: Any, buffers: tuple[FloatArray, ...]
               ) -> Callable[[], None]:
    """`func(*args)` as a zero-argument callable for real-time loops.

    A functools.partial over the CFFI function: calling it runs no Python frame of its own,
    only the C call. It keeps `owner` (whose state buffer the C instance points into) and
    the bound arrays alive for as long as it exists.
    """
    call = functools.partial(func, *args)
    call.__dict__.update(owner=owner, buffers=buffers)
    return call


def bound_block(owner: object, run: Any, ctype: str, buffers: tuple[FloatArray, ...],
                **fields: Any) -> Callable[[], None]:
    """`run(b)` as a zero-argument callable, b a new `ctype` struct holding `fields` (the
    instance, the buffers' pointers, the block size; see anc_blocks.h).

    The same call as bound_call(owner, anc_<algo>_f32, ...), but CFFI converts one pointer
    per call instead of six arguments: about half the cost of crossing into C.
    """
    block = ffi.new(f"{ctype} *", fields)
    return bound_call(owner, run, block, buffers=buffers)
