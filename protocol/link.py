"""MCU link protocol (ARCHITECTURE §6): the host side of the UART link to the headset MCU.

A frame is ``type:u8 | seq:u8 | payload | crc:u16 BE`` with CRC-16/CCITT-FALSE over
``type|seq|payload``, COBS-encoded and terminated by one ``0x00``. The firmware in
``firmware/`` implements the same contract; both sides are checked against
``protocol/vectors/link_frames.json``.

Typical use on the host::

    from protocol import link
    port.write(link.encode(link.hello(seq=1)))
    decoder = link.Decoder()
    for item in decoder.feed(port.read(256)):
        if isinstance(item, link.DecodeError):
            log.warning("link: %s", item)
        else:
            message = link.parse(item)      # HelloAck, Status, Button, ...
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TypeVar

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 250
MAX_PING_PAYLOAD = 32
HEADER_SIZE = 2  # type, seq
CRC_SIZE = 2
MIN_FRAME = HEADER_SIZE + CRC_SIZE
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE  # 254 bytes before COBS
# COBS adds one code byte per started block of 254 bytes, plus the leading code byte.
MAX_ENCODED = MAX_FRAME + 2  # 256 bytes between delimiters
DELIMITER = 0x00


class FrameType(IntEnum):
    HELLO = 0x01
    PING = 0x02
    SET_MODE = 0x03
    SET_LED = 0x04
    STATUS = 0x10
    BUTTON = 0x11
    MODE_CHANGED = 0x12
    NACK = 0x7F
    ACK = 0x80
    HELLO_ACK = 0x81
    PONG = 0x82


HOST_TO_FIRMWARE = frozenset(
    {FrameType.HELLO, FrameType.PING, FrameType.SET_MODE, FrameType.SET_LED}
)
FIRMWARE_TO_HOST = frozenset(set(FrameType) - HOST_TO_FIRMWARE)


class Mode(IntEnum):
    OFF = 0
    ANC = 1
    TRANSPARENCY = 2
    ADAPTIVE = 3


class ModeSource(IntEnum):
    HOST = 0
    BUTTON = 1
    SAFETY = 2


class ButtonKind(IntEnum):
    SHORT = 0
    LONG = 1
    DOUBLE = 2


class NackReason(IntEnum):
    CRC = 1
    UNKNOWN_TYPE = 2
    BAD_LENGTH = 3
    BAD_VALUE = 4


class AckStatus(IntEnum):
    OK = 0
    # The request was valid but a safety state forbids it (e.g. ANC on a critical battery).
    REFUSED = 1


class LedPattern(IntEnum):
    """SET_LED patterns. AUTO hands the LED back to the firmware's own state display."""

    AUTO = 0
    OFF = 1
    ON = 2
    SLOW_BLINK = 3
    FAST_BLINK = 4
    DOUBLE_BLINK = 5
    HEARTBEAT = 6
    LOW_BATTERY = 7
    ERROR = 8


class StatusFlag(IntEnum):
    WORN = 0x01
    CHARGING = 0x02


class ErrorReason(StrEnum):
    """Why a run of bytes between two delimiters is not a frame."""

    COBS = "cobs"  # not valid COBS
    TRUNCATED = "truncated"  # fewer than type+seq+crc bytes
    CRC = "crc"  # checksum mismatch
    OVERSIZE = "oversize"  # no delimiter within MAX_ENCODED bytes


class LinkError(ValueError):
    """A frame or payload that does not follow the link contract."""


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.type <= 0xFF:
            raise LinkError(f"frame type {self.type} is not a u8")
        if not 0 <= self.seq <= 0xFF:
            raise LinkError(f"frame seq {self.seq} is not a u8")
        if len(self.payload) > MAX_PAYLOAD:
            raise LinkError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")

    @property
    def type_name(self) -> str:
        try:
            return FrameType(self.type).name
        except ValueError:
            return f"0x{self.type:02X}"


@dataclass(frozen=True)
class DecodeError:
    """A rejected run of bytes; `raw` is what was received between delimiters (capped)."""

    reason: ErrorReason
    detail: str
    raw: bytes = b""

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


# --- CRC-16/CCITT-FALSE -------------------------------------------------------------------

