"""The edge agent's MCU link (edge_agent/mcu.py) against the real firmware.

The firmware runs on the MicroPython Unix port behind a pty (tests/firmware/sim.py); stimuli
(button, battery) go through the simulated board's side channel, resets are real process
kills, an unplugged cable is a pty that disappears.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from edge_agent.mcu import McuEvent, McuLink, McuState, battery_level, state_for_shadow
from protocol import link
from protocol.link import Frame, FrameType
from tests.firmware.sim import FIRMWARE_SRC, WDT_RESET_STATUS, SimDevice, firmware_dir

FIRMWARE_VERSION = re.search(
    r'^VERSION = "([^"]+)"', (FIRMWARE_SRC / "app.py").read_text(), re.MULTILINE
).group(1)  # type: ignore[union-attr]
# Short timings so that failures are detected within a second or two, with room for a busy
# machine. The firmware sends STATUS every 2 s, so 3.5 s without one means it has reset.
TIMING = dict(ping_interval=0.3, reply_timeout=0.5, silence_timeout=1.5, status_timeout=3.5,
              reopen_backoff=(0.05, 0.4), hello_backoff=(0.05, 0.3))


class Events:
    """Reads McuLink.events, keeping everything seen for assertion messages."""

    def __init__(self, mcu: McuLink) -> None:
        self.mcu = mcu
        self.seen: list[McuEvent] = []

    def wait(self, kind: str, timeout: float = 5.0,
             where: Callable[[McuEvent], bool] = lambda e: True) -> McuEvent:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind!r} event within {timeout} s; seen: {self.seen}")
            try:
                event = self.mcu.events.get(timeout=min(left, 0.1))
            except queue.Empty:
                continue
            self.seen.append(event)
            if event.kind == kind and where(event):
                return event

    def kinds(self) -> list[str]:
        return [e.kind for e in self.seen]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimDevice]:
    device = SimDevice(firmware_dir("source"), tmp_path / "firmware.log")
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture
def mcu(sim: SimDevice) -> Iterator[McuLink]:
    link_ = McuLink(sim.port, **TIMING)  # type: ignore[arg-type]
    link_.start()
    try:
        yield link_
    finally:
        link_.stop()


@pytest.fixture
def events(mcu: McuLink) -> Events:
    ev = Events(mcu)
    ev.wait("connected")
    return ev


def test_handshake_reports_the_firmware_and_its_state(mcu: McuLink, sim: SimDevice) -> None:
    ev = Events(mcu)
    connected = ev.wait("connected")
    assert connected.data == {"firmware_version": FIRMWARE_VERSION, "protocol_version": 1,
                              "after_reset": False}
    status = ev.wait("status")
    # The simulated cell starts at 3900 mV: 63 % on the firmware's Li-ion curve.
    assert status.data == {"battery_pct": 63, "battery_mv": 3900, "battery_state": "ok",
                           "worn": True, "charging": False, "mode": "off"}
    state = mcu.state()
    assert state == McuState(connected=True, firmware_version=FIRMWARE_VERSION, mode="off",
                             battery_mv=3900, battery_pct=63, battery_state="ok", worn=True,
                             last_button=None, resets_seen=0, link_errors=0)
    assert state_for_shadow(state) == {
        "mcu_connected": True, "firmware_version": FIRMWARE_VERSION, "mcu_mode": "off",
        "battery_percent": 63, "battery_mv": 3900, "battery_state": "ok", "worn": True,
        "mcu_resets": 0, "mcu_link_errors": 0,
    }
    # Keepalive: longer than the firmware's 3 s "link lost" timeout, the link stays up.
    time.sleep(3.5)
    assert "link: lost" not in sim.log()
    assert mcu.state().connected and "disconnected" not in ev.kinds()
    assert mcu.state().link_errors == 0


def test_button_press_gives_button_and_mode_changed_events(
    mcu: McuLink, events: Events, sim: SimDevice
) -> None:
    sim.press(0.08)
    assert events.wait("button").data == {"button": 0, "kind": "short"}
    changed = events.wait("mode_changed")
    assert changed.data == {"mode": "anc", "previous": "off", "source": "button"}
    state = mcu.state()
    assert state.mode == "anc"
    assert state.last_button is not None and (state.last_button.button,
                                              state.last_button.kind) == (0, "short")
    sim.press(1.0)  # long press: anc -> off
    assert events.wait("button").data == {"button": 0, "kind": "long"}
    assert events.wait("mode_changed").data["mode"] == "off"


def test_set_mode_and_notify_mode_are_acked_and_change_the_mode(
    mcu: McuLink, events: Events, sim: SimDevice
) -> None:
    mcu.set_mode("adaptive")
    assert events.wait("mode_changed").data == {
        "mode": "adaptive", "previous": "off", "source": "host", "requested_by": "host"}
    sim.wait_log("mode: adaptive (source 0)")
    mcu.notify_mode("transparency", source="safety")  # an emergency on the host
    assert events.wait("mode_changed").data == {
        "mode": "transparency", "previous": "adaptive", "source": "host",
        "requested_by": "safety"}
    assert events.wait("status", where=lambda e: e.data["mode"] == "transparency")
    mcu.set_led("fast_blink")
    sim.wait_log("led: fast_blink")
    mcu.set_led("auto")
    sim.wait_log("led: slow_blink")  # the firmware's own display of transparency
    assert mcu.state().mode == "transparency"
    assert "command_failed" not in events.kinds()


def test_requests_from_several_threads_are_all_answered(
    mcu: McuLink, events: Events, sim: SimDevice
) -> None:
    patterns = ["on", "off", "slow_blink", "fast_blink", "heartbeat"]

    def worker(n: int) -> None:
        for i in range(20):
            mcu.set_led(patterns[(n + i) % len(patterns)])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mcu.set_led("error")  # after every other request: the last one the MCU applies
    sim.wait_log("led: error")
    mcu.set_mode("anc")
    events.wait("mode_changed")
    assert "command_failed" not in events.kinds()
    assert mcu.state().link_errors == 0


def test_bad_arguments_are_refused_by_name() -> None:
    mcu = McuLink("/dev/null-mcu")  # never started: validation happens in the caller
    with pytest.raises(ValueError, match="'loud'"):
        mcu.set_mode("loud")
    with pytest.raises(ValueError, match="'disco'"):
        mcu.set_led("disco")
    with pytest.raises(ValueError, match="source 'cloud'"):
        mcu.notify_mode("anc", source="cloud")
    with pytest.raises(ValueError, match="reply_timeout"):
        McuLink("/dev/ttyS1", reply_timeout=0)
    with pytest.raises(ValueError, match="port"):
        McuLink("")


def test_battery_changes_give_status_events_and_critical_refuses_anc(
    mcu: McuLink, events: Events, sim: SimDevice
) -> None:
    mcu.set_mode("anc")
    events.wait("mode_changed")
    sim.stimulus("battery 3700")  # 12 %: low
    low = events.wait("status", where=lambda e: e.data["battery_pct"] == 12)
    assert (low.data["battery_state"], low.data["battery_mv"]) == ("low", 3700)
    sim.stimulus("battery 3600")  # 4 %: critical, the MCU forces its safe state
    safety = events.wait("mode_changed")
    assert safety.data == {"mode": "off", "previous": "anc", "source": "safety"}
    assert events.wait("status", where=lambda e: e.data["battery_pct"] == 4)\
        .data["battery_state"] == "critical"
    mcu.set_mode("anc")
    failed = events.wait("command_failed")
    assert failed.data["command"] == "set_mode" and failed.data["value"] == "anc"
    assert "refused" in failed.data["error"]
    sim.stimulus("charging 1")
    assert events.wait("status", where=lambda e: e.data["charging"])\
        .data["battery_state"] == "charging"
    assert mcu.state().battery_state == "charging"


def test_mcu_reset_is_detected_and_the_link_recovers(
    mcu: McuLink, events: Events, sim: SimDevice
) -> None:
    """A quick reset: the rebooted firmware answers PINGs but sends no STATUS until HELLO."""
    mcu.set_mode("anc")
    events.wait("mode_changed")
    offset = sim.restart()
    lost = events.wait("disconnected", timeout=6)
    assert lost.data == {"reason": "status stopped"}
    back = events.wait("connected", timeout=5)
    assert back.data["after_reset"] is True and back.data["firmware_version"] == FIRMWARE_VERSION
    assert events.wait("status").data["mode"] == "off"  # a reset MCU boots in off
    state = mcu.state()
    assert (state.connected, state.resets_seen, state.mode) == (True, 1, "off")
    mcu.set_mode("anc")
    events.wait("mode_changed", where=lambda e: e.data["mode"] == "anc")
    sim.wait_log("mode: anc (source 0)", after=offset)


def test_watchdog_reset_silence_and_requests_made_meanwhile(
    mcu: McuLink, events: Events, sim: SimDevice
) -> None:
    sim.stimulus("hang adc")  # the firmware wedges; its watchdog resets it
    assert events.wait("disconnected", timeout=5).data == {"reason": "silent"}
    assert sim.wait_exit(timeout=5) == WDT_RESET_STATUS
    mcu.set_mode("transparency")  # while the MCU is away: sent after the next handshake
    mcu.set_mode("anc")  # the latest request of a kind wins
    offset = sim.restart()
    assert events.wait("connected", timeout=5).data["after_reset"] is True
    changed = events.wait("mode_changed")
    assert (changed.data["mode"], changed.data["source"]) == ("anc", "host")
    assert mcu.state().resets_seen == 1
    assert "mode: transparency" not in sim.log()[offset:]


def test_request_without_a_reply_fails_after_its_retries(sim: SimDevice) -> None:
    mcu = McuLink(sim.port, **{**TIMING, "silence_timeout": 3.0,  # type: ignore[arg-type]
                               "status_timeout": 5.0})
    mcu.start()
    try:
        events = Events(mcu)
        events.wait("connected")
        events.wait("status")
        sim.stimulus("hang adc")  # the firmware stops answering
        time.sleep(0.3)
        mcu.set_led("on")
        failed = events.wait("command_failed", timeout=2.8)
        assert failed.data == {"command": "set_led", "value": "on",
                               "error": "no reply within 0.5 s after 3 attempts"}
        assert "disconnected" not in events.kinds()  # before the silence timeout
        assert mcu.state().link_errors >= 3
        assert events.wait("disconnected", timeout=3).data == {"reason": "silent"}
    finally:
        mcu.stop()


def test_unplugged_port_is_reopened_when_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "ttyMCU"  # like /dev/serial/by-id/...: a stable name while plugged in
    mcu = McuLink(str(path), **TIMING)  # type: ignore[arg-type]
    mcu.start()  # the port does not exist yet: the link waits for it, never raises
    events = Events(mcu)
    devices: list[SimDevice] = []
    try:
        time.sleep(0.3)
        assert not mcu.state().connected
        for n in range(2):
            devices.append(SimDevice(firmware_dir("source"), tmp_path / f"firmware{n}.log"))
            tmp_link = tmp_path / "ttyMCU.new"
            tmp_link.symlink_to(devices[-1].port)
            os.replace(tmp_link, path)
            assert events.wait("connected", timeout=5).data["after_reset"] is False
            events.wait("status")
            devices[-1].unplug()
            # Like udev, remove the name with the device: the freed pty number may be
            # reused by anyone, and the link must not open someone else's port.
            path.unlink()
            assert events.wait("disconnected").data == {"reason": "port lost"}
            assert not mcu.state().connected
            time.sleep(0.3)  # reopening fails meanwhile; the link thread keeps trying
        assert mcu._thread is not None and mcu._thread.is_alive()
        assert mcu.state().resets_seen == 0
    finally:
        mcu.stop()
        for device in devices:
            device.stop()
    assert mcu._thread is None


def test_garbage_from_the_mcu_side_does_not_break_the_host(
    mcu: McuLink, events: Events, sim: SimDevice
) -> None:
    rng = np.random.default_rng(7)
    errors_before = mcu.state().link_errors
    sim.to_host(b"\x00" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes() + b"\x00")
    sim.to_host(link.encode(Frame(FrameType.STATUS, 1, b"\x01")))  # STATUS of the wrong size
    sim.to_host(link.encode(Frame(0x55, 2, b"?")))  # a type the host does not know
    sim.to_host(link.encode(Frame(FrameType.PONG, 200, b"late")))  # matches no request
    sim.press(0.08)
    assert events.wait("button").data == {"button": 0, "kind": "short"}
    assert events.wait("mode_changed").data["mode"] == "anc"
    assert mcu.state().link_errors >= errors_before + 3
    assert mcu.state().connected and "disconnected" not in events.kinds()


@pytest.mark.parametrize(
    ("percents", "states"),
    [
        ([63, 15, 17, 20], ["ok", "low", "low", "ok"]),
        ([30, 5, 7, 8, 16, 19, 20], ["ok", "critical", "critical", "low", "low", "low", "ok"]),
    ],
)
def test_battery_level_follows_the_firmware_hysteresis(
    percents: list[int], states: list[str]
) -> None:
    level: str | None = None
    seen = []
    for pct in percents:
        level = battery_level(pct, level)
        seen.append(level)
    assert seen == states
