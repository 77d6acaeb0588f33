"""Device tests: the firmware on the Unix port (or a real board with --port) over its link."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from protocol import link
from protocol.link import AckStatus, ButtonKind, Frame, FrameType, Mode, ModeSource
from protocol.vectors import load_link_frames
from tests.firmware.host import Host
from tests.firmware.sim import WDT_RESET_STATUS, SimDevice

VECTORS = load_link_frames()
# Run these on the .py sources and on the compiled x64 .mpy build.
BOTH_BUILDS = pytest.mark.parametrize("firmware_variant", ["source", "mpy-x64"], indirect=True)


def _frame(d: dict) -> tuple[int, int, str]:
    return d["type"], d["seq"], d["payload_hex"]


def _tuple(frame: Frame) -> tuple[int, int, str]:
    return frame.type, frame.seq, frame.payload.hex()


@BOTH_BUILDS
def test_hello_reports_versions_then_status(dut, firmware_variant: str) -> None:
    host = Host(dut)
    ack = host.hello()
    assert ack.protocol_version == link.PROTOCOL_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", ack.firmware_version)
    status = host.status()
    assert 0 <= status.battery_percent <= 100 and status.mode == Mode.OFF


def test_no_unsolicited_frames_before_hello(dut, stimuli: SimDevice) -> None:
    stimuli.press(0.06)
    time.sleep(0.6)  # long enough for the press to be classified and reported
    host = Host(dut)
    host.ping(b"first")  # the reply comes, and nothing unsolicited came before it
    assert [f.type for f in host.received] == [FrameType.PONG]
    host.hello()
    host.status()


@BOTH_BUILDS
@pytest.mark.parametrize("data", [b"", b"\x00\x00zero\x00", bytes(range(32))], ids=len)
def test_ping_is_echoed(host: Host, data: bytes, firmware_variant: str) -> None:
    host.ping(data)


@pytest.mark.parametrize("mode", [Mode.ANC, Mode.TRANSPARENCY, Mode.ADAPTIVE, Mode.OFF])
def test_set_mode_acks_then_reports_the_change(host: Host, mode: Mode) -> None:
    if mode == Mode.OFF:  # start from another mode so OFF is a change
        host.send(link.set_mode(host.next_seq(), Mode.ANC))
        host.expect(FrameType.MODE_CHANGED)
    seq = host.next_seq()
    host.send(link.set_mode(seq, mode))
    ack = host.next_reply()
    assert _tuple(ack) == (FrameType.ACK, seq, bytes((FrameType.SET_MODE, AckStatus.OK)).hex())
    changed = host.expect_message(link.ModeChanged)
    assert changed == link.ModeChanged(changed.seq, mode, ModeSource.HOST)
    assert host.wait_status(lambda s: s.mode == mode).mode == mode


def test_set_mode_to_the_current_mode_is_acked_without_change(host: Host) -> None:
    seq = host.next_seq()
    host.send(link.set_mode(seq, Mode.OFF))
    assert link.parse(host.next_reply()) == link.Ack(seq, FrameType.SET_MODE, AckStatus.OK)
    host.ping()
    assert FrameType.MODE_CHANGED not in [f.type for f in host.received]


def test_set_led_overrides_the_display(host: Host, stimuli: SimDevice) -> None:
    seq = host.next_seq()
    host.send(link.set_led(seq, link.LedPattern.FAST_BLINK))
    assert link.parse(host.next_reply()) == link.Ack(seq, FrameType.SET_LED, AckStatus.OK)
    stimuli.wait_log("led: fast_blink")
    host.send(link.set_led(host.next_seq(), link.LedPattern.AUTO))
    host.send(link.set_mode(host.next_seq(), Mode.ANC))
    stimuli.wait_log("led: on")


def _press_and_expect(host: Host, sim: SimDevice, hold: float, kind: ButtonKind) -> None:
    sim.press(hold)
    button = host.expect_message(link.Button)
    assert button == link.Button(button.seq, 0, kind)


@BOTH_BUILDS
def test_short_press_cycles_modes(host: Host, stimuli: SimDevice, firmware_variant: str) -> None:
    # Each mode has its LED pattern: anc on, transparency slow blink, adaptive double blink.
    for expected, led in ((Mode.ANC, "on"), (Mode.TRANSPARENCY, "slow_blink"),
                          (Mode.ADAPTIVE, "double_blink"), (Mode.OFF, "off")):
        offset = len(stimuli.log())
        _press_and_expect(host, stimuli, 0.08, ButtonKind.SHORT)
        changed = host.expect_message(link.ModeChanged)
        assert (changed.mode, changed.source) == (expected, ModeSource.BUTTON)
        stimuli.wait_log(f"led: {led}\n", after=offset)


def test_long_press_toggles_off_and_anc(host: Host, stimuli: SimDevice) -> None:
    _press_and_expect(host, stimuli, 1.0, ButtonKind.LONG)
    assert host.expect_message(link.ModeChanged).mode == Mode.ANC
    time.sleep(0.2)  # released long enough to count as a release
    _press_and_expect(host, stimuli, 1.0, ButtonKind.LONG)
    assert host.expect_message(link.ModeChanged).mode == Mode.OFF


def test_double_press_toggles_transparency(host: Host, stimuli: SimDevice) -> None:
    host.send(link.set_mode(host.next_seq(), Mode.ANC))
    host.expect(FrameType.MODE_CHANGED)
    for expected in (Mode.TRANSPARENCY, Mode.ANC):
        stimuli.press(0.08)
        time.sleep(0.08)
        _press_and_expect(host, stimuli, 0.08, ButtonKind.DOUBLE)
        assert host.expect_message(link.ModeChanged).mode == expected


def test_button_bounce_is_filtered(host: Host, stimuli: SimDevice) -> None:
    for _ in range(3):  # contact bounce: 5 ms pulses, shorter than the settle time
        stimuli.press(0.005)
        time.sleep(0.005)
    time.sleep(0.6)
    host.ping()
    assert FrameType.BUTTON not in [f.type for f in host.received]


def test_battery_thresholds_and_low_battery_behaviour(host: Host, stimuli: SimDevice) -> None:
    host.send(link.set_mode(host.next_seq(), Mode.ANC))
    host.expect(FrameType.MODE_CHANGED)
    stimuli.stimulus("battery 3700")  # 12 %: low
    low = host.wait_status(lambda s: s.battery_percent == 12)
    assert (low.mode, low.battery_mv) == (Mode.ANC, 3700)
    stimuli.wait_log("battery: low")
    stimuli.wait_log("led: low_battery")

    stimuli.stimulus("battery 3600")  # 4 %: critical -> safe state
    safety = host.expect_message(link.ModeChanged, timeout=5)
    assert (safety.mode, safety.source) == (Mode.OFF, ModeSource.SAFETY)
    assert host.wait_status(lambda s: s.battery_percent == 4).mode == Mode.OFF
    stimuli.wait_log("led: fast_blink")
    seq = host.next_seq()
    host.send(link.set_mode(seq, Mode.ANC))
    assert link.parse(host.next_reply()) == link.Ack(seq, FrameType.SET_MODE, AckStatus.REFUSED)
    _press_and_expect(host, stimuli, 0.08, ButtonKind.SHORT)  # reported, but no mode change

    stimuli.stimulus("battery 3650")  # 7 %: still below the critical clear level (8 %)
    host.wait_status(lambda s: s.battery_percent == 7)
    seq = host.next_seq()
    host.send(link.set_mode(seq, Mode.ANC))
    assert link.parse_as(host.next_reply(), link.Ack).status == AckStatus.REFUSED

    stimuli.stimulus("battery 3718")  # 17 %: critical cleared, low kept (clears at 20 %)
    host.wait_status(lambda s: s.battery_percent == 17)
    seq = host.next_seq()
    host.send(link.set_mode(seq, Mode.ANC))
    assert link.parse_as(host.next_reply(), link.Ack).status == AckStatus.OK
    assert host.expect_message(link.ModeChanged).mode == Mode.ANC
    assert "battery: ok" not in stimuli.log()

    stimuli.stimulus("battery 3760")  # 27 %: low cleared
    host.wait_status(lambda s: s.battery_percent == 27)
    stimuli.wait_log("battery: ok")
    assert [line for line in stimuli.log().splitlines() if line.startswith("mode:")] == [
        "mode: anc (source 0)", "mode: off (source 2)", "mode: anc (source 0)",
    ]


def test_implausible_battery_reading_shows_an_error(host: Host, stimuli: SimDevice) -> None:
    stimuli.stimulus("battery 1200")
    stimuli.wait_log("led: error")
    stimuli.stimulus("battery 3900")
    stimuli.wait_log("led: off")
    host.ping()


def test_wear_changes_are_debounced_and_reported(host: Host, stimuli: SimDevice) -> None:
    assert host.status().worn
    stimuli.stimulus("wear 0")  # an 80 ms glitch: shorter than the 200 ms settle time
    time.sleep(0.08)
    stimuli.stimulus("wear 1")
    time.sleep(0.5)
    host.ping()
    assert "wear: off" not in stimuli.log()
    assert all(link.parse_as(f, link.Status).worn for f in host.received
               if f.type == FrameType.STATUS)
    stimuli.stimulus("wear 0")
    assert host.wait_status(lambda s: not s.worn).worn is False
    stimuli.stimulus("wear 1")
    assert host.wait_status(lambda s: s.worn).worn is True
    assert stimuli.log().count("wear: off") == 1


def test_silent_host_shows_link_lost(host: Host, stimuli: SimDevice) -> None:
    stimuli.wait_log("link: lost", timeout=6)
    stimuli.wait_log("led: heartbeat")
    host.ping()
    stimuli.wait_log("link: back")


def test_charging_flag(host: Host, stimuli: SimDevice) -> None:
    stimuli.stimulus("charging 1")
    assert host.wait_status(lambda s: s.charging).charging


def test_status_is_also_periodic(host: Host) -> None:
    first = host.status()
    t0 = time.monotonic()
    second = host.status(timeout=4)
    assert second.seq != first.seq and time.monotonic() - t0 > 1.0


@BOTH_BUILDS
@pytest.mark.parametrize(
    "case", VECTORS["malformed"], ids=[c["name"] for c in VECTORS["malformed"]]
)
def test_malformed_input_is_nacked_or_skipped(host: Host, case: dict, firmware_variant) -> None:
    host.send_raw(bytes.fromhex(case["wire_hex"]))
    replies = [_tuple(host.next_reply()) for _ in case["firmware_replies"]]
    assert replies == [_frame(r) for r in case["firmware_replies"]]
    host.ping(b"still there")  # the link is not wedged, and nothing else was replied


@pytest.mark.parametrize(
    "case",
    [c for c in VECTORS["valid"] if c["firmware_reply"]],
    ids=[c["name"] for c in VECTORS["valid"] if c["firmware_reply"]],
)
def test_valid_frames_get_the_reference_reply(host: Host, case: dict) -> None:
    host.send_raw(bytes.fromhex(case["wire_hex"]))
    assert _tuple(host.next_reply()) == _frame(case["firmware_reply"])
    host.ping()


def test_random_garbage_never_wedges_the_link(host: Host) -> None:
    rng = np.random.default_rng(2024)
    for _ in range(8):
        host.send_raw(rng.integers(0, 256, 700, dtype=np.uint8).tobytes() + b"\x00")
        seq = host.next_seq()
        host.send(link.ping(seq, b"alive"))
        replies = [host.next_reply()]
        while replies[-1].type != FrameType.PONG:
            replies.append(host.next_reply())
        # Zero bytes in the garbage cut it into short packets that are NACKed; nothing else.
        assert {f.type for f in replies[:-1]} <= {FrameType.NACK}
        assert (replies[-1].seq, replies[-1].payload) == (seq, b"alive")


@BOTH_BUILDS
def test_hung_task_ends_in_a_watchdog_reset(
    dut, stimuli: SimDevice, firmware_variant: str
) -> None:
    host = Host(dut)
    host.hello()
    stimuli.stimulus("hang adc")
    assert stimuli.wait_exit(timeout=5) == WDT_RESET_STATUS
    assert "wdt: reset" in stimuli.log()
    # The "board" boots again on the same port and answers a new HELLO.
    offset = stimuli.restart()
    assert host.hello().firmware_version
    host.ping()
    assert "wdt: reset" not in stimuli.log()[offset:]


def test_failed_task_shows_an_error_and_ends_in_a_watchdog_reset(
    host: Host, stimuli: SimDevice
) -> None:
    """A task that dies (here: the ADC driver raises) while the main loop stays healthy."""
    stimuli.stimulus("fail adc")
    stimuli.wait_log("task sensors failed: OSError(5,)")
    stimuli.wait_log("led: error")
    host.ping(b"main loop alive")  # the link and the other tasks still run
    stimuli.wait_log("supervisor: task sensors stalled; watchdog no longer fed")
    assert stimuli.wait_exit(timeout=5) == WDT_RESET_STATUS
    assert "wdt: reset" in stimuli.log()


def test_host_that_stops_reading_does_not_stall_the_firmware(stimuli: SimDevice) -> None:
    """Replies pile up while the host does not read; the firmware keeps running (no watchdog
    reset, surplus frames dropped from its bounded queue) and answers once the host reads."""
    import serial

    with serial.Serial(stimuli.port, timeout=0.5, write_timeout=10) as port:
        port.write(link.encode(link.hello(1)))
        flood = b"".join(link.encode(link.ping(i & 0xFF, bytes(32))) for i in range(6000))
        port.write(flood)  # ~240 KB of PONGs to come: more than the pty buffers
        time.sleep(1.5)  # longer than the sim watchdog timeout
        assert stimuli.proc.poll() is None, stimuli.log()
        port.reset_input_buffer()
        decoder, pongs = link.Decoder(), list[bytes]()
        port.write(link.encode(link.ping(7, b"after the flood")))
        deadline = time.monotonic() + 5
        while b"after the flood" not in pongs and time.monotonic() < deadline:
            pongs += [f.payload for f in decoder.feed(port.read(4096)) if isinstance(f, Frame)]
        assert b"after the flood" in pongs
    assert "wdt: reset" not in stimuli.log()
