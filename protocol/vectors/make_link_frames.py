"""Generate link_frames.json: the link-protocol vectors both sides are tested against.

    python -m protocol.vectors.make_link_frames          # rewrite the JSON
    python -m protocol.vectors.make_link_frames --check  # exit 1 if the JSON is stale

The JSON is consumed by tests/protocol (CPython, protocol/link.py) and by the firmware's
MicroPython tests and device tests. `firmware_reply` below is the reference for how the
firmware answers each request; the firmware must produce exactly the replies recorded here.
"""

from __future__ import annotations

import argparse
import json
import sys
from enum import IntEnum
from typing import Any

from protocol import link
from protocol.link import Frame, FrameType, LedPattern, NackReason
from protocol.vectors import LINK_FRAMES

CRC_INPUTS: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("check string 123456789", b"123456789"),
    ("single zero", b"\x00"),
    ("all ones x4", b"\xff\xff\xff\xff"),
    ("0..255", bytes(range(256))),
]

COBS_INPUTS: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("one zero", b"\x00"),
    ("two zeros", b"\x00\x00"),
    ("zero in the middle", b"\x11\x22\x00\x33"),
    ("no zeros", b"\x11\x22\x33\x44"),
    ("trailing zero", b"\x11\x00"),
    ("254 non-zero bytes", bytes((i % 255) + 1 for i in range(254))),
    ("255 non-zero bytes", bytes((i % 255) + 1 for i in range(255))),
    ("zero after 254 non-zero", bytes((i % 255) + 1 for i in range(254)) + b"\x00"),
]

VALID_FRAMES: list[tuple[str, Frame]] = [
    ("HELLO v1", link.hello(1)),
    ("PING empty", link.ping(2)),
    ("PING with zeros", link.ping(3, b"\x00ab\x00\x00c\x00")),
    ("PING 32 bytes", link.ping(255, bytes(range(32)))),
    ("SET_MODE off", link.set_mode(4, link.Mode.OFF)),
    ("SET_MODE anc", link.set_mode(5, link.Mode.ANC)),
    ("SET_MODE transparency", link.set_mode(6, link.Mode.TRANSPARENCY)),
    ("SET_MODE adaptive", link.set_mode(7, link.Mode.ADAPTIVE)),
    ("SET_LED fast blink", link.set_led(8, LedPattern.FAST_BLINK)),
    ("HELLO_ACK", Frame(FrameType.HELLO_ACK, 1, b"\x011.0.0")),
    ("PONG", Frame(FrameType.PONG, 3, b"\x00ab\x00\x00c\x00")),
    ("ACK", Frame(FrameType.ACK, 5, b"\x03\x00")),
    ("NACK crc", Frame(FrameType.NACK, 9, b"\x01")),
    ("STATUS", Frame(FrameType.STATUS, 10, b"\x4b\x01\x01\x0f\x82")),
    ("BUTTON double", Frame(FrameType.BUTTON, 11, b"\x00\x02")),
    ("MODE_CHANGED safety", Frame(FrameType.MODE_CHANGED, 12, b"\x00\x02")),
    ("max payload, no zeros", Frame(0x55, 13, bytes((i % 255) + 1 for i in range(250)))),
    ("max payload, all zeros", Frame(0x55, 14, bytes(250))),
]


def _frame_json(frame: Frame) -> dict[str, Any]:
    return {"type": frame.type, "seq": frame.seq, "payload_hex": frame.payload.hex()}


def _raw_packet(body: bytes, good_crc: bool = True) -> bytes:
    crc = link.crc16(body) ^ (0 if good_crc else 0x0001)
    return link.cobs_encode(body + crc.to_bytes(2, "big"))


def prefix_seq(packet: bytes) -> int:
    """The seq byte read from the start of a COBS packet that may be cut short (0 if absent)."""
    out = bytearray()
    i = 0
    while i < len(packet) and len(out) < 2:
        code = packet[i]
        if code == 0:
            break
        out += packet[i + 1 : i + code]
        if code != 0xFF:
            out.append(0)
        i += code
    return out[1] if len(out) >= 2 else 0


