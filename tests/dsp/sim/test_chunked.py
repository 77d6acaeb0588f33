"""Chunked runs: the stream of scene draws, noise carried across chunks, and agreement with
run_scene where both can run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import signal

from dsp_c import ClosedLoop, FxLms
from dsp_c.sim import (
    attenuation_db,
    end_to_end_secondary,
    make_plant,
    run_scene,
    scene,
    wiener_bound,
)
from dsp_c.sim.chunked import _EarNoise, run_chunked, scene_chunks
from dsp_c.sim.run import MIC_NOISE_SEED_OFFSET, reference_mic_noise
from dsp_c.sim.scenes import LEVEL_RMS

FS = 48_000


def test_scene_chunks_join_draws_without_a_step_and_keep_the_level() -> None:
    chunks = list(itertools.islice(scene_chunks("engine", FS, seed=3, chunk_seconds=1.0), 4))
    assert [len(c) for c in chunks] == [FS] * 4
    stream = np.concatenate(chunks)
    steps = np.abs(np.diff(stream))
    joins = [steps[k * FS - 1] for k in range(1, 4)]
    assert max(joins) <= np.percentile(steps, 99.9)  # a join is an ordinary step
    assert np.sqrt(np.mean(stream**2)) == pytest.approx(LEVEL_RMS, rel=0.05)
    again = next(scene_chunks("engine", FS, seed=3, chunk_seconds=1.0))
    np.testing.assert_array_equal(again, chunks[0])


def test_without_a_fade_the_draws_simply_follow_each_other() -> None:
    a, b = itertools.islice(scene_chunks("pink", FS, 5, chunk_seconds=0.5, fade_seconds=0), 2)
    np.testing.assert_array_equal(a.astype(np.float32), scene("pink", 0.5, FS, 5))
    np.testing.assert_array_equal(b.astype(np.float32), scene("pink", 0.5, FS, 6))


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"chunk_seconds": 0.0}, "chunk_seconds"),
    ({"chunk_seconds": float("nan")}, "chunk_seconds"),
    ({"chunk_seconds": 1.0, "fade_seconds": 1.0}, "fade_seconds"),
    ({"fade_seconds": -0.1}, "fade_seconds"),
])
def test_bad_chunking_is_named(kwargs: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        next(scene_chunks("white", FS, 0, **kwargs))


def test_one_chunk_is_run_scene_exactly() -> None:
    """With one chunk and no fade the signals, noises and loop are run_scene's."""
    kw = {"mu": 0.01, "block": 8, "ear_noise_db": -40.0, "ref_noise_db": -60.0}
    c = run_chunked("engine", 8, 3.0, chunk_seconds=3.0, fade_seconds=0.0, **kw)
    r = run_scene("engine", 8, seconds=3.0, **kw)
    assert c.chunk_att_db[0] == pytest.approx(attenuation_db(r.d, r.e), abs=1e-9)
    assert c.attenuation_db == pytest.approx(c.chunk_att_db[0], abs=1e-9)
    # the bound from the summed normal equations alone is the bound from the signals
    x = scene("engine", 3.0, FS, 0)
    x = (x + reference_mic_noise(x, -60.0, 0)).astype(np.float32)
    e2e = end_to_end_secondary(make_plant(0).secondary, 8)
    bound = wiener_bound(x, r.d, e2e, 256, slice(0, len(x)))
    assert c.bound_db == pytest.approx(bound.attenuation_db, abs=1e-6)


def test_the_controller_continues_across_chunks() -> None:
    c = run_chunked("engine", 8, 6.0, mu=0.01, block=8, chunk_seconds=2.0)
    assert list(c.chunk_end_s) == [2.0, 4.0, 6.0]
    assert c.chunk_att_db[2] > c.chunk_att_db[0] + 6  # a restart would start over
    assert c.resets == 0
    assert c.steady_seconds == 6.0  # the default (the last 10 min) is the whole of this run
    assert np.isfinite(c.bound_db) and c.bound_db > c.attenuation_db - 0.5


def test_microphone_noise_continues_across_chunks() -> None:
    plant = make_plant(0)
    noise = _EarNoise(plant, seed=2, ear_noise_db=None, ref_noise_db=-30.0)
    x1, x2 = (np.full(1000, 0.1), np.full(700, 0.1))
    (m1, d1), (m2, d2) = noise.next(x1, None), noise.next(x2, None)
    assert m1 is not None and m2 is not None and d1 is not None and d2 is not None
    rms = 0.1 * 10 ** (-30 / 20)
    mic = np.random.default_rng(2 + MIC_NOISE_SEED_OFFSET).standard_normal(1700) * rms
    np.testing.assert_allclose(np.concatenate([m1, m2]), mic)
    whole = -signal.lfilter(plant.primary.astype(np.float64), [1.0], mic)
    np.testing.assert_allclose(np.concatenate([d1, d2]), whole, atol=1e-12)


def test_the_steady_state_spans_the_last_chunks() -> None:
    """Attenuation and bound of the last two chunks: the normal equations summed over both,
    the second's regressors continued from the first, equal those of the two together."""
    c = run_chunked("pink", 2, 3.0, mu=0.01, block=8, chunk_seconds=1.0, fade_seconds=0.0,
                    steady_seconds=2.0)
    assert c.steady_seconds == 2.0
    # the same three draws as one signal through the same loop
    x = np.concatenate([scene("pink", 1.0, FS, k) for k in range(3)])
    plant = make_plant(0)
    e2e = end_to_end_secondary(plant.secondary, 2)
    loop = ClosedLoop(plant.primary, plant.secondary, 2,
                      FxLms(taps=256, sec_path=e2e, mu=0.01), block=8)
    last_two = slice(FS, 3 * FS)
    d, e, _ = loop.run(x)
    assert c.attenuation_db == pytest.approx(attenuation_db(d[last_two], e[last_two]),
                                             abs=1e-9)
    bound = wiener_bound(x, d, e2e, 256, last_two)
    assert c.bound_db == pytest.approx(bound.attenuation_db, abs=1e-6)


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"seconds": 30.0}, "seconds"),
    ({"steady_seconds": 0.0}, "steady_seconds"),
    ({"seconds": float("inf")}, "seconds"),
    ({"ear_noise_db": float("nan")}, "ear_noise_db"),
    ({"ref_noise_db": float("inf")}, "ref_noise_db"),
])
def test_bad_run_arguments_are_named(kwargs: dict[str, float], named: str) -> None:
    args = {"seconds": 120.0} | kwargs
    with pytest.raises(ValueError, match=named):
        run_chunked("white", 1, **args)
