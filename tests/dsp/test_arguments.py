"""Bad arguments raise ValueError (DspValueError) naming the argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dsp_c import (
    BiquadCascade,
    ClosedLoop,
    DspValueError,
    Fir,
    FxLms,
    Limiter,
    Lms,
    Nlms,
    Rls,
)

GOOD = np.zeros(64, np.float32)


@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: Nlms(taps=0), "taps"),
        (lambda: Nlms(taps=-3), "taps"),
        (lambda: Nlms(taps=2.5), "taps"),
        (lambda: Nlms(taps=8, mu=0.0), "mu"),
        (lambda: Nlms(taps=8, mu=-1.0), "mu"),
        (lambda: Nlms(taps=8, mu=float("nan")), "mu"),
        (lambda: Nlms(taps=8, eps=float("inf")), "eps"),
        (lambda: Nlms(taps=8, leak=1.0), "leak"),
        (lambda: Lms(taps=8, mu=float("nan")), "mu"),
        (lambda: Rls(taps=0), "taps"),
        (lambda: Rls(taps=8, lam=0.0), "lam"),
        (lambda: Rls(taps=8, lam=1.5), "lam"),
        (lambda: Rls(taps=8, delta=float("nan")), "delta"),
        (lambda: FxLms(taps=0, sec_path=[1.0]), "taps"),
        (lambda: FxLms(taps=8, sec_path=[]), "sec_path"),
        (lambda: FxLms(taps=8, sec_path=[1.0, np.nan]), "sec_path"),
        (lambda: FxLms(taps=8, sec_path=[1.0], mu=0.0), "mu"),
        (lambda: FxLms(taps=8, sec_path=[1.0], algorithm="magic"), "algorithm"),
        (lambda: FxLms(taps=8, sec_path=[1.0], algorithm="hybrid", lam=2.0), "lam"),
        (lambda: FxLms(taps=8, sec_path=[1.0], algorithm="hybrid", lsq_rounds=0), "lsq_rounds"),
        (lambda: FxLms(taps=8, sec_path=[1.0], algorithm="hybrid", lsq_ridge=-1e-3),
         "lsq_ridge"),
        (lambda: FxLms(taps=8, sec_path=[1.0], algorithm="hybrid", lsq_samples=-1),
         "lsq_samples"),
        (lambda: Fir([]), "coeffs"),
        (lambda: Fir([1.0, np.inf]), "coeffs"),
        (lambda: BiquadCascade([[1, 0, 0, 1, 0]]), "sos"),
        (lambda: BiquadCascade([[1, 0, 0, 0, 0, 0]]), "sos"),
        (lambda: Limiter(peak=0.0), "peak"),
        (lambda: Limiter(peak=1.0, release_samples=float("nan")), "release_samples"),
        (lambda: ClosedLoop(primary=[1.0], secondary=[1.0], latency=-1), "latency"),
        (lambda: ClosedLoop(primary=[1.0], secondary=[1.0], block=0), "block"),
        (lambda: ClosedLoop(primary=[np.nan], secondary=[1.0]), "primary"),
        (lambda: ClosedLoop(primary=[1.0], secondary=[1.0], controller="fx"), "controller"),
    ],
)
def test_bad_constructor_arguments(make: Callable[[], Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize(
    "x,d,name",
    [
        (GOOD.astype(np.float64), GOOD, "x"),
        (GOOD, GOOD.astype(np.int16), "d"),
        (np.zeros((8, 8), np.float32), GOOD, "x"),
        (np.zeros(128, np.float32)[::2], GOOD, "x"),
        (GOOD, np.zeros(63, np.float32), "d"),
        ([0.0] * 64, GOOD, "x"),
    ],
)
def test_bad_signals(x: Any, d: Any, name: str) -> None:
    for f in (Nlms(taps=8), Rls(taps=4)):
        with pytest.raises(DspValueError, match=name):
            f.process(x, d)


def test_bad_output_buffers() -> None:
    f = Nlms(taps=8)
    y = np.zeros(64, np.float32)
    read_only = np.zeros(64, np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="e"):
        f.process_into(GOOD, GOOD, y, read_only)
    with pytest.raises(ValueError, match="y"):
        f.bind(GOOD, GOOD, np.zeros(32, np.float32), y)


def test_controller_and_loop_signals() -> None:
    c = FxLms(taps=8, sec_path=[0.0, 1.0])
    with pytest.raises(ValueError, match="err"):
        c.process(GOOD, GOOD[:10].copy())
    loop = ClosedLoop(primary=[0.0, 1.0], secondary=[1.0], controller=c, block=4)
    with pytest.raises(ValueError, match="disturbance"):
        loop.run(GOOD, disturbance=GOOD.astype(np.float64))


def test_errors_leave_the_filter_untouched() -> None:
    """A rejected call changes nothing: the next good call behaves as if it never happened."""
    rng = np.random.default_rng(60)
    x = rng.standard_normal(256).astype(np.float32)
    a, b = Nlms(taps=8), Nlms(taps=8)
    with pytest.raises(ValueError):
        a.process(x, x[:100].copy())
    np.testing.assert_array_equal(a.process(x, x)[0], b.process(x, x)[0])
