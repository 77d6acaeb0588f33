"""The bound real-time path: one C call per block and no allocation in steady state."""

from __future__ import annotations

import tracemalloc

import numpy as np

from dsp_c import FxLms, Nlms

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
