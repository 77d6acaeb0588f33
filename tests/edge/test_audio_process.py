"""The real-time engine: the loop in its own process, paced at the block period."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from edge_agent.audio import InjectSound, SetController, SetMode, create_engine
from edge_agent.audio.engine import ProcessEngine
from edge_agent.config import AudioConfig, EmergencyConfig, SimAudioConfig


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def engine() -> Iterator[ProcessEngine]:
    audio = AudioConfig(mu=0.02, sim=SimAudioConfig(scene="engine"))
    eng = create_engine(audio, EmergencyConfig())
    assert isinstance(eng, ProcessEngine)
    eng.start()
    yield eng
    eng.stop()


def test_loop_runs_in_real_time_in_its_own_process(engine: ProcessEngine) -> None:
    assert engine.pid is not None and engine.pid != os.getpid()
    t0, s0 = time.monotonic(), engine.stats().stream_time_s
    time.sleep(1.0)
    s1 = engine.stats()
    elapsed = time.monotonic() - t0
    # paced at the sample rate: stream time advances with the wall clock
    assert 0.7 * elapsed <= s1.stream_time_s - s0 <= 1.3 * elapsed
    assert engine.running
    assert s1.block_time_p50_us > 0 and s1.budget_us == pytest.approx(1e6 * 32 / 48000)
    assert wait_for(lambda: engine.stats().features is not None)


def test_changes_reach_the_loop_process(engine: ProcessEngine) -> None:
    assert engine.request(SetController(taps=128, mu=0.01))
    assert engine.request(SetMode("transparency"))
    assert wait_for(lambda: engine.stats().mode == "transparency")
    stats = engine.stats()
    assert (stats.taps, stats.user_mode) == (128, "transparency")


def test_injected_siren_switches_to_transparency_and_back(engine: ProcessEngine) -> None:
    now = engine.stats().stream_time_s
    assert engine.request(InjectSound("alarm", seconds=1.5, snr_db=6.0, seed=4,
                                      at_s=now + 0.5))
    event = engine.events.get(timeout=20)
    assert (event.kind, event.cls, event.previous_mode) == ("emergency_started", "alarm", "anc")
    assert wait_for(lambda: engine.stats().mode == "transparency")
    ended = engine.events.get(timeout=20)
    assert ended.kind == "emergency_ended"
    assert wait_for(lambda: engine.stats().mode == "anc")


def test_stop_ends_the_process_and_removes_the_shared_file() -> None:
    eng = ProcessEngine(AudioConfig(sim=SimAudioConfig(scene="fan")), EmergencyConfig())
    path = eng._path
    eng.start()
    pid = eng.pid
    assert not os.path.exists(path)  # unlinked once both sides mapped it
    eng.stop()
    assert not eng.running
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_unknown_scene_fails_before_the_process_starts() -> None:
    with pytest.raises(ValueError, match="unknown scene 'moon'"):
        ProcessEngine(AudioConfig(sim=SimAudioConfig(scene="moon")), EmergencyConfig())


AGENT_STANDIN = """
import sys, time
from edge_agent.audio.engine import ProcessEngine
from edge_agent.config import AudioConfig, EmergencyConfig, SimAudioConfig
eng = ProcessEngine(AudioConfig(sim=SimAudioConfig(scene="fan")), EmergencyConfig())
eng.start()
print(eng.pid, flush=True)
time.sleep(120)
"""


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie left for init to reap."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_loop_process_exits_when_the_agent_is_killed() -> None:
    """SIGKILL of the agent leaves no orphaned loop process behind."""
    parent = subprocess.Popen([sys.executable, "-c", AGENT_STANDIN], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        time.sleep(0.5)
        assert not process_gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_for(lambda: process_gone(child), timeout=5.0), \
            f"loop process {child} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
