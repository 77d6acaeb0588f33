"""Lifetimes of the fast path's bound calls: they must keep the C state they use alive."""

from __future__ import annotations

import gc
import weakref

import numpy as np

from dsp_c import FxLms
from edge_agent.audio.fastpath import FastPath, bind_adapt, bind_weights

BLOCK = 32
TAPS = 64


def test_bound_calls_keep_their_owners_alive() -> None:
    """Dropping the FastPath or the controller must not free the state the calls point into."""
    rng = np.random.default_rng(5)
    x, y, err, emitted = (np.zeros(BLOCK, np.float32) for _ in range(4))
    w = np.zeros(TAPS, np.float32)
    fast = FastPath(TAPS, fade_len=BLOCK)
    ctrl = FxLms(taps=TAPS, sec_path=[0.0, 1.0], mu=0.02)
    refs = [weakref.ref(fast), weakref.ref(ctrl)]
    rts = [fast.bind(x, y), fast.bind_commit(w), bind_adapt(ctrl, x, err, emitted),
           bind_weights(ctrl, w)]
    del fast, ctrl
    gc.collect()
    assert all(r() is not None for r in refs)
    for _ in range(50):
        x[:] = rng.standard_normal(BLOCK)
        err[:] = rng.standard_normal(BLOCK)
        for call in rts:
            call()
    assert np.all(np.isfinite(y)) and np.any(w != 0.0)
    del rts, call
    gc.collect()
    assert all(r() is None for r in refs)
