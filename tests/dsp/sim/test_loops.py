"""The C closed loop, the vectorized NumPy loop and the per-sample reference agree."""

from __future__ import annotations

import numpy as np
import pytest

from dsp_c import ClosedLoop, FxLms
from dsp_c.sim import ReferenceLoop, estimate_secondary, make_plant, run_scene, scene
from dsp_c.sim.blockloop import BlockLoop

FS = 48_000


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize(("latency", "block", "algorithm", "mu"),
                         [(0, 1, "fxnlms", 0.05), (3, 32, "fxnlms", 0.05), (7, 5, "fxlms", 0.03),
                          (16, 32, "fxnlms", 0.01)])
def test_c_closed_loop_matches_the_reference(latency: int, block: int, algorithm: str,
                                             mu: float) -> None:
    plant = make_plant(seed=0)
    x = scene("pink", 0.25, seed=1)
    v = (0.003 * np.random.default_rng(2).standard_normal(len(x))).astype(np.float32)
    s_hat = estimate_secondary(plant.secondary, latency)
    ref = ReferenceLoop(plant.primary, plant.secondary, latency, s_hat, taps=256, mu=mu,
                        algorithm=algorithm, block=block)
    ref_parts = [ref.run(x[:5000], v[:5000]), ref.run(x[5000:], v[5000:])]
    d_ref, e_ref, y_ref = (np.concatenate(z) for z in zip(*ref_parts, strict=True))
    controller = FxLms(taps=256, sec_path=s_hat, mu=mu, algorithm=algorithm)
    loop = ClosedLoop(primary=plant.primary, secondary=plant.secondary, latency=latency,
                      controller=controller, block=block)
    d_c, e_c, y_c = loop.run(x, disturbance=v)
    # the controller really adapted (the comparison is not between two silent outputs)
    assert np.mean(e_ref[-2000:] ** 2) < 0.5 * np.mean(d_ref[-2000:] ** 2)
    assert rel_err(d_c, d_ref) < 1e-5
    assert rel_err(e_c, e_ref) < 1e-4  # float32 core vs float64 reference
    assert rel_err(y_c, y_ref) < 1e-4


def test_vectorized_numpy_loop_matches_the_reference_in_any_chunking() -> None:
    plant = make_plant(seed=3)
    x = scene("engine", 0.2, seed=4)
    v = 0.001 * np.random.default_rng(5).standard_normal(len(x))
    s_hat = estimate_secondary(plant.secondary, 5)
    ref = ReferenceLoop(plant.primary, plant.secondary, 5, s_hat, mu=0.02, block=7, leak=1e-4)
    fast = BlockLoop(plant.primary, plant.secondary, 5, s_hat, mu=0.02, block=7, leak=1e-4)
    d1, e1, y1 = ref.run(x, v)
    chunks = np.array_split(np.arange(len(x)), 9)
    outs = [fast.run(x[c], v[c]) for c in chunks]
    e2 = np.concatenate([o[1] for o in outs])
    y2 = np.concatenate([o[2] for o in outs])
    assert rel_err(e2, e1) < 1e-10 and rel_err(y2, y1) < 1e-10
    np.testing.assert_allclose(fast.weights, ref.weights, rtol=1e-9, atol=1e-12)


def test_engines_agree_through_run_scene() -> None:
    c = run_scene("fan", 4, seconds=1.0, mu=0.01, ear_noise_db=-40.0)
    numpy = run_scene("fan", 4, seconds=1.0, mu=0.01, ear_noise_db=-40.0, engine="numpy")
    assert c.attenuation_db == pytest.approx(numpy.attenuation_db, abs=0.01)
    assert c.bound_db == pytest.approx(numpy.bound_db, abs=0.01)