def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout."""
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


# --- COBS ---------------------------------------------------------------------------------

def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing; the result contains no 0x00 (delimiter not added)."""
    out = bytearray([0])
    code_index, code = 0, 1
    for byte in data:
        if byte:
            out.append(byte)
            code += 1
        if not byte or code == 0xFF:
            out[code_index] = code
            code_index, code = len(out), 1
            out.append(0)
    out[code_index] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode; raises LinkError naming the offending byte position."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise LinkError(f"COBS: zero byte at offset {i}")
        end = i + code
        if end > n:
            raise LinkError(f"COBS: block at offset {i} needs {code - 1} bytes, {n - i - 1} left")
        block = data[i + 1 : end]
        if 0 in block:
            raise LinkError(f"COBS: zero byte inside block at offset {i}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# --- frames -------------------------------------------------------------------------------

def frame_bytes(frame: Frame) -> bytes:
    """The unencoded frame: type|seq|payload|crc."""
    body = bytes((frame.type, frame.seq)) + frame.payload
    return body + crc16(body).to_bytes(2, "big")


def encode(frame: Frame) -> bytes:
    """Wire bytes of one frame: COBS(type|seq|payload|crc) + 0x00."""
    return cobs_encode(frame_bytes(frame)) + b"\x00"


def decode(packet: bytes) -> Frame:
    """Decode the bytes between two delimiters (delimiter excluded); raises FrameDecodeError."""
    if len(packet) > MAX_ENCODED:
        raise FrameDecodeError(
            DecodeError(ErrorReason.OVERSIZE, f"{len(packet)} bytes > {MAX_ENCODED}", packet)
        )
    try:
        raw = cobs_decode(packet)
    except LinkError as exc:
        raise FrameDecodeError(DecodeError(ErrorReason.COBS, str(exc), packet)) from None
    if len(raw) < MIN_FRAME:
        raise FrameDecodeError(
            DecodeError(ErrorReason.TRUNCATED, f"{len(raw)} bytes < {MIN_FRAME}", packet)
        )
    if len(raw) > MAX_FRAME:
        raise FrameDecodeError(
            DecodeError(ErrorReason.OVERSIZE, f"{len(raw)} frame bytes > {MAX_FRAME}", packet)
        )
    got = int.from_bytes(raw[-2:], "big")
    want = crc16(raw[:-2])
    if got != want:
        raise FrameDecodeError(
            DecodeError(ErrorReason.CRC, f"crc 0x{got:04X} != computed 0x{want:04X}", packet)
        )
    return Frame(raw[0], raw[1], raw[2:-2])


class FrameDecodeError(LinkError):
    def __init__(self, error: DecodeError) -> None:
        super().__init__(str(error))
        self.error = error


class Decoder:
    """Streaming decoder: feed it bytes as they arrive, get frames and errors back.

    Bytes are split at 0x00. A run longer than MAX_ENCODED is dropped up to the next
    delimiter and reported once as OVERSIZE, so garbage never wedges the stream.
    Empty runs (two delimiters in a row) are ignored: senders may use 0x00 to resync.
    """

    def __init__(self, max_encoded: int = MAX_ENCODED) -> None:
        self.max_encoded = max_encoded
        self._buf = bytearray()
        self._skipping = False
        self.frames = 0
        self.errors = 0

    def feed(self, data: bytes) -> list[Frame | DecodeError]:
        return list(self.iter_feed(data))

    def iter_feed(self, data: bytes) -> Iterator[Frame | DecodeError]:
        for chunk_end, chunk in _split_keep(data):
            if self._skipping:
                if chunk_end:
                    self._skipping = False
                continue
            self._buf += chunk
            if len(self._buf) > self.max_encoded:
                self.errors += 1
                head = bytes(self._buf[:16])
                self._buf.clear()
                self._skipping = not chunk_end
                yield DecodeError(
                    ErrorReason.OVERSIZE, f"no delimiter within {self.max_encoded} bytes", head
                )
                continue
            if not chunk_end:
                continue
            packet = bytes(self._buf)
            self._buf.clear()
            if not packet:
                continue
            try:
                frame = decode(packet)
            except FrameDecodeError as exc:
                self.errors += 1
                yield exc.error
            else:
                self.frames += 1
                yield frame

    @property
    def pending(self) -> int:
        """Bytes buffered toward the next frame."""
        return len(self._buf)


def _split_keep(data: bytes) -> Iterator[tuple[bool, bytes]]:
    """Yield (ends_with_delimiter, bytes_before_it) pieces of `data`."""
    start = 0
    while True:
        end = data.find(b"\x00", start)
        if end < 0:
            if start < len(data):
                yield False, data[start:]
            return
        yield True, data[start:end]
        start = end + 1


# --- typed messages -----------------------------------------------------------------------

@dataclass(frozen=True)
class HelloAck:
    seq: int
    protocol_version: int
    firmware_version: str


@dataclass(frozen=True)
class Pong:
    seq: int
    data: bytes


@dataclass(frozen=True)
class Ack:
    seq: int
    acked_type: int
    status: int


@dataclass(frozen=True)
class Nack:
    seq: int
    reason: NackReason


@dataclass(frozen=True)
class Status:
    seq: int
    battery_percent: int
    worn: bool
    charging: bool
    mode: Mode
    battery_mv: int


@dataclass(frozen=True)
class Button:
    seq: int
    button: int
    kind: ButtonKind


@dataclass(frozen=True)
class ModeChanged:
    seq: int
    mode: Mode
    source: ModeSource


Message = HelloAck | Pong | Ack | Nack | Status | Button | ModeChanged
MessageT = TypeVar("MessageT", HelloAck, Pong, Ack, Nack, Status, Button, ModeChanged)
MESSAGE_TYPES: dict[type, FrameType] = {
    HelloAck: FrameType.HELLO_ACK, Pong: FrameType.PONG, Ack: FrameType.ACK,
    Nack: FrameType.NACK, Status: FrameType.STATUS, Button: FrameType.BUTTON,
    ModeChanged: FrameType.MODE_CHANGED,
}


def _expect_len(frame: Frame, n: int) -> None:
    if len(frame.payload) != n:
        raise LinkError(
            f"{frame.type_name} payload must be {n} bytes, got {len(frame.payload)}"
        )


def _enum(kind: type[IntEnum], value: int, what: str) -> IntEnum:
    try:
        return kind(value)
    except ValueError:
        raise LinkError(f"{what} {value} is not one of {[m.value for m in kind]}") from None


def parse(frame: Frame) -> Message:
    """Typed view of a firmware→host frame; raises LinkError naming what is wrong."""
    t, p = frame.type, frame.payload
    if t == FrameType.HELLO_ACK:
        if len(p) < 1:
            raise LinkError("HELLO_ACK payload must hold the protocol version")
        try:
            version = p[1:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LinkError(f"HELLO_ACK firmware version is not UTF-8: {exc}") from None
        return HelloAck(frame.seq, p[0], version)
    if t == FrameType.PONG:
        return Pong(frame.seq, p)
    if t == FrameType.ACK:
        _expect_len(frame, 2)
        return Ack(frame.seq, p[0], p[1])
    if t == FrameType.NACK:
        _expect_len(frame, 1)
        return Nack(frame.seq, NackReason(_enum(NackReason, p[0], "NACK reason")))
    if t == FrameType.STATUS:
        _expect_len(frame, 5)
        pct, flags, mode, mv = struct.unpack(">BBBH", p)
        return Status(
            frame.seq, pct, bool(flags & StatusFlag.WORN), bool(flags & StatusFlag.CHARGING),
            Mode(_enum(Mode, mode, "STATUS mode")), mv,
        )
    if t == FrameType.BUTTON:
        _expect_len(frame, 2)
        return Button(frame.seq, p[0], ButtonKind(_enum(ButtonKind, p[1], "BUTTON kind")))
    if t == FrameType.MODE_CHANGED:
        _expect_len(frame, 2)
        return ModeChanged(
            frame.seq,
            Mode(_enum(Mode, p[0], "MODE_CHANGED mode")),
            ModeSource(_enum(ModeSource, p[1], "MODE_CHANGED source")),
        )
    raise LinkError(f"frame type {frame.type_name} is not a firmware→host message")


def parse_as(frame: Frame, kind: type[MessageT]) -> MessageT:
    """parse() that also checks the message is a `kind` (e.g. link.Status)."""
    message = parse(frame)
    if not isinstance(message, kind):
        raise LinkError(f"expected {kind.__name__}, got {frame.type_name}")
    return message


# --- host requests ------------------------------------------------------------------------

def hello(seq: int, version: int = PROTOCOL_VERSION) -> Frame:
    return Frame(FrameType.HELLO, seq, bytes((version,)))


def ping(seq: int, data: bytes = b"") -> Frame:
    if len(data) > MAX_PING_PAYLOAD:
        raise LinkError(f"PING payload of {len(data)} bytes exceeds {MAX_PING_PAYLOAD}")
    return Frame(FrameType.PING, seq, bytes(data))


def set_mode(seq: int, mode: int) -> Frame:
    return Frame(FrameType.SET_MODE, seq, bytes((int(_enum(Mode, mode, "mode")),)))


def set_led(seq: int, pattern: int) -> Frame:
    return Frame(FrameType.SET_LED, seq, bytes((int(_enum(LedPattern, pattern, "LED pattern")),)))