def _nack(seq: int, reason: NackReason) -> Frame:
    return Frame(FrameType.NACK, seq, bytes((reason,)))


def firmware_reply(packet: bytes) -> Frame | None:
    """Reference answer of the firmware to the bytes between two delimiters.

    None means the bytes are skipped without a reply (empty runs, invalid COBS) or that the
    reply depends on firmware state (HELLO_ACK's version string is checked separately).
    """
    if not packet:
        return None
    if len(packet) > link.MAX_ENCODED:
        return _nack(prefix_seq(packet), NackReason.BAD_LENGTH)
    try:
        raw = link.cobs_decode(packet)
    except link.LinkError:
        return None
    seq = raw[1] if len(raw) >= 2 else 0
    if not link.MIN_FRAME <= len(raw) <= link.MAX_FRAME:
        return _nack(seq, NackReason.BAD_LENGTH)
    if link.crc16(raw[:-2]) != int.from_bytes(raw[-2:], "big"):
        return _nack(seq, NackReason.CRC)
    ftype, payload = raw[0], raw[2:-2]
    if ftype == FrameType.HELLO:
        if len(payload) != 1:
            return _nack(seq, NackReason.BAD_LENGTH)
        if payload[0] != link.PROTOCOL_VERSION:
            return _nack(seq, NackReason.BAD_VALUE)
        return None
    if ftype == FrameType.PING:
        if len(payload) > link.MAX_PING_PAYLOAD:
            return _nack(seq, NackReason.BAD_LENGTH)
        return Frame(FrameType.PONG, seq, payload)
    if ftype in (FrameType.SET_MODE, FrameType.SET_LED):
        if len(payload) != 1:
            return _nack(seq, NackReason.BAD_LENGTH)
        valid = link.Mode if ftype == FrameType.SET_MODE else LedPattern
        if payload[0] not in {m.value for m in valid}:
            return _nack(seq, NackReason.BAD_VALUE)
        return Frame(FrameType.ACK, seq, bytes((ftype, link.AckStatus.OK)))
    return _nack(seq, NackReason.UNKNOWN_TYPE)


def malformed_inputs() -> list[tuple[str, bytes]]:
    """(name, wire bytes including the final delimiter)."""
    ping = link.encode(link.ping(7, b"hello"))
    oversize_frame = bytes((0x02, 0x21)) + bytes(251)  # PING with a 251-byte payload
    return [
        ("garbage, invalid COBS", b"\x13\x37\xde\xad\x00"),
        ("COBS block runs past the delimiter", b"\x05\x01\x02\x00"),
        ("bad CRC", _raw_packet(b"\x02\x07hello", good_crc=False) + b"\x00"),
        ("truncated: PING cut before its delimiter", ping[:-3] + b"\x00"),
        ("truncated: 3 bytes after COBS", link.cobs_encode(b"\x02\x09\x12") + b"\x00"),
        ("truncated: 1 byte after COBS", b"\x02\x02\x00"),
        ("unknown type 0x55", _raw_packet(b"\x55\x0a") + b"\x00"),
        ("firmware-to-host type sent to the firmware", _raw_packet(b"\x10\x0b") + b"\x00"),
        ("PING payload 33 bytes", _raw_packet(b"\x02\x0c" + bytes(range(33))) + b"\x00"),
        ("SET_MODE without payload", _raw_packet(b"\x03\x0d") + b"\x00"),
        ("SET_MODE with 2 bytes", _raw_packet(b"\x03\x0e\x01\x01") + b"\x00"),
        ("SET_MODE mode 4", _raw_packet(b"\x03\x0f\x04") + b"\x00"),
        ("SET_MODE mode 255", _raw_packet(b"\x03\x10\xff") + b"\x00"),
        ("SET_LED pattern 200", _raw_packet(b"\x04\x11\xc8") + b"\x00"),
        ("HELLO protocol version 2", _raw_packet(b"\x01\x12\x02") + b"\x00"),
        ("HELLO without payload", _raw_packet(b"\x01\x13") + b"\x00"),
        ("oversize: 251-byte payload", _raw_packet(oversize_frame) + b"\x00"),
        ("oversize: 252-byte payload", _raw_packet(b"\x02\x22" + bytes(252)) + b"\x00"),
        ("oversize: 300 bytes of garbage", b"\x41" * 300 + b"\x00"),
        ("empty packet (lone delimiter)", b"\x00"),
        ("garbage glued to a PING: both skipped", b"\xff\xfe" + ping),
        ("garbage, delimiter, then a PING in one write", b"\xff\xfe\x00" + ping),
    ]


