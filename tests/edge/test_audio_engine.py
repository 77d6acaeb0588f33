"""The audio loop: chain, changes at block boundaries, crossfades, deadlines, guards."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dsp_c.sim import run_scene
from edge_agent.audio import (
    EmergencyOverride,
    InjectSound,
    LoadFilter,
    SetController,
    SetMode,
    SetSafety,
)
from edge_agent.audio.backends import SimBackend
from edge_agent.audio.engine import CHANGE_QUEUE, InlineEngine
from edge_agent.audio.state import MISS_LOG
from edge_agent.config import AudioConfig, EmergencyConfig, SimAudioConfig

FS, B = 48_000, 32
PER_S = FS // B


def engine(scene: str = "engine", mu: float = 0.02, taps: int = 256, seed: int = 0,
           backend: SimBackend | None = None) -> InlineEngine:
    audio = AudioConfig(mu=mu, taps=taps, sim=SimAudioConfig(scene=scene, seed=seed))
    return InlineEngine(audio, EmergencyConfig(), backend=backend)


def record(eng: InlineEngine, blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run block by block; (anti-noise y, ear e, disturbance estimate d̂) of every block."""
    ys, es, ds = [], [], []
    chain = eng.core.chain
    for _ in range(blocks):
        assert eng.run(1) == 1
        ys.append(chain.y.copy())
        es.append(chain.e.copy())
        ds.append(chain.dh.copy())
    return np.concatenate(ys), np.concatenate(es), np.concatenate(ds)


def max_jump(y: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(y.astype(np.float64)))))


def test_loop_attenuates_like_the_reference_closed_loop() -> None:
    eng = engine()
    _, e, d = record(eng, 6 * PER_S)
    tail = slice(4 * FS, 6 * FS)
    att = 10 * np.log10(np.mean(d[tail].astype(np.float64) ** 2)
                        / np.mean(e[tail].astype(np.float64) ** 2))
    ref = run_scene("engine", latency=1, seconds=6.0, mu=0.02)
    assert att > 40.0
    assert abs(att - ref.attenuation_db) < 3.0, (att, ref.attenuation_db)
    stats = eng.stats()
    assert stats.attenuation_db is not None and stats.attenuation_db > 35.0
    assert stats.blocks == 6 * PER_S and stats.stream_time_s == pytest.approx(6.0)


def test_changes_apply_at_the_next_block_boundary_in_order() -> None:
    eng = engine()
    eng.run(10)
    assert eng.request(SetMode("off"))
    assert eng.request(SetController(algorithm="fxlms", mu=0.01, taps=128))
    assert eng.request(SetSafety(max_output_dbfs=-12.0))
    assert eng.request(SetMode("transparency"))
    before = eng.stats()
    assert (before.mode, before.taps, before.blocks) == ("anc", 256, 10)  # nothing yet
    eng.run(1)
    after = eng.stats()
    assert after.blocks == 11
    assert (after.mode, after.user_mode) == ("transparency", "transparency")
    assert (after.algorithm, after.taps) == ("fxlms", 128)
    assert eng.core.chain.limiter._inst.peak == pytest.approx(10 ** (-12 / 20))


def test_request_is_bounded_and_never_blocks() -> None:
    eng = engine()
    accepted = [eng.request(SetMode("anc")) for _ in range(CHANGE_QUEUE + 5)]
    assert accepted[:CHANGE_QUEUE] == [True] * CHANGE_QUEUE
    assert accepted[CHANGE_QUEUE:] == [False] * 5
    eng.run(1)
    assert eng.request(SetMode("off"))  # drained at the block boundary


def test_bad_changes_are_rejected_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="mode"):
        SetMode("loud")
    with pytest.raises(ValueError, match="taps"):
        SetController(taps=8)
    with pytest.raises(ValueError, match="mu"):
        SetController(mu=0.0)
    with pytest.raises(ValueError, match="weights"):
        LoadFilter(1, (float("nan"),) * 32)
    with pytest.raises(ValueError, match="max_output_dbfs"):
        SetSafety(max_output_dbfs=3.0)
    with pytest.raises(ValueError, match="cls"):
        InjectSound("doorbell")


