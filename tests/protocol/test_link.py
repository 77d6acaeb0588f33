"""Host-side link codec (protocol/link.py) against the shared vectors and its own contract."""

from __future__ import annotations

import numpy as np
import pytest

from protocol import link
from protocol.link import DecodeError, ErrorReason, Frame, FrameType
from protocol.vectors import LINK_FRAMES, load_link_frames
from protocol.vectors.make_link_frames import render

VECTORS = load_link_frames()


def _ids(cases: list[dict]) -> list[str]:
    return [c["name"] for c in cases]


def test_vectors_file_is_generated_from_the_reference() -> None:
    current = LINK_FRAMES.read_text(encoding="utf-8")
    assert render() == current, "stale vectors: run python -m protocol.vectors.make_link_frames"


@pytest.mark.parametrize("case", VECTORS["crc16"], ids=_ids(VECTORS["crc16"]))
def test_crc16(case: dict) -> None:
    assert link.crc16(bytes.fromhex(case["data_hex"])) == case["crc"]


def test_crc16_check_value() -> None:
    # The catalogue check value of CRC-16/CCITT-FALSE.
    assert link.crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize("case", VECTORS["cobs"], ids=_ids(VECTORS["cobs"]))
def test_cobs_round_trip(case: dict) -> None:
    decoded, encoded = bytes.fromhex(case["decoded_hex"]), bytes.fromhex(case["encoded_hex"])
    assert link.cobs_encode(decoded) == encoded
    assert 0 not in encoded
    assert link.cobs_decode(encoded) == decoded


@pytest.mark.parametrize("case", VECTORS["valid"], ids=_ids(VECTORS["valid"]))
def test_valid_frames_encode_and_decode(case: dict) -> None:
    frame = Frame(case["type"], case["seq"], bytes.fromhex(case["payload_hex"]))
    wire = bytes.fromhex(case["wire_hex"])
    assert link.encode(frame) == wire
    assert link.decode(wire[:-1]) == frame
    assert link.Decoder().feed(wire) == [frame]


@pytest.mark.parametrize("case", VECTORS["malformed"], ids=_ids(VECTORS["malformed"]))
def test_malformed_input_reports_reasons(case: dict) -> None:
    decoder = link.Decoder()
    items = decoder.feed(bytes.fromhex(case["wire_hex"]))
    errors = [i.reason.value for i in items if isinstance(i, DecodeError)]
    frames = [i for i in items if isinstance(i, Frame)]
    assert errors == case["host_errors"]
    assert [(f.type, f.seq, f.payload.hex()) for f in frames] == [
        (f["type"], f["seq"], f["payload_hex"]) for f in case["host_frames"]
    ]
    # The decoder is never wedged: the next frame always comes through.
    assert decoder.feed(link.encode(link.ping(99, b"ok"))) == [link.ping(99, b"ok")]


def test_decoder_byte_by_byte_matches_one_write() -> None:
    wire = b"".join(bytes.fromhex(c["wire_hex"]) for c in VECTORS["malformed"] + VECTORS["valid"])
    whole = link.Decoder().feed(wire)
    trickle = link.Decoder()
    pieces: list[Frame | DecodeError] = []
    for i in range(len(wire)):
        pieces += trickle.feed(wire[i : i + 1])
    assert [type(p) for p in pieces] == [type(w) for w in whole]
    assert [p for p in pieces if isinstance(p, Frame)] == [w for w in whole if isinstance(w, Frame)]


def test_random_frames_survive_random_chunking() -> None:
    rng = np.random.default_rng(1234)
    frames = [
        Frame(int(rng.integers(0, 256)), int(rng.integers(0, 256)),
              rng.integers(0, 256, int(rng.integers(0, 251)), dtype=np.uint8).tobytes())
        for _ in range(200)
    ]
    wire = b"".join(link.encode(f) for f in frames)
    decoder, got, pos = link.Decoder(), [], 0
    while pos < len(wire):
        step = int(rng.integers(1, 300))
        got += decoder.feed(wire[pos : pos + step])
        pos += step
    assert got == frames
    assert decoder.errors == 0 and decoder.pending == 0


def test_oversize_run_is_skipped_to_the_next_delimiter() -> None:
    decoder = link.Decoder()
    items = decoder.feed(b"\x41" * 1000)
    assert [i.reason for i in items if isinstance(i, DecodeError)] == [ErrorReason.OVERSIZE]
    # Still inside the oversize run: more bytes are dropped silently until a delimiter.
    assert decoder.feed(b"\x41" * 100) == []
    assert decoder.feed(b"\x00" + link.encode(link.hello(1))) == [link.hello(1)]


def test_bad_crc_names_both_values() -> None:
    wire = bytearray(link.encode(link.ping(1, b"abc")))
    wire[-2] ^= 0x01
    with pytest.raises(link.FrameDecodeError, match=r"crc 0x[0-9A-F]{4} != computed"):
        link.decode(bytes(wire[:-1]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": 256, "seq": 0}, "frame type 256"),
        ({"type": 1, "seq": -1}, "frame seq -1"),
        ({"type": 1, "seq": 0, "payload": bytes(251)}, "payload of 251 bytes exceeds 250"),
    ],
)
def test_frame_rejects_out_of_range_fields(kwargs: dict, message: str) -> None:
    with pytest.raises(link.LinkError, match=message):
        Frame(**kwargs)


def test_request_builders_validate_values() -> None:
    assert link.set_mode(3, link.Mode.ADAPTIVE).payload == b"\x03"
    with pytest.raises(link.LinkError, match="mode 4"):
        link.set_mode(1, 4)
    with pytest.raises(link.LinkError, match="LED pattern 99"):
        link.set_led(1, 99)
    with pytest.raises(link.LinkError, match="PING payload of 33 bytes"):
        link.ping(1, bytes(33))


def test_parse_typed_messages() -> None:
    status = link.parse(Frame(FrameType.STATUS, 10, b"\x4b\x03\x02\x0f\x82"))
    assert status == link.Status(10, 75, True, True, link.Mode.TRANSPARENCY, 3970)
    assert link.parse(Frame(FrameType.HELLO_ACK, 1, b"\x011.2.3")) == link.HelloAck(1, 1, "1.2.3")
    assert link.parse(Frame(FrameType.BUTTON, 2, b"\x00\x01")) == link.Button(
        2, 0, link.ButtonKind.LONG
    )
    assert link.parse(Frame(FrameType.NACK, 3, b"\x04")) == link.Nack(3, link.NackReason.BAD_VALUE)
    assert link.parse(Frame(FrameType.MODE_CHANGED, 4, b"\x00\x02")) == link.ModeChanged(
        4, link.Mode.OFF, link.ModeSource.SAFETY
    )


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (Frame(FrameType.STATUS, 1, b"\x01"), "STATUS payload must be 5 bytes, got 1"),
        (Frame(FrameType.STATUS, 1, b"\x01\x00\x07\x00\x00"), "STATUS mode 7"),
        (Frame(FrameType.BUTTON, 1, b"\x00\x09"), "BUTTON kind 9"),
        (Frame(FrameType.HELLO_ACK, 1, b"\x01\xff"), "not UTF-8"),
        (Frame(FrameType.PING, 1, b""), "not a firmware→host message"),
    ],
)
def test_parse_rejects_bad_payloads(frame: Frame, message: str) -> None:
    with pytest.raises(link.LinkError, match=message):
        link.parse(frame)
