"""Host side of the MCU link (ARCHITECTURE §6): the edge agent's view of the headset MCU.

`McuLink` owns one serial port (pyserial) and one background thread that does all of its
I/O; frames are built and parsed by `protocol.link`, the same codec the firmware is tested
against. Nothing here raises into the caller's thread once the link is started: failures
become events, counters and log lines, and the thread keeps trying.

    link = McuLink("/dev/ttyS1")                # 115200 baud, as the firmware's UART1
    link.start()
    link.set_mode("anc")                       # returns at once; the result arrives as events
    link.notify_mode("transparency")           # an emergency switched the headset
    event = link.events.get(timeout=1.0)       # McuEvent(kind="mode_changed", data={...})
    state = link.state()                       # McuState snapshot (frozen)
    reported_device = state_for_shadow(state)  # the shadow's reported.device section
    link.stop()

API (stable):

- ``McuLink(port, baudrate=115200, **timing)``; ``start()``, ``stop()``.
- ``set_mode(mode)``, ``notify_mode(mode, source="safety")``, ``set_led(pattern)``: validate
  their argument (``ValueError`` naming it) and queue the request. While the MCU is not
  connected the latest request of each kind is kept and sent after the next handshake.
  Requests are retried on a reply timeout; a refusal (ACK status 1, e.g. the MCU's safety
  lock on a critical battery), a NACK or running out of retries gives a
  ``command_failed`` event.
- ``state() -> McuState``: connected, firmware version, mode, battery (mV, %, state),
  worn, last button press, resets seen, link errors. While disconnected the fields keep
  their last known values; ``connected`` says whether they are current. ``battery_state``
  is "charging" while the charger runs, else "ok"/"low"/"critical" with the firmware's
  thresholds (low at <= 15 %, cleared at >= 20 %; critical at <= 5 %, cleared at >= 8 %).
- ``state_for_shadow(state)``: the MCU keys of the shadow's ``reported.device``.
- ``events``: a bounded ``queue.Queue[McuEvent]`` (the oldest event is dropped when the
  consumer falls behind, counted in ``events_dropped``). Kinds and ``data`` keys:

  ============== ============================================================================
  connected      firmware_version, protocol_version, after_reset (bool); a status event
                 with the MCU's mode and battery follows
  disconnected   reason: "silent" (no reply), "status stopped" (the MCU no longer reports:
                 it has reset), "port lost" (read/write/open error), "stopped"
  button         button (int), kind ("short", "long", "double")
  mode_changed   mode, previous, source ("host", "button", "safety" — as the MCU reports
                 it) and, for changes the host asked for, requested_by ("host"/"safety")
  status         battery_pct, battery_mv, battery_state, worn, charging, mode; sent on
                 connect and whenever one of them except battery_mv changes
  command_failed command ("set_mode", "set_led"), value, error (a sentence)
  ============== ============================================================================

Link behaviour: the host speaks first (HELLO, retried with exponential backoff), then sends
a PING every ``ping_interval`` s. The session is declared lost when nothing has been
received for ``silence_timeout`` s (the MCU hangs or was reset and is still booting) or
when its periodic STATUS has stopped for ``status_timeout`` s (the MCU rebooted quickly and
now waits for a HELLO: it answers requests but sends nothing unsolicited); either way a
``disconnected`` event is followed by a new handshake and ``resets_seen`` counts it. A
port that fails (cable pulled) is closed and reopened with backoff until it returns.
Replies are matched to requests by ``seq``; requests go out in order with at most
``MAX_IN_FLIGHT`` unanswered, so a burst of calls cannot overrun the MCU's transmit queue.

§6 has no way to tell the MCU *why* the host changes the mode: ``notify_mode`` sends a
SET_MODE like ``set_mode``, the MCU reports the change with source "host", and the link
adds ``requested_by="safety"`` to the ``mode_changed`` event.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import serial

from protocol import link
from protocol.link import AckStatus, Frame, FrameType, LedPattern, Mode

log = logging.getLogger(__name__)

__all__ = [
    "BATTERY_STATES", "LED_PATTERNS", "MODES", "ButtonPress", "McuEvent", "McuLink", "McuState",
    "state_for_shadow",
]

MODES = tuple(m.name.lower() for m in Mode)  # off, anc, transparency, adaptive
LED_PATTERNS = tuple(p.name.lower() for p in LedPattern)
REQUEST_SOURCES = ("host", "safety")
BATTERY_STATES = ("ok", "low", "critical", "charging")
# The firmware's battery levels (firmware/battery.py): enter at or below, clear at or above.
LOW_ENTER_PCT, LOW_CLEAR_PCT = 15, 20
CRITICAL_ENTER_PCT, CRITICAL_CLEAR_PCT = 5, 8
EVENT_QUEUE_SIZE = 1000
# Requests sent and not yet answered. The firmware queues at most 32 frames for its UART
# (the oldest is dropped beyond that), so the host never has more than a few outstanding.
MAX_IN_FLIGHT = 4


@dataclass(frozen=True)
class ButtonPress:
    button: int
    kind: str  # "short", "long", "double"
    at: float  # time.time() when the host received it


@dataclass(frozen=True)
class McuState:
    connected: bool = False
    firmware_version: str | None = None
    mode: str | None = None
    battery_mv: int | None = None
    battery_pct: int | None = None
    battery_state: str | None = None  # one of BATTERY_STATES
    worn: bool | None = None
    last_button: ButtonPress | None = None
    resets_seen: int = 0
    link_errors: int = 0


@dataclass(frozen=True)
class McuEvent:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def state_for_shadow(state: McuState) -> dict[str, Any]:
    """The MCU part of the shadow's ``reported.device`` (ARCHITECTURE §4).

    Unknown values are None, which removes a stale key from the reported document.
    """
    return {
        "mcu_connected": state.connected,
        "firmware_version": state.firmware_version,
        "mcu_mode": state.mode,
        "battery_percent": state.battery_pct,
        "battery_mv": state.battery_mv,
        "battery_state": state.battery_state,
        "worn": state.worn,
        "mcu_resets": state.resets_seen,
        "mcu_link_errors": state.link_errors,
    }


def battery_level(percent: int, previous: str | None) -> str:
    """"ok", "low" or "critical" with the firmware's hysteresis."""
    if percent <= CRITICAL_ENTER_PCT:
        return "critical"
    if previous == "critical" and percent < CRITICAL_CLEAR_PCT:
        return "critical"
    if percent <= LOW_ENTER_PCT:
        return "low"
    if previous in ("low", "critical") and percent < LOW_CLEAR_PCT:
        return "low"
    return "ok"


