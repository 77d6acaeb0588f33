# Frame decoding and the link's request handling against the shared vectors.
import frames
import proto
from link import Link
from testing import eq, unhex, vectors

PREFIXES = {
    "FrameType": "", "Mode": "MODE_", "ModeSource": "SOURCE_", "ButtonKind": "PRESS_",
    "NackReason": "NACK_", "AckStatus": "ACK_", "LedPattern": "LED_", "StatusFlag": "FLAG_",
    "limits": "",
}


class _Stream:
    pass


class _App:
    def __init__(self):
        self.calls = []

    def on_hello(self):
        self.calls.append(("hello",))

    def mode_allowed(self, mode):
        return proto.ACK_OK

    def set_mode(self, mode):
        self.calls.append(("mode", mode))

    def set_led(self, pattern):
        self.calls.append(("led", pattern))


def _link():
    return Link(_Stream(), _App(), lambda msg: None, "9.9.9")


def _wire(reply):
    return frames.FrameCodec().encode(reply["type"], reply["seq"], unhex(reply["payload_hex"]))


def test_constants_match_the_contract():
    for group, members in vectors()["constants"].items():
        for name, value in members.items():
            eq(getattr(proto, PREFIXES[group] + name), value, group + "." + name)


def test_encode_matches_valid_vectors():
    codec = frames.FrameCodec()
    for case in vectors()["valid"]:
        wire = codec.encode(case["type"], case["seq"], unhex(case["payload_hex"]))
        eq(wire, unhex(case["wire_hex"]), case["name"])


def test_decode_valid_vectors():
    codec = frames.FrameCodec()
    for case in vectors()["valid"]:
        wire = unhex(case["wire_hex"])
        status, ftype, seq, plen = codec.decode(wire, len(wire) - 1)
        eq((status, ftype, seq), (frames.OK, case["type"], case["seq"]), case["name"])
        eq(bytes(codec.payload[2 : 2 + plen]), unhex(case["payload_hex"]), case["name"])


def test_malformed_vectors_get_the_reference_replies():
    for case in vectors()["malformed"]:
        link = _link()
        link.packets.feed(unhex(case["wire_hex"]))
        eq(link._tx, [_wire(r) for r in case["firmware_replies"]], case["name"])


def test_malformed_vectors_fed_byte_by_byte():
    for case in vectors()["malformed"]:
        link = _link()
        wire = unhex(case["wire_hex"])
        for i in range(len(wire)):
            link.packets.feed(wire[i : i + 1])
        eq(link._tx, [_wire(r) for r in case["firmware_replies"]], case["name"])


def test_valid_requests_get_the_reference_replies():
    for case in vectors()["valid"]:
        link = _link()
        link.packets.feed(unhex(case["wire_hex"]))
        want = [_wire(case["firmware_reply"])] if case["firmware_reply"] else []
        if case["type"] == proto.HELLO:
            want = [frames.FrameCodec().encode(proto.HELLO_ACK, case["seq"], b"\x019.9.9")]
        eq(link._tx, want, case["name"])


def test_unsolicited_frames_wait_for_hello():
    link = _link()
    eq(link.send(proto.STATUS, b"\x00" * 5), False, "before HELLO")
    link.packets.feed(frames.FrameCodec().encode(proto.HELLO, 1, b"\x01"))
    eq(link.app.calls, [("hello",)], "hello callback")
    eq(link.send(proto.STATUS, b"\x00" * 5), True, "after HELLO")
    eq(len(link._tx), 2, "HELLO_ACK + STATUS")


def test_set_mode_acks_before_the_change():
    link = _link()
    link.packets.feed(frames.FrameCodec().encode(proto.SET_MODE, 5, b"\x02"))
    eq(link._tx, [frames.FrameCodec().encode(proto.ACK, 5, b"\x03\x00")], "ack")
    eq(link.app.calls, [("mode", 2)], "mode applied")


def test_tx_queue_is_bounded():
    link = _link()
    link.greeted = True
    for _ in range(100):
        link.send(proto.STATUS, b"\x00" * 5)
    eq(len(link._tx), 32, "depth")
    eq(link.stats["dropped"], 68, "dropped")
