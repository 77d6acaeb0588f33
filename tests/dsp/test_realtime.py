"""The bound real-time path: one C call per block and no allocation in steady state."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Callable

import numpy as np
import pytest
from dsp_c._anc_cffi import ffi, lib

from dsp_c import FxLms, Lms, Nlms, Rls

BLOCK = 32
BLOCKS = 10_000


def test_bound_nlms_allocates_nothing_per_block() -> None:
    rng = np.random.default_rng(70)
    source = rng.standard_normal(BLOCK * 64).astype(np.float32)
    x = np.zeros(BLOCK, np.float32)
    d = np.zeros(BLOCK, np.float32)
    y = np.zeros(BLOCK, np.float32)
    e = np.zeros(BLOCK, np.float32)
    f = Nlms(taps=256, mu=0.5)
    rt = f.bind(x, d, y, e)
    for _ in range(100):  # warm-up: caches, lazily created objects
        rt()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(BLOCKS):
            k = (i % 63) * BLOCK
            x[:] = source[k:k + BLOCK]          # in-place refill, as an audio callback does
            d[:] = source[k + 1:k + 1 + BLOCK]
            rt()
        after = tracemalloc.take_snapshot()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    only_dsp = [tracemalloc.Filter(True, "*dsp_c*")]
    grown = after.filter_traces(only_dsp).compare_to(before.filter_traces(only_dsp), "lineno")
    assert sum(s.size_diff for s in grown) == 0, [str(s) for s in grown[:3]]
    assert sum(s.count_diff for s in grown) == 0
    # the loop's own integers aside, nothing grew with the number of blocks
    total = sum(s.size_diff for s in after.compare_to(before, "lineno"))
    assert total < 1024, total
    assert np.all(np.isfinite(y)) and np.any(y != 0)


def test_bound_path_equals_process() -> None:
    rng = np.random.default_rng(71)
    sig = rng.standard_normal(BLOCK * 20).astype(np.float32)
    ref = rng.standard_normal(BLOCK * 20).astype(np.float32)
    a, b = FxLms(taps=16, sec_path=[0.0, 0.5, 0.2]), FxLms(taps=16, sec_path=[0.0, 0.5, 0.2])
    xb, eb, yb = (np.zeros(BLOCK, np.float32) for _ in range(3))
    rt = b.bind(xb, eb, yb)
    for i in range(20):
        s = slice(i * BLOCK, (i + 1) * BLOCK)
        ya = a.process(ref[s].copy(), sig[s].copy())
        xb[:] = ref[s]
        eb[:] = sig[s]
        rt()
        np.testing.assert_array_equal(yb, ya)


@pytest.mark.parametrize("make", [lambda: Lms(taps=24, mu=0.01), lambda: Nlms(taps=24),
                                  lambda: Rls(taps=12)], ids=["lms", "nlms", "rls"])
def test_bound_adaptive_fir_equals_process(make: Callable[[], Lms | Rls]) -> None:
    """The bound struct carries the right instance, buffers and block size for each kernel."""
    rng = np.random.default_rng(74)
    x = rng.standard_normal(BLOCK * 12).astype(np.float32)
    d = np.convolve(x, rng.standard_normal(8), "full")[:x.size].astype(np.float32)
    a, b = make(), make()
    xb, db, yb, eb = (np.zeros(BLOCK, np.float32) for _ in range(4))
    rt = b.bind(xb, db, yb, eb)
    for k in range(0, x.size, BLOCK):
        ya, ea = a.process(x[k:k + BLOCK], d[k:k + BLOCK])
        xb[:], db[:] = x[k:k + BLOCK], d[k:k + BLOCK]
        rt()
        np.testing.assert_array_equal(yb, ya)
        np.testing.assert_array_equal(eb, ea)
    np.testing.assert_array_equal(b.weights, a.weights)
    assert np.any(a.weights != 0)


def test_bound_callable_keeps_its_filter_alive() -> None:
    """rt() works on the filter's C state, so dropping the filter must not free it."""
    buffers = [np.zeros(BLOCK, np.float32) for _ in range(4)]
    nlms = Nlms(taps=64)
    fxlms = FxLms(taps=64, sec_path=[0.0, 1.0])
    refs = [weakref.ref(nlms), weakref.ref(fxlms)]
    rts = [nlms.bind(*buffers), fxlms.bind(*buffers[:3])]
    del nlms, fxlms
    gc.collect()
    assert all(r() is not None for r in refs)
    for call in rts:
        call()
    del rts, call
    gc.collect()
    assert all(r() is None for r in refs)


def test_c_block_loop_equals_per_block_calls() -> None:
    """anc_lms_blocks_f32 / anc_fxlms_blocks_f32 are exactly the caller's block loop."""
    rng = np.random.default_rng(72)
    n, block = 1000, 32  # the last block is short
    x = rng.standard_normal(n).astype(np.float32)
    d = rng.standard_normal(n).astype(np.float32)
    a, b = Nlms(taps=48, mu=0.3), Nlms(taps=48, mu=0.3)
    y, e = np.empty_like(x), np.empty_like(x)
    status = lib.anc_lms_blocks_f32(a._inst, ffi.from_buffer("float[]", x),
                                    ffi.from_buffer("float[]", d), ffi.from_buffer("float[]", y),
                                    ffi.from_buffer("float[]", e), n, block)
    assert status == 0
    parts = [b.process(x[k:k + block], d[k:k + block]) for k in range(0, n, block)]
    np.testing.assert_array_equal(y, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(e, np.concatenate([p[1] for p in parts]))

    c, c2 = FxLms(taps=32, sec_path=[0.0, 0.5, 0.2]), FxLms(taps=32, sec_path=[0.0, 0.5, 0.2])
    yc = np.empty_like(x)
    assert lib.anc_fxlms_blocks_f32(c._inst, ffi.from_buffer("float[]", x),
                                    ffi.from_buffer("float[]", d),
                                    ffi.from_buffer("float[]", yc), n, block) == 0
    expected = np.concatenate([c2.process(x[k:k + block], d[k:k + block])
                               for k in range(0, n, block)])
    np.testing.assert_array_equal(yc, expected)
    assert lib.anc_lms_blocks_f32(a._inst, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL, 0, 0) \
        == lib.ANC_ERR_TAPS


def _traced(call: Callable[[], None], blocks: int) -> tuple[int, int]:
    """(bytes still allocated, peak bytes) traced over `blocks` calls, relative to start."""
    calls = [call] * blocks
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for c in calls:
            c()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - base, peak - base


def test_rt_call_allocates_nothing_even_transiently() -> None:
    """An allocation inside rt(), even one freed at once, would raise the traced peak above
    that of the same loop over a call that allocates nothing (int() returns a cached 0)."""
    buffers = [np.random.default_rng(73).standard_normal(BLOCK).astype(np.float32)
               for _ in range(4)]
    _, loop_peak = _traced(int, BLOCKS)
    for rt in (Nlms(taps=256).bind(*buffers),
               FxLms(taps=256, sec_path=np.full(64, 1 / 64, np.float32), mu=1e-4
                     ).bind(*buffers[:3])):
        for _ in range(100):
            rt()
        net, peak = _traced(rt, BLOCKS)
        assert net == 0
        assert peak == loop_peak, (peak, loop_peak)
    # the measurement does see a call that allocates and frees an array per block
    nlms = Nlms(taps=8)
    _, peak = _traced(lambda: nlms.process(buffers[0], buffers[1]), 100)
    assert peak > loop_peak + 2 * BLOCK * 4
