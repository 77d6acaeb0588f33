"""FxLMS / FxNLMS / hybrid controller and the ClosedLoop simulator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dsp_c import ClosedLoop, FxLms, measured_secondary_path
from tests.dsp.helpers import power_db, white

FS = 48_000


def paths() -> tuple[np.ndarray, np.ndarray]:
    """A primary path with 4 samples of acoustic lead and a short secondary path."""
    rng = np.random.default_rng(40)
    primary = np.zeros(64, dtype=np.float32)
    primary[4:40] = rng.standard_normal(36) * np.exp(-np.arange(36) / 6.0)
    secondary = np.zeros(16, dtype=np.float32)
    secondary[1:12] = (0.8 * np.exp(-np.arange(11) / 2.0)) * np.cos(np.arange(11))
    return primary, secondary


def attenuation_db(d: np.ndarray, e: np.ndarray, last: int) -> float:
    return power_db(d[-last:]) - power_db(e[-last:])


@pytest.mark.parametrize("algorithm", ["fxlms", "fxnlms", "hybrid"])
def test_closed_loop_converges(algorithm: str) -> None:
    primary, secondary = paths()
    latency = 1
    s_hat = measured_secondary_path(secondary, latency)
    mu = 0.002 if algorithm == "fxlms" else 0.05
    c = FxLms(taps=64, sec_path=s_hat, mu=mu, algorithm=algorithm, hybrid_taps=32)
    loop = ClosedLoop(primary=primary, secondary=secondary, latency=latency, controller=c,
                      block=32)
    x = white(np.random.default_rng(41), 4 * FS)
    d, e, y = loop.run(x)
    assert attenuation_db(d, e, FS) > 20.0
    assert np.all(np.isfinite(y)) and c.resets == 0


def test_hybrid_rls_phase_converges_faster_than_fxnlms() -> None:
    primary, secondary = paths()
    s_hat = measured_secondary_path(secondary, 1)
    x = white(np.random.default_rng(42), FS // 4)
    results = {}
    for algorithm in ("fxnlms", "hybrid"):
        c = FxLms(taps=64, sec_path=s_hat, mu=0.05, algorithm=algorithm, hybrid_taps=64,
                  hybrid_samples=FS, lsq_samples=0)
        loop = ClosedLoop(primary=primary, secondary=secondary, latency=1, controller=c,
                          block=32)
        d, e, _ = loop.run(x)
        results[algorithm] = attenuation_db(d, e, 2_000)
    assert results["hybrid"] > results["fxnlms"] + 6.0, results


def test_closed_loop_is_resumable() -> None:
    primary, secondary = paths()
    s_hat = measured_secondary_path(secondary, 2)
    x = white(np.random.default_rng(43), 20_000)

    def make() -> ClosedLoop:
        c = FxLms(taps=32, sec_path=s_hat, mu=0.05)
        return ClosedLoop(primary=primary, secondary=secondary, latency=2, controller=c,
                          block=16)

    whole = make().run(x)
    loop = make()
    cuts = [0, 5, 16, 17, 1000, 20_000]
    parts = [loop.run(x[a:b].copy()) for a, b in zip(cuts, cuts[1:], strict=False)]
    for k in range(3):
        np.testing.assert_allclose(np.concatenate([p[k] for p in parts]), whole[k], atol=1e-5)


@pytest.mark.parametrize("latency", [0, 3, 10])
def test_anti_noise_respects_the_latency(latency: int) -> None:
    """After training, an impulse at n0 first reaches the driver at n0 + latency."""
    primary, secondary = paths()
    c = FxLms(taps=32, sec_path=measured_secondary_path(secondary, latency), mu=0.05)
    loop = ClosedLoop(primary=primary, secondary=secondary, latency=latency, controller=c,
                      block=8)
    loop.run(white(np.random.default_rng(44), FS // 2))
    n0 = 1000
    probe = np.zeros(2000, dtype=np.float32)
    probe[n0] = 1.0
    _, _, y = loop.run(probe)
    # the first taps + latency samples still carry the training noise
    assert np.all(y[32 + latency:n0 + latency] == 0.0)
    assert y[n0 + latency] != 0.0


def test_default_controller_uses_the_measured_secondary_path() -> None:
    primary, secondary = paths()
    loop = ClosedLoop(primary=primary, secondary=secondary, latency=3, taps=48)
    np.testing.assert_array_equal(loop.controller.sec_path,
                                  np.concatenate([np.zeros(3, np.float32), secondary]))
    d, e, _ = loop.run(white(np.random.default_rng(45), 2 * FS))
    assert attenuation_db(d, e, FS // 2) > 10.0


def test_standalone_process_cancels_a_tone() -> None:
    """process(ref, err) in a per-sample loop with a one-sample secondary delay."""
    n = 20_000
    t = np.arange(n)
    ref = np.sin(2 * np.pi * 0.01 * t).astype(np.float32)
    noise = 0.8 * np.sin(2 * np.pi * 0.01 * t + 0.7)
    c = FxLms(taps=8, sec_path=np.array([0.0, 1.0], np.float32), mu=0.1)
    y_prev = 0.0
    err = np.zeros(n)
    for i in range(n):
        err[i] = noise[i] + y_prev  # e = d + S*y with S = one-sample delay
        y_prev = float(c.process(ref[i:i + 1].copy(), np.array([err[i]], np.float32))[0])
    assert power_db(err[-2000:]) < power_db(noise[-2000:]) - 30.0


@pytest.mark.parametrize("algorithm", ["fxlms", "fxnlms", "hybrid"])
def test_chunked_processing_equals_one_call(algorithm: str) -> None:
    """Uneven calls (odd lengths split the two-sample passes differently) give the same
    anti-noise and weights as one call, to float32 rounding."""
    rng = np.random.default_rng(46)
    n = 6_000
    ref = white(rng, n)
    err = white(rng, n, scale=0.1)
    s_hat = [0.0, 0.6, 0.3, -0.1]

    def make() -> FxLms:
        return FxLms(taps=40, sec_path=s_hat, mu=0.01 if algorithm == "fxlms" else 0.05,
                     algorithm=algorithm, hybrid_taps=16, hybrid_samples=301, leak=1e-4)

    whole = make()
    y_whole = whole.process(ref, err)
    chunked = make()
    cuts = [0, 1, 2, 5, 32, 33, 300, 303, 1000, 4999, n]
    y_chunks = np.concatenate([chunked.process(ref[a:b], err[a:b])
                               for a, b in zip(cuts, cuts[1:], strict=False)])
    np.testing.assert_allclose(y_chunks, y_whole, rtol=0, atol=1e-5)
    np.testing.assert_allclose(chunked.weights, whole.weights, rtol=0, atol=1e-6)
    assert chunked.samples == whole.samples == n
    assert whole.resets == 0 and np.any(whole.weights != 0)


def _open_loop_lsq(taps: int, n: int, ridge: float, mu: float = 0.01
                   ) -> tuple[FxLms, np.ndarray, np.ndarray, np.ndarray]:
    """A hybrid fed ref x and err d with nothing emitted, so d_hat = d: its least-squares
    start sees the plain problem min ||d + W^T r||, r = S_hat * x."""
    rng = np.random.default_rng(44)
    s_hat = np.array([0.0, 0.0, 0.8, 0.3, -0.1], dtype=np.float32)
    x = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(n)).astype(np.float32)
    d = signal.lfilter(0.3 * rng.standard_normal(20), [1.0], x).astype(np.float32)
    c = FxLms(taps=taps, sec_path=s_hat, mu=mu, algorithm="hybrid", lsq_samples=n,
              lsq_rounds=1, lsq_ridge=ridge)
    zeros = np.zeros(32, dtype=np.float32)
    for k in range(0, n, 32):
        c.adapt(x[k:k + 32], d[k:k + 32], zeros[: min(32, n - k)])
    return c, s_hat, x, d


def test_least_squares_start_solves_the_normal_equations() -> None:
    taps, n, ridge = 32, 3000, 1e-6
    c, s_hat, x, d = _open_loop_lsq(taps, n, ridge)
    assert c.lsq_solves == 0  # the factorization is spread over the calls after the window
    zeros = np.zeros(32, dtype=np.float32)
    calls = 0
    while c.lsq_solves == 0 and calls < 100:
        c.adapt(zeros, zeros, zeros)  # silence: FxNLMS leaves W alone
        calls += 1
    assert c.lsq_solves == 1 and c.lsq_failures == 0, calls
    r = signal.lfilter(s_hat.astype(np.float64), [1.0], x.astype(np.float64))
    u = np.zeros((n, taps))
    for j in range(taps):
        u[j:, j] = r[: n - j]
    gram = u.T @ u
    want = -np.linalg.solve(gram + ridge * np.trace(gram) / taps * np.eye(taps),
                            u.T @ d.astype(np.float64))
    np.testing.assert_allclose(c.weights, want, rtol=0, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("louder", [False, True])
def test_least_squares_solution_that_makes_the_ear_louder_is_undone(louder: bool) -> None:
    """After a solution is committed the ear is 20 dB louder relative to the reference (as a
    poor S_hat would make it) or unchanged: the trial undoes the first, keeps the second."""
    c, _, x, d = _open_loop_lsq(32, 3000, 1e-6, mu=1e-9)  # FxNLMS barely moves W
    before = c.weights
    zeros = np.zeros(32, dtype=np.float32)
    k = 0
    while c.lsq_solves == 0:
        c.adapt(x[k:k + 32], d[k:k + 32], zeros)
        k = (k + 32) % 2944
    solution = c.weights
    assert np.abs(solution).max() > 0.1 and np.abs(before).max() < 1e-3
    gain = 10.0 if louder else 1.0
    for _ in range(8192 // 32):
        c.adapt(x[k:k + 32], gain * d[k:k + 32], zeros)
        k = (k + 32) % 2944
    assert c.lsq_reverts == int(louder)
    if louder:
        assert np.abs(c.weights).max() < 1e-3
    else:
        np.testing.assert_allclose(c.weights, solution, atol=1e-4)


def test_a_hybrid_restarted_from_given_weights_keeps_them() -> None:
    """Weights loaded from elsewhere (a filter computed in the cloud) are where the
    controller continues from: the least-squares start, which begins from zero, does not
    replace them; restarted from zero weights, the same hybrid fed the same signals does
    solve."""
    c, _, x, d = _open_loop_lsq(32, 3000, 1e-6, mu=1e-9)
    assert c.lsq_solves == 0
    given = np.linspace(-0.5, 0.5, 32).astype(np.float32)
    c.restart_from(given)
    np.testing.assert_array_equal(c.weights, given)
    zeros = np.zeros(32, dtype=np.float32)
    for k in range(0, 2 * 2944, 32):
        c.adapt(x[k % 2944:k % 2944 + 32], d[k % 2944:k % 2944 + 32], zeros)
    assert c.lsq_solves == 0
    np.testing.assert_allclose(c.weights, given, atol=1e-4)
    with pytest.raises(ValueError, match="weights"):
        c.restart_from(np.full(32, np.nan))
    c.restart_from(zeros)
    for k in range(0, 2 * 2944, 32):
        c.adapt(x[k % 2944:k % 2944 + 32], d[k % 2944:k % 2944 + 32], zeros)
    assert c.lsq_solves >= 1
    assert np.abs(c.weights).max() > 0.1
