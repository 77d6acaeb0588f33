"""Feedforward ANC: the FxLms controller and the ClosedLoop headset simulator.

Sign convention (dsp_c/include/anc_fxlms.h): the anti-noise is added at the ear,
e = d + S * y, and the controller minimizes e, W <- (1 - leak) W - mu e r.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dsp_c._anc_cffi import ffi, lib
from dsp_c._checks import (
    DspValueError,
    FloatArray,
    bound_block,
    check_status,
    coefficients,
    float_ptr,
    new_state,
    non_negative_int,
    positive_int,
    real,
    signal_in,
    signal_out,
)

ALGORITHMS = {"fxlms": lib.ANC_FX_LMS, "fxnlms": lib.ANC_FX_NLMS, "hybrid": lib.ANC_FX_HYBRID}


def measured_secondary_path(secondary: Any, latency: int) -> FloatArray:
    """The secondary path as a device measures it from its own output: delay(D) * S."""
    s = coefficients("secondary", secondary)
    d = non_negative_int("latency", latency)
    return np.concatenate([np.zeros(d, dtype=np.float32), s])


class FxLms:
    """FxLMS / FxNLMS controller, or a hybrid that starts with least-squares solves.

    `sec_path` is the secondary-path estimate S_hat (it should include every delay
    between producing y and measuring e). `algorithm` is "fxlms", "fxnlms" or "hybrid";
    when omitted, `normalized` picks FxNLMS (True) or FxLMS (False). The hybrid runs
    FxNLMS; with `lsq_samples` > 0 it solves the least-squares problem of its first
    `lsq_samples` samples on all taps (ridge `lsq_ridge` relative to the mean eigenvalue)
    and continues from that solution, `lsq_rounds` times on windows doubling in length;
    with `hybrid_samples` > 0 it first adapts its first `hybrid_taps` weights by RLS for
    that many samples (dsp_c/include/anc_fxlms.h).
    `max_ear_gain_db` sets the ear-level divergence guard of `adapt` (None: off).
    """

    def __init__(self, taps: int, sec_path: Any, mu: float = 0.1, normalized: bool = True,
                 leak: float = 0.0, algorithm: str | None = None, eps: float = 1e-6,
                 max_weight_norm: float = 1e3, hybrid_taps: int = 64,
                 hybrid_samples: int = 0, lam: float = 0.999, delta: float = 0.01,
                 lsq_samples: int = 12000, lsq_rounds: int = 4, lsq_ridge: float = 1e-8,
                 max_ear_gain_db: float | None = 10.0) -> None:
        self.taps = positive_int("taps", taps, limit=2**20)
        self.sec_path = coefficients("sec_path", sec_path)
        if algorithm is None:
            algorithm = "fxnlms" if normalized else "fxlms"
        if algorithm not in ALGORITHMS:
            raise DspValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}")
        self.algorithm = algorithm
        cfg = ffi.new("anc_fxlms_config_f32 *")
        lib.anc_fxlms_default_config_f32(cfg)
        cfg.algorithm = ALGORITHMS[algorithm]
        cfg.mu = self.mu = real("mu", mu, low=0.0, low_open=True)
        cfg.eps = real("eps", eps, low=0.0)
        cfg.leak = self.leak = real("leak", leak, low=0.0, high=1.0, high_open=True)
        cfg.max_weight_norm = real("max_weight_norm", max_weight_norm, low=0.0, low_open=True)
        # ear-level guard (anc_fxlms.h): adapt() with `emitted` resets the controller when
        # it makes the ear more than this louder than no ANC; None disables it
        cfg.max_ear_gain = (0.0 if max_ear_gain_db is None else
                            10.0 ** (real("max_ear_gain_db", max_ear_gain_db, low=0.0) / 20.0))
        hybrid_taps_used = 0
        if algorithm == "hybrid":
            hybrid_taps_used = positive_int("hybrid_taps", min(hybrid_taps, self.taps)
                                            if isinstance(hybrid_taps, int) else hybrid_taps,
                                            limit=min(self.taps, 4096))
            cfg.hybrid_taps = hybrid_taps_used
            cfg.hybrid_samples = non_negative_int("hybrid_samples", hybrid_samples, limit=2**31)
            cfg.lam = real("lam", lam, low=0.0, high=1.0, low_open=True)
            cfg.delta = real("delta", delta, low=0.0, low_open=True)
            # the factor holds taps^2 doubles
            cfg.lsq_samples = non_negative_int("lsq_samples", lsq_samples, limit=2**31)
            if cfg.lsq_samples and self.taps > 4096:
                raise DspValueError(f"lsq_samples needs taps <= 4096 (the least-squares "
                                    f"factor holds taps^2 doubles), got taps={self.taps}")
            cfg.lsq_rounds = positive_int("lsq_rounds", lsq_rounds, limit=32)
            cfg.lsq_ridge = real("lsq_ridge", lsq_ridge, low=0.0)
        else:
            cfg.lsq_samples = 0
        self._cfg = cfg
        self._inst = ffi.new("anc_fxlms_instance_f32 *")
        self._state, state_ptr = new_state(
            lib.anc_fxlms_state_len_f32(self.taps, self.sec_path.size, cfg))
        check_status(lib.anc_fxlms_init_f32(self._inst, self.taps, float_ptr(self.sec_path),
                                            self.sec_path.size, cfg, state_ptr,
                                            self._state.size), "FxLms")

    def process(self, ref: FloatArray, err: FloatArray) -> FloatArray:
        """Anti-noise for each reference sample; adapts with err[n] after producing y[n]."""
        signal_in("ref", ref)
        signal_in("err", err, ref.size)
        y = np.empty_like(ref)
        lib.anc_fxlms_f32(self._inst, float_ptr(ref), float_ptr(err), float_ptr(y), ref.size)
        return y

    def process_into(self, ref: FloatArray, err: FloatArray, y: FloatArray) -> None:
        signal_in("ref", ref)
        signal_in("err", err, ref.size)
        signal_out("y", y, ref.size)
        lib.anc_fxlms_f32(self._inst, float_ptr(ref), float_ptr(err), float_ptr(y), ref.size)

    def bind(self, ref: FloatArray, err: FloatArray, y: FloatArray) -> Callable[[], None]:
        """Bind the buffers once; the returned rt() is one C call, allocating nothing."""
        signal_in("ref", ref)
        signal_in("err", err, ref.size)
        signal_out("y", y, ref.size)
        return bound_block(self, lib.anc_fxlms_run_bound_f32, "anc_fxlms_bound_f32",
                           (ref, err, y), s=self._inst, ref=float_ptr(ref), err=float_ptr(err),
                           y=float_ptr(y), block_size=ref.size)

    def adapt(self, ref: FloatArray, err: FloatArray, emitted: FloatArray | None = None) -> None:
        """Adapt on a block already played (the anti-noise actually emitted, if known)."""
        signal_in("ref", ref)
        signal_in("err", err, ref.size)
        pem = ffi.NULL
        if emitted is not None:
            pem = float_ptr(signal_in("emitted", emitted, ref.size))
        lib.anc_fxlms_adapt_f32(self._inst, float_ptr(ref), float_ptr(err), pem, ref.size)

    @property
    def weights(self) -> FloatArray:
        """Copy of W; W[k] multiplies x[n-k]."""
        out = np.empty(self.taps, dtype=np.float32)
        lib.anc_fxlms_weights_f32(self._inst, float_ptr(out))
        return out

    @property
    def resets(self) -> int:
        """How often the divergence guard reset the controller."""
        return int(self._inst.resets)

    @property
    def samples(self) -> int:
        """Samples adapted since construction or the last reset."""
        return int(self._inst.samples)

    @property
    def lsq_solves(self) -> int:
        """Least-squares solutions the hybrid has committed to W since construction."""
        return int(self._inst.lsq.solves)

    @property
    def lsq_failures(self) -> int:
        """Least-squares solves abandoned since construction (the summed problem was not
        positive definite to working precision; W stayed as FxNLMS had it)."""
        return int(self._inst.lsq.failures)

    @property
    def lsq_reverts(self) -> int:
        """Least-squares solutions undone after their trial (the ear got louder relative to
        the reference than before them, as with a poor S_hat)."""
        return int(self._inst.lsq.reverts)

    def reset(self) -> None:
        lib.anc_fxlms_reset_f32(self._inst)

    def restart_from(self, weights: Any) -> None:
        """Reset the histories and continue from `weights` (taps finite values). A hybrid's
        least-squares start runs only if they are all zero: it is for starting from zero."""
        w = np.ascontiguousarray(weights, dtype=np.float32)
        if w.shape != (self.taps,) or not np.all(np.isfinite(w)):
            raise DspValueError(f"weights must be {self.taps} finite values, got shape "
                                f"{w.shape}")
        lib.anc_fxlms_reset_f32(self._inst)
        lib.anc_fxlms_set_weights_f32(self._inst, float_ptr(w))


class ClosedLoop:
    """Closed-loop headset simulator (dsp_c/include/anc_plant.h).

    d = P * x (+ disturbance), u = fast-path W * x, y[n] = u[n - latency],
    e = d + S * y. Every `block` samples the controller adapts on the block and its weights
    are committed to the fast path with a crossfade over the next block. `controller`'s
    sec_path is the caller's S_hat; without a controller, an FxNLMS one (`taps`, `mu`) is
    made with S_hat = measured_secondary_path(secondary, latency). State is kept between
    run() calls, so a long signal can be fed in chunks.
    """

    def __init__(self, primary: Any, secondary: Any, latency: int = 0,
                 controller: FxLms | None = None, block: int = 32, taps: int = 256,
                 mu: float = 0.1) -> None:
        self.primary = coefficients("primary", primary)
        self.secondary = coefficients("secondary", secondary)
        self.latency = non_negative_int("latency", latency)
        self.block = positive_int("block", block, limit=2**20)
        if controller is None:
            controller = FxLms(taps=taps, mu=mu,
                               sec_path=measured_secondary_path(self.secondary, self.latency))
        if not isinstance(controller, FxLms):
            raise DspValueError(f"controller must be an FxLms, got {type(controller).__name__}")
        self.controller = controller
        self._inst = ffi.new("anc_plant_instance_f32 *")
        self._state, state_ptr = new_state(lib.anc_plant_state_len_f32(
            self.primary.size, self.secondary.size, controller.taps, self.latency, self.block))
        check_status(lib.anc_plant_init_f32(
            self._inst, float_ptr(self.primary), self.primary.size, float_ptr(self.secondary),
            self.secondary.size, self.latency, self.block, controller._inst, state_ptr,
            self._state.size), "ClosedLoop")

    def run(self, x: FloatArray, disturbance: FloatArray | None = None
            ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Feed reference samples; returns (d, e, y): ear noise without ANC, with ANC, and
        the anti-noise at the driver."""
        signal_in("x", x)
        pv = ffi.NULL
        if disturbance is not None:
            pv = float_ptr(signal_in("disturbance", disturbance, x.size))
        d = np.empty_like(x)
        e = np.empty_like(x)
        y = np.empty_like(x)
        lib.anc_plant_run_f32(self._inst, float_ptr(x), pv, float_ptr(d), float_ptr(e),
                              float_ptr(y), x.size)
        return d, e, y

    @property
    def samples(self) -> int:
        return int(self._inst.samples)

    @property
    def commits(self) -> int:
        """Weight commits to the fast path so far."""
        return int(self._inst.fast.commits)

    def reset(self) -> None:
        """Reset the plant and fast path (the controller keeps its own state)."""
        lib.anc_plant_reset_f32(self._inst)