class _Backoff:
    """Exponential backoff: initial, doubling up to maximum."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum = initial, maximum
        self.delay = initial

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.maximum, self.delay * 2)
        return delay

    def reset(self) -> None:
        self.delay = self.initial


@dataclass
class _Request:
    """One request the host wants answered: SET_MODE/SET_LED from the API, or HELLO/PING."""

    command: str  # "hello", "ping", "set_mode", "set_led"
    frame_type: int
    value: int
    requested_by: str = "host"
    seq: int = -1
    attempts: int = 0
    deadline: float = 0.0


class _SessionLost(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class McuLink:
    """The MCU link: handshake, keepalive, reset and unplug recovery, requests and events."""

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        ping_interval: float = 1.0,
        reply_timeout: float = 0.5,
        retries: int = 3,
        silence_timeout: float = 3.0,
        status_timeout: float = 5.0,
        reopen_backoff: tuple[float, float] = (0.1, 2.0),
        hello_backoff: tuple[float, float] = (0.1, 1.0),
        poll_interval: float = 0.02,
    ) -> None:
        if not port:
            raise ValueError("port must name a serial device, e.g. /dev/ttyS1")
        if baudrate <= 0:
            raise ValueError(f"baudrate must be positive, got {baudrate}")
        for name, value in (("ping_interval", ping_interval), ("reply_timeout", reply_timeout),
                            ("silence_timeout", silence_timeout),
                            ("status_timeout", status_timeout), ("poll_interval", poll_interval)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0 s, got {value}")
        if retries < 1:
            raise ValueError(f"retries must be >= 1, got {retries}")
        self.port = port
        self.baudrate = baudrate
        self.ping_interval = ping_interval
        self.reply_timeout = reply_timeout
        self.retries = retries
        self.silence_timeout = silence_timeout
        self.status_timeout = status_timeout
        self.poll_interval = poll_interval
        self._reopen = _Backoff(*reopen_backoff)
        self._hello_backoff = _Backoff(*hello_backoff)
        self.events: queue.Queue[McuEvent] = queue.Queue(EVENT_QUEUE_SIZE)
        self.events_dropped = 0
        self._lock = threading.Lock()
        self._state = McuState()
        self._level: str | None = None
        self._last_status_key: tuple[Any, ...] | None = None
        self._commands: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._deferred: dict[str, _Request] = {}
        self._backlog: collections.deque[_Request] = collections.deque()
        self._inflight: dict[int, _Request] = {}
        self._expected_mode: tuple[str, str] | None = None
        self._after_reset = False
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- public API ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the link thread (it opens the port itself, retrying until it can)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"mcu-link {self.port}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def state(self) -> McuState:
        with self._lock:
            return self._state

    def set_mode(self, mode: str) -> None:
        """Ask the MCU to switch to `mode` (one of MODES)."""
        self._commands.put(_Request("set_mode", FrameType.SET_MODE, _mode_value(mode)))

    def notify_mode(self, mode: str, source: str = "safety") -> None:
        """Tell the MCU the headset switched to `mode` on the host's own decision (`source`)."""
        if source not in REQUEST_SOURCES:
            raise ValueError(f"source {source!r} is not one of {REQUEST_SOURCES}")
        self._commands.put(
            _Request("set_mode", FrameType.SET_MODE, _mode_value(mode), requested_by=source)
        )

    def set_led(self, pattern: str) -> None:
        """Override the MCU's LED with `pattern` (one of LED_PATTERNS; "auto" hands it back)."""
        if pattern not in LED_PATTERNS:
            raise ValueError(f"LED pattern {pattern!r} is not one of {LED_PATTERNS}")
        self._commands.put(
            _Request("set_led", FrameType.SET_LED, LED_PATTERNS.index(pattern))
        )

    # --- state and events ------------------------------------------------------------------

    def _update(self, **changes: Any) -> McuState:
        with self._lock:
            self._state = replace(self._state, **changes)
            return self._state

    def _emit(self, kind: str, /, **data: Any) -> None:
        event = McuEvent(kind, data)
        while True:
            try:
                self.events.put_nowait(event)
                return
            except queue.Full:
                try:
                    self.events.get_nowait()
                    self.events_dropped += 1
                except queue.Empty:
                    pass

    def _link_error(self, what: str) -> None:
        with self._lock:
            self._state = replace(self._state, link_errors=self._state.link_errors + 1)
        log.debug("mcu link: %s", what)

    # --- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                port = serial.Serial(self.port, self.baudrate, timeout=self.poll_interval,
                                     write_timeout=1.0, exclusive=True)
            except (serial.SerialException, OSError, ValueError) as exc:
                delay = self._reopen.next()
                # Loud once, then quiet while the port stays away.
                level = logging.WARNING if not failing else logging.DEBUG
                log.log(level, "mcu link: cannot open %s (%s); retrying", self.port, exc)
                failing = True
                self._stop.wait(delay)
                continue
            failing = False
            reason = "stopped"
            try:
                reason = self._serve(port)
            except (serial.SerialException, OSError) as exc:
                log.warning("mcu link: port %s failed: %s", self.port, exc)
                reason = "port lost"
            except Exception:  # noqa: BLE001 - the link thread must outlive any bug report
                log.exception("mcu link: unexpected error; reopening the port")
                reason = "port lost"
            finally:
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()
            self._disconnect(reason)
            if not self._stop.is_set():
                self._stop.wait(self._reopen.next())

    def _serve(self, port: serial.Serial) -> str:
        """Handshake and serve sessions on an open port until stop or a port error."""
        decoder = link.Decoder()
        while not self._stop.is_set():
            try:
                after_hello = self._handshake(port, decoder)
                if self._stop.is_set():
                    break
                self._reopen.reset()
                self._session(port, decoder, after_hello)
            except _SessionLost as lost:
                self._disconnect(lost.reason)
                if lost.reason in ("silent", "status stopped"):
                    self._after_reset = True
                    with self._lock:
                        self._state = replace(self._state, resets_seen=self._state.resets_seen + 1)
        return "stopped"

    def _disconnect(self, reason: str) -> None:
        for request in self._inflight.values():  # unanswered requests wait for the next session
            if request.command in ("set_mode", "set_led"):
                self._deferred.setdefault(request.command, request)
        self._inflight.clear()
        while self._backlog:  # newer than those in flight: the latest of each kind wins
            request = self._backlog.popleft()
            self._deferred[request.command] = request
        self._expected_mode = None
        if self.state().connected:
            self._update(connected=False)
            log.info("mcu link: disconnected (%s)", reason)
            self._emit("disconnected", reason=reason)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        if self._seq in self._inflight:  # 256 requests in flight cannot happen; keep it safe
            self._inflight.pop(self._seq)
        return self._seq

    def _send(self, port: serial.Serial, request: _Request, now: float) -> None:
        if request.seq < 0:
            request.seq = self._next_seq()
        request.attempts += 1
        request.deadline = now + self.reply_timeout
        self._inflight[request.seq] = request
        if request.frame_type == FrameType.PING:
            frame = link.ping(request.seq, request.value.to_bytes(4, "big"))
        else:
            frame = Frame(request.frame_type, request.seq, bytes((request.value,)))
        port.write(link.encode(frame))

    def _read(self, port: serial.Serial, decoder: link.Decoder) -> list[Frame]:
        data = port.read(max(1, port.in_waiting))
        frames = []
        for item in decoder.feed(data):
            if isinstance(item, link.DecodeError):
                self._link_error(f"dropped bytes: {item}")
            else:
                frames.append(item)
        return frames

    def _handshake(self, port: serial.Serial, decoder: link.Decoder) -> list[Frame]:
        """HELLO until a HELLO_ACK arrives (backoff between attempts).

        Returns the frames read together with the HELLO_ACK that came after it (the
        firmware's first STATUS), for the session to handle.
        """
        self._hello_backoff.reset()
        hello: _Request | None = None
        next_try = time.monotonic()
        while not self._stop.is_set():
            self._defer_commands()
            now = time.monotonic()
            if now >= next_try:
                if hello is not None:
                    self._inflight.pop(hello.seq, None)
                hello = _Request("hello", FrameType.HELLO, link.PROTOCOL_VERSION)
                self._send(port, hello, now)
                next_try = now + self.reply_timeout + self._hello_backoff.next()
            frames = self._read(port, decoder)
            for i, frame in enumerate(frames):
                if hello is not None and frame.type == FrameType.HELLO_ACK \
                        and frame.seq == hello.seq:
                    self._inflight.pop(hello.seq, None)
                    if self._connected(frame):
                        return frames[i + 1 :]
                # Anything else before the HELLO_ACK is a leftover of an earlier session.
        return []

    def _connected(self, frame: Frame) -> bool:
        try:
            ack = link.parse_as(frame, link.HelloAck)
        except link.LinkError as exc:
            self._link_error(f"bad HELLO_ACK: {exc}")
            return False
        if ack.protocol_version != link.PROTOCOL_VERSION:
            self._link_error(f"MCU speaks protocol {ack.protocol_version}, "
                             f"host {link.PROTOCOL_VERSION}")
            return False
        after_reset, self._after_reset = self._after_reset, False
        self._update(connected=True, firmware_version=ack.firmware_version)
        self._last_status_key = None
        log.info("mcu link: connected to firmware %s on %s", ack.firmware_version, self.port)
        self._emit("connected", firmware_version=ack.firmware_version,
                   protocol_version=ack.protocol_version, after_reset=after_reset)
        for request in self._deferred.values():
            request.seq, request.attempts = -1, 0
            self._commands.put(request)
        self._deferred.clear()
        return True

    def _session(self, port: serial.Serial, decoder: link.Decoder, first: list[Frame]) -> None:
        now = time.monotonic()
        last_rx = last_status = now
        next_ping = now + self.ping_interval
        pings = 0
        for frame in first:
            self._on_frame(frame)
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_rx > self.silence_timeout:
                raise _SessionLost("silent")
            if now - last_status > self.status_timeout:
                raise _SessionLost("status stopped")
            if now >= next_ping:
                pings += 1
                self._send(port, _Request("ping", FrameType.PING, pings & 0xFFFFFFFF), now)
                next_ping = now + self.ping_interval
            self._send_commands(port, now)
            self._expire(port, now)
            frames = self._read(port, decoder)
            if frames:
                last_rx = time.monotonic()
            for frame in frames:
                if frame.type == FrameType.STATUS:
                    last_status = last_rx
                self._on_frame(frame)

    def _defer_commands(self) -> None:
        """While not connected, keep only the latest request of each kind."""
        while True:
            try:
                request = self._commands.get_nowait()
            except queue.Empty:
                return
            self._deferred[request.command] = request

    def _send_commands(self, port: serial.Serial, now: float) -> None:
        """Send queued requests, at most MAX_IN_FLIGHT unanswered at a time."""
        while True:
            try:
                self._backlog.append(self._commands.get_nowait())
            except queue.Empty:
                break
        busy = sum(1 for r in self._inflight.values() if r.command in ("set_mode", "set_led"))
        while self._backlog and busy < MAX_IN_FLIGHT:
            self._send(port, self._backlog.popleft(), now)
            busy += 1

    def _expire(self, port: serial.Serial, now: float) -> None:
        for request in [r for r in self._inflight.values() if now >= r.deadline]:
            if request.attempts < self.retries and request.command != "ping":
                self._link_error(f"no reply to {request.command} seq {request.seq}; resending")
                self._send(port, request, now)
                continue
            self._inflight.pop(request.seq, None)
            if request.command == "ping":
                self._link_error(f"no PONG for seq {request.seq} within {self.reply_timeout} s")
            else:
                self._link_error(f"no reply to {request.command} seq {request.seq}")
                self._failed(request, f"no reply within {self.reply_timeout} s after "
                                      f"{request.attempts} attempts")

    def _failed(self, request: _Request, error: str) -> None:
        value = (MODES if request.command == "set_mode" else LED_PATTERNS)[request.value]
        log.warning("mcu link: %s(%s) failed: %s", request.command, value, error)
        self._emit("command_failed", command=request.command, value=value, error=error)

    # --- incoming frames -------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        try:
            message = link.parse(frame)
        except link.LinkError as exc:
            self._link_error(f"unusable frame {frame.type_name}: {exc}")
            return
        if isinstance(message, (link.Ack, link.Nack, link.Pong, link.HelloAck)):
            self._on_reply(message)
        elif isinstance(message, link.Status):
            self._on_status(message)
        elif isinstance(message, link.Button):
            kind = message.kind.name.lower()
            self._update(last_button=ButtonPress(message.button, kind, time.time()))
            self._emit("button", button=message.button, kind=kind)
        elif isinstance(message, link.ModeChanged):
            self._on_mode_changed(message)

    def _on_reply(self, message: link.Ack | link.Nack | link.Pong | link.HelloAck) -> None:
        request = self._inflight.pop(message.seq, None)
        if request is None:
            log.debug("mcu link: reply seq %d matches no request (late)", message.seq)
            return
        if isinstance(message, link.Pong) and message.data != request.value.to_bytes(4, "big"):
            self._link_error(f"PONG seq {message.seq} does not echo the PING payload")
        elif isinstance(message, link.Nack):
            self._link_error(f"{request.command} NACKed: {message.reason.name}")
            if request.command in ("set_mode", "set_led"):
                self._failed(request, f"NACK {message.reason.name.lower()}")
        elif isinstance(message, link.Ack) and request.command in ("set_mode", "set_led"):
            if message.status == AckStatus.OK:
                if request.command == "set_mode":
                    self._expected_mode = (MODES[request.value], request.requested_by)
            elif message.status == AckStatus.REFUSED:
                self._failed(request, "refused by the MCU (safety lock: critical battery)")
            else:
                self._failed(request, f"ACK status {message.status}")

    def _on_status(self, status: link.Status) -> None:
        self._level = battery_level(status.battery_percent, self._level)
        battery_state = "charging" if status.charging else self._level
        mode = MODES[status.mode]
        self._update(battery_pct=status.battery_percent, battery_mv=status.battery_mv,
                     battery_state=battery_state, worn=status.worn, mode=mode)
        key = (status.battery_percent, battery_state, status.worn, status.charging, mode)
        if key != self._last_status_key:
            self._last_status_key = key
            self._emit("status", battery_pct=status.battery_percent,
                       battery_mv=status.battery_mv, battery_state=battery_state,
                       worn=status.worn, charging=status.charging, mode=mode)

    def _on_mode_changed(self, message: link.ModeChanged) -> None:
        mode = MODES[message.mode]
        previous = self.state().mode
        self._update(mode=mode)
        source = message.source.name.lower()
        data: dict[str, Any] = {"mode": mode, "previous": previous, "source": source}
        if source == "host" and self._expected_mode and self._expected_mode[0] == mode:
            data["requested_by"] = self._expected_mode[1]
            self._expected_mode = None
        self._emit("mode_changed", **data)


def _mode_value(mode: str) -> int:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    return MODES.index(mode)