@pytest.mark.parametrize("engine", ["c", "numpy"])
def test_reference_microphone_noise_reaches_the_controller_not_the_ear(engine: str) -> None:
    kwargs = {"seconds": 1.0, "mu": 0.01, "ear_noise_db": -40.0, "engine": engine}
    clean = run_scene("engine", 4, **kwargs)
    noisy = run_scene("engine", 4, ref_noise_db=-20.0, **kwargs)
    # the ear's noise without ANC is the same signal (P * n is taken back out exactly)
    assert rel_err(noisy.d, clean.d) < 1e-5
    # the controller sees a reference 20 dB noisier: the bound and the result drop
    assert noisy.bound_db < clean.bound_db - 3.0, (noisy.bound_db, clean.bound_db)
    assert noisy.attenuation_db < clean.attenuation_db - 3.0
    assert noisy.ref_noise_db == -20.0 and clean.ref_noise_db is None
    with pytest.raises(ValueError, match="ref_noise_db must be finite"):
        run_scene("engine", 4, seconds=0.1, ref_noise_db=float("nan"))


def test_bad_loop_arguments_are_named() -> None:
    plant = make_plant()
    s_hat = estimate_secondary(plant.secondary, 1)
    for kwargs, message in (({"mu": 0.0}, "mu"), ({"block": 0}, "block"),
                            ({"algorithm": "rls"}, "algorithm"), ({"leak": 1.0}, "leak"),
                            ({"taps": 0}, "taps")):
        for cls in (ReferenceLoop, BlockLoop):
            with pytest.raises(ValueError, match=message):
                cls(plant.primary, plant.secondary, 1, s_hat, **kwargs)
    loop = ReferenceLoop(plant.primary, plant.secondary, 1, s_hat)
    with pytest.raises(ValueError, match="x contains NaN"):
        loop.run(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="disturbance must have x's shape"):
        loop.run(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="engine must be one of"):
        run_scene("white", 1, seconds=0.1, engine="gpu")
    with pytest.raises(ValueError, match="runs fxlms or fxnlms"):
        run_scene("white", 1, seconds=0.1, engine="numpy", algorithm="hybrid")


@pytest.mark.parametrize("phase_error_deg", [0.0, 40.0])
def test_modified_fxnlms_block_loop_matches_the_reference(phase_error_deg: float) -> None:
    plant = make_plant(seed=3)
    x = scene("engine", 0.2, seed=4)
    v = 0.001 * np.random.default_rng(5).standard_normal(len(x))
    s_hat = estimate_secondary(plant.secondary, 5, phase_error_deg=phase_error_deg)
    kwargs = {"mu": 0.5, "block": 7, "leak": 1e-4, "algorithm": "mfxnlms"}
    ref = ReferenceLoop(plant.primary, plant.secondary, 5, s_hat, **kwargs)  # type: ignore[arg-type]
    fast = BlockLoop(plant.primary, plant.secondary, 5, s_hat, **kwargs)  # type: ignore[arg-type]
    d1, e1, _ = ref.run(x, v)
    outs = [fast.run(x[c], v[c]) for c in np.array_split(np.arange(len(x)), 9)]
    assert rel_err(np.concatenate([o[1] for o in outs]), e1) < 1e-10
    np.testing.assert_allclose(fast.weights, ref.weights, rtol=1e-9, atol=1e-12)
    assert np.mean(e1[-2000:] ** 2) < 0.1 * np.mean(d1[-2000:] ** 2)  # it really adapted


def test_modified_fxnlms_adapts_without_the_latency_in_its_loop() -> None:
    """With Ŝ exact, modified FxNLMS is NLMS on (r, −d): μ = 0.1 is stable at 32 samples of
    latency, where plain FxNLMS with the same step diverges."""
    kwargs = {"seconds": 1.5, "mu": 0.1, "block": 8, "ear_noise_db": -40.0, "engine": "numpy"}
    with np.errstate(all="ignore"):
        modified = run_scene("engine", 32, algorithm="mfxnlms", **kwargs)  # type: ignore[arg-type]
        plain = run_scene("engine", 32, algorithm="fxnlms", **kwargs)  # type: ignore[arg-type]
    assert modified.stable and modified.attenuation_db > 5.0
    assert not (np.all(np.isfinite(plain.e)) and plain.attenuation_db > 0.0)
    with pytest.raises(ValueError, match="runs on the 'numpy' or 'reference' engine"):
        run_scene("band", 1, seconds=0.1, algorithm="mfxnlms")