def test_loaded_filter_crossfades_without_a_click() -> None:
    eng = engine()
    record(eng, 2 * PER_S)
    w = eng.core.chain.weights()
    steady, _, _ = record(eng, PER_S // 2)
    x_recent = eng.core.chain.x
    # Switching to -2 W at once would jump by about 3 |y|: the crossfade spreads it.
    hard_jump = 3.0 * float(np.max(np.abs(steady[-200:])))
    assert eng.request(LoadFilter.from_array(7, -2.0 * w))
    after, _, _ = record(eng, 4)
    joined = np.concatenate([steady[-B:], after])
    assert eng.stats().filter_version == 7
    assert max_jump(joined) <= 1.5 * max_jump(steady) + hard_jump / B * 2
    assert max_jump(joined) < 0.5 * hard_jump
    assert x_recent.dtype == np.float32


def test_loaded_filter_seeds_the_controller() -> None:
    eng = engine()
    eng.request(SetMode("off"))  # adaptation frozen: the weights stay as loaded
    w = np.linspace(0.1, -0.1, 256)
    eng.request(LoadFilter.from_array(3, w))
    eng.run(5)
    np.testing.assert_allclose(eng.core.chain.weights(), w, atol=1e-6)
    eng.request(LoadFilter.from_array(4, np.full(64, 0.01)))  # another length: resized
    eng.run(1)
    assert (eng.stats().taps, eng.stats().filter_version) == (64, 4)


def test_a_hybrid_loop_started_from_zero_runs_its_least_squares_start() -> None:
    """The chain installs its first controller from zero weights: a hybrid then solves its
    least-squares start (weights loaded later would end it instead)."""
    audio = AudioConfig(mu=0.02, taps=256, algorithm="hybrid",
                        sim=SimAudioConfig(scene="engine", seed=0))
    eng = InlineEngine(audio, EmergencyConfig())
    eng.run(PER_S)
    assert eng.core.chain.ctrl.lsq_solves >= 1
    assert eng.core.chain.resets == 0


def test_mode_and_tap_changes_keep_the_output_continuous() -> None:
    eng = engine()
    record(eng, 2 * PER_S)
    steady, _, _ = record(eng, PER_S // 4)
    limit = 2.0 * max_jump(steady)
    for change in (SetController(taps=512), SetController(taps=128), SetMode("transparency"),
                   SetMode("anc"), SetController(algorithm="hybrid")):
        last = eng.core.chain.y.copy()
        assert eng.request(change)
        y, _, _ = record(eng, 2)  # the switch itself (later blocks: adaptation)
        assert max_jump(np.concatenate([last, y])) <= limit, change
        record(eng, PER_S // 4)
    assert eng.stats().taps == 128


def test_transparency_fades_the_anti_noise_out() -> None:
    eng = engine()
    record(eng, PER_S)
    eng.request(SetMode("transparency"))
    y, _, _ = record(eng, 3)
    assert np.all(y[B:] == 0.0) and np.any(y[:B] != 0.0)  # one block of fade, then silence
    assert eng.stats().attenuation_db is None


class SlowBackend(SimBackend):
    """Sleeps in chosen blocks, as a preempted loop would."""

    def __init__(self, slow_every: int, sleep_s: float) -> None:
        super().__init__("engine", 0, FS, B)
        self.slow_every, self.sleep_s, self.n = slow_every, sleep_s, 0

    def capture(self) -> bool:
        self.n += 1
        if self.n % self.slow_every == 0:
            time.sleep(self.sleep_s)
        return super().capture()


def test_deadline_accounting_counts_slow_blocks() -> None:
    eng = engine(backend=SlowBackend(slow_every=100, sleep_s=0.003))
    eng.run(1000)
    stats = eng.stats()
    assert stats.blocks == 1000
    hist = eng.state.snapshot().hist  # 1 µs bins
    assert int(hist[3000:].sum()) >= 10  # the ten slow blocks …
    assert stats.deadline_misses >= 10  # … are misses, and so is any block over the period
    assert int(hist[667:].sum()) <= stats.deadline_misses <= int(hist[666:].sum())
    assert stats.block_time_max_us >= 3000
    assert stats.block_time_p50_us < stats.budget_us
    assert stats.block_time_p999_us >= 3000  # 1 % of blocks are slow: above p99.9
    assert stats.block_time_p99_us <= stats.block_time_p999_us <= stats.block_time_max_us
    # unpaced, a block misses only by its own work: the log shows it overran, not a late start
    assert len(stats.recent_misses) == min(stats.deadline_misses, 16)
    assert all(m.late_start_us == 0.0 and m.overran(stats.budget_us)
               for m in stats.recent_misses)
    slow = [m for m in stats.recent_misses if m.work_us >= 3000]
    assert slow and all(round(m.at_s * FS / B) % 100 == 99 for m in slow)  # blocks 100, 200, …
    # unpaced, a block is "released" when it starts: a slow block starts at least the 3 ms
    # of the slow block before it later than that one
    released = [m.released_s for m in slow]
    assert all(b - a >= 0.003 for a, b in zip(released, released[1:], strict=False))


def test_a_block_released_into_a_late_wake_up_is_logged_as_a_late_start() -> None:
    from edge_agent.audio.core import run_loop

    eng = engine()
    blocks = 0

    def poll() -> None:
        return None

    def after_block() -> None:  # the loop is kept from running for 3 ms after block 50
        nonlocal blocks
        blocks += 1
        if blocks == 50:
            time.sleep(0.003)

    before = time.monotonic()
    run_loop(eng.core, True, poll, after_block, max_blocks=100)
    after = time.monotonic()
    stats = eng.stats()
    assert stats.deadline_misses >= 3  # 3 ms late: the next blocks catch up one by one
    for m in stats.recent_misses:  # a miss ends more than a period after its release
        assert m.late_start_us + m.work_us > stats.budget_us
    late = [m for m in stats.recent_misses if m.late_start_us > 1000]
    assert late and not any(m.overran(stats.budget_us) for m in late)
    assert min(m.at_s for m in late) == pytest.approx(50 * B / FS)  # block 51 started late
    # release instants on the monotonic clock: within the run, one period per block apart
    period = B / FS
    for m in stats.recent_misses:
        assert before <= m.released_s
        assert m.released_s + (m.late_start_us + m.work_us) / 1e6 <= after
        assert m.released_s - stats.recent_misses[0].released_s == pytest.approx(
            m.at_s - stats.recent_misses[0].at_s, abs=1e-6)
    first = min(late, key=lambda m: m.at_s)
    assert first.released_s - before == pytest.approx(50 * period, abs=0.002)


class NanBackend(SimBackend):
    """Delivers NaN/Inf in the reference and error mics of chosen blocks."""

    def __init__(self, bad: set[int]) -> None:
        super().__init__("engine", 0, FS, B)
        self.bad, self.n = bad, 0

    def capture(self) -> bool:
        ok = super().capture()
        self.n += 1
        if self.n in self.bad:
            self.chain.x[5] = np.nan
            self.chain.x[9] = np.inf
        return ok

    def play(self) -> None:
        super().play()
        if self.n in self.bad:
            self.chain.e[3] = np.nan


def test_nan_in_the_input_is_guarded_and_the_loop_keeps_running() -> None:
    bad = {PER_S, PER_S + 1, 2 * PER_S}
    eng = engine(backend=NanBackend(bad))
    y, e, d = record(eng, 4 * PER_S)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(e))
    stats = eng.stats()
    assert stats.blocks == 4 * PER_S
    assert stats.limited_samples >= len(bad) * B  # the guarded blocks are counted
    tail = slice(3 * FS, 4 * FS)
    att = 10 * np.log10(np.mean(d[tail].astype(np.float64) ** 2)
                        / np.mean(e[tail].astype(np.float64) ** 2))
    assert att > 25.0  # still cancelling after the bad blocks


def test_emergency_override_forces_transparency_and_restores_the_user_mode() -> None:
    eng = engine()
    eng.request(SetMode("adaptive"))
    eng.run(10)
    eng.request(EmergencyOverride(True, "alarm"))
    eng.run(1)
    s = eng.stats()
    assert (s.mode, s.user_mode, s.emergency.active, s.emergency.cls) == \
        ("transparency", "adaptive", True, "alarm")
    eng.request(SetMode("anc"))  # the user changes mode meanwhile: remembered
    eng.request(EmergencyOverride(False))
    eng.run(1)
    s = eng.stats()
    assert (s.mode, s.emergency.active) == ("anc", False)


def test_each_emergency_reports_its_own_switch_time() -> None:
    eng = engine()
    eng.run(10)
    eng.request(EmergencyOverride(True, "alarm"))
    eng.run(1)  # applied at the block boundary before this block
    assert eng.stats().emergency.switched_s == pytest.approx(10 * B / FS)
    eng.request(EmergencyOverride(False))
    eng.run(5)
    # Cleared with the emergency: until the loop switches for the next one, the analysis
    # stage's report of it must not pick up this one's time.
    assert eng.state.get("switched_sample") == -1
    assert eng.stats().emergency.switched_s is None
    eng.request(EmergencyOverride(True, "siren"))
    eng.run(1)
    assert eng.stats().emergency.switched_s == pytest.approx(16 * B / FS)


def test_an_emergency_is_reported_once_the_loop_has_switched() -> None:
    # The detector's command reaches the loop at its next block boundary; the event waits
    # for it, so whoever reads it finds the switch in the stats.
    eng = engine(scene="traffic")
    assert eng.request(InjectSound("siren", seconds=2.0, seed=1, at_s=0.5))
    for _ in range(3 * PER_S):
        eng.run(1)
        if not eng.events.empty():
            break
    event = eng.events.get_nowait()
    assert event.kind == "emergency_started" and event.cls == "siren"
    s = eng.stats()
    assert s.mode == "transparency"
    assert s.emergency.switched_s is not None and s.emergency.switched_s >= event.onset_s


def test_emergency_transparency_can_be_switched_off() -> None:
    eng = engine()
    eng.request(SetSafety(emergency_transparency=False))
    eng.request(EmergencyOverride(True, "siren"))
    eng.run(2)
    assert eng.stats().mode == "anc"


def test_inject_sound_needs_the_sim_backend() -> None:
    eng = engine()
    assert eng.request(InjectSound("siren", at_s=1.0))
    eng.audio = AudioConfig(backend="wav")
    with pytest.raises(ValueError, match="sim backend"):
        eng.request(InjectSound("siren"))


def test_adaptation_statistics_match_a_direct_computation() -> None:
    eng = engine(taps=64)
    _, _, d = record(eng, PER_S)
    x = np.concatenate([eng.state.ring[0, :PER_S * B]]).astype(np.float64)
    stats = eng.adaptation_statistics()
    assert stats is not None and stats.taps == 64 and stats.samples == PER_S * B
    r = np.convolve(x, np.asarray(stats.sec_path))[: len(x)]
    n = len(r)
    rr = [float(np.dot(r[k:], r[: n - k]) / n) for k in range(64)]
    rd = [float(np.dot(d[k:].astype(np.float64), r[: n - k]) / n) for k in range(64)]
    np.testing.assert_allclose(stats.r_autocorr, rr, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(stats.rd_crosscorr, rd, rtol=1e-3, atol=1e-8)
    assert eng.adaptation_statistics() is None  # taken: accumulation restarts


def test_adaptation_statistics_follow_the_running_tap_count() -> None:
    """Taps changed after start (shadow → SetController, or a loaded filter of another
    length): the statistics and the adapt request use the running controller's count."""
    from edge_agent.adapt import build_request

    eng = engine(taps=256)
    eng.run(PER_S // 4)
    assert eng.request(SetController(taps=128))
    eng.run(PER_S // 2)
    stats = eng.adaptation_statistics()
    assert stats is not None and eng.stats().taps == 128
    assert (stats.taps, len(stats.r_autocorr), len(stats.rd_crosscorr)) == (128, 128, 128)
    assert build_request(stats, current_version=0)["taps"] == 128
    assert eng.request(LoadFilter.from_array(3, np.zeros(96, np.float32)))
    eng.run(PER_S // 2)
    stats = eng.adaptation_statistics()
    assert stats is not None and (stats.taps, len(stats.r_autocorr)) == (96, 96)
    assert stats.samples <= PER_S // 2 * B  # nothing gathered for 128 taps is carried over


@pytest.mark.parametrize("scene", ["engine", "aircraft", "traffic", "babble", "fan", "white",
                                   "pink", "brown", "band"])
def test_default_step_size_converges_on_every_scene(scene: str) -> None:
    """The configured default mu adapts without tripping the divergence guard."""
    eng = InlineEngine(AudioConfig(sim=SimAudioConfig(scene=scene)), EmergencyConfig())
    eng.run(8 * PER_S)
    stats = eng.stats()
    assert stats.divergence_resets == 0, stats.mu
    assert stats.attenuation_db is not None and stats.attenuation_db > 15.0, stats


def test_steady_state_allocates_nothing_per_block() -> None:
    """Growth after N and after 2N blocks is the same: nothing accumulates per block."""
    import tracemalloc

    from edge_agent.audio.core import run_loop

    eng = engine(taps=256)
    core = eng.core

    def poll() -> None:
        return None

    run_loop(core, False, poll, max_blocks=500)  # warm-up
    tracemalloc.start()
    try:
        start = tracemalloc.take_snapshot()
        run_loop(core, False, poll, max_blocks=3000)
        mid = tracemalloc.take_snapshot()
        run_loop(core, False, poll, max_blocks=3000)
        end = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    start, mid, end = (s.filter_traces(ignore) for s in (start, mid, end))
    first = sum(s.size_diff for s in mid.compare_to(start, "lineno"))
    both = end.compare_to(start, "lineno")
    assert sum(s.size_diff for s in both) - first == 0, [str(s) for s in both[:3]]
    assert first < 1024  # a few counters that outgrew the small-int cache, nothing more



def test_logging_a_deadline_miss_keeps_nothing() -> None:
    import tracemalloc

    eng = engine()
    core = eng.core
    core.step()
    core.record(1_000, False, 0, 1_000, 1)
    # Hold enough 1-D views that NumPy's cache of small shape buffers is empty: a view made
    # on the miss path would then allocate one, and keep it in that cache once freed.
    base = np.zeros(64)
    held = [base[k:] for k in range(64)]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for k in range(100):
            core.record(3_000_000, True, 2_000_000, 1_000_000, 10**14 + k * 666_667)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    del held
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    grown = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    assert [str(s) for s in grown if s.size_diff] == []
    stats = eng.stats()  # and the log holds what was recorded
    assert stats.deadline_misses == 100 and len(stats.recent_misses) == MISS_LOG
    last = stats.recent_misses[-1]
    assert (last.late_start_us, last.work_us) == (2000.0, 1000.0)
    assert last.released_s == pytest.approx((10**14 + 99 * 666_667) / 1e9, abs=1e-6)