def _host_errors(wire: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    decoder = link.Decoder()
    errors: list[str] = []
    frames: list[dict[str, Any]] = []
    for item in decoder.feed(wire):
        if isinstance(item, link.DecodeError):
            errors.append(item.reason.value)
        else:
            frames.append(_frame_json(item))
    return errors, frames


def _firmware_replies(wire: bytes) -> list[dict[str, Any]]:
    replies = []
    for packet in wire.split(b"\x00")[:-1]:
        reply = firmware_reply(packet)
        if reply is not None:
            replies.append(_frame_json(reply))
    return replies


def constants() -> dict[str, Any]:
    """Every number of the contract, so the firmware's copy can be checked against it."""
    enums: list[type[IntEnum]] = [
        FrameType, link.Mode, link.ModeSource, link.ButtonKind, NackReason, link.AckStatus,
        LedPattern, link.StatusFlag,
    ]
    out: dict[str, Any] = {e.__name__: {m.name: m.value for m in e} for e in enums}
    out["limits"] = {
        name: getattr(link, name)
        for name in ("PROTOCOL_VERSION", "MAX_PAYLOAD", "MAX_PING_PAYLOAD", "MIN_FRAME",
                     "MAX_FRAME", "MAX_ENCODED")
    }
    return out


def build() -> dict[str, Any]:
    malformed = []
    for name, wire in malformed_inputs():
        errors, frames = _host_errors(wire)
        malformed.append({
            "name": name,
            "wire_hex": wire.hex(),
            "host_errors": errors,
            "host_frames": frames,
            "firmware_replies": _firmware_replies(wire),
        })
    valid = []
    for name, frame in VALID_FRAMES:
        wire = link.encode(frame)
        reply = firmware_reply(wire[:-1])
        valid.append({
            "name": name,
            **_frame_json(frame),
            "wire_hex": wire.hex(),
            "firmware_reply": None if reply is None else _frame_json(reply),
        })
    return {
        "description": "MCU link vectors (ARCHITECTURE §6); generated by "
        "protocol/vectors/make_link_frames.py, do not edit by hand",
        "protocol_version": link.PROTOCOL_VERSION,
        "max_payload": link.MAX_PAYLOAD,
        "max_encoded": link.MAX_ENCODED,
        "constants": constants(),
        "crc16": [{"name": n, "data_hex": d.hex(), "crc": link.crc16(d)} for n, d in CRC_INPUTS],
        "cobs": [
            {"name": n, "decoded_hex": d.hex(), "encoded_hex": link.cobs_encode(d).hex()}
            for n, d in COBS_INPUTS
        ],
        "valid": valid,
        "malformed": malformed,
    }


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = LINK_FRAMES.read_text(encoding="utf-8") if LINK_FRAMES.exists() else ""
        if current != text:
            print(f"{LINK_FRAMES} is stale; run python -m protocol.vectors.make_link_frames")
            return 1
        print(f"{LINK_FRAMES} is up to date")
        return 0
    LINK_FRAMES.write_text(text, encoding="utf-8")
    print(f"wrote {LINK_FRAMES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
