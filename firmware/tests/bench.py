# Timing of the link's hot paths on MicroPython (driven by bench/firmware_bench.py).
# Prints one JSON object: microseconds per operation, viper and plain.
import json
import time

import codec
import frames
import proto
from link import Link


class _Stream:
    pass


class _App:
    def on_hello(self):
        pass

    def mode_allowed(self, mode):
        return proto.ACK_OK

    def set_mode(self, mode):
        pass

    def set_led(self, pattern):
        pass


def _best_us(fn, reps, rounds=5):
    best = None
    for _ in range(rounds):
        t0 = time.ticks_us()
        for _ in range(reps):
            fn()
        us = time.ticks_diff(time.ticks_us(), t0) / reps
        best = us if best is None or us < best else best
    return best


def _measure():
    link = Link(_Stream(), _App(), lambda msg: None, "1.0.0")
    enc = frames.FrameCodec()
    ping = enc.encode(proto.PING, 1, bytes(range(1, 33)))  # 32-byte payload, echoed
    frame64 = enc.encode(0x55, 2, bytes(range(1, 59)))  # 64 bytes on the wire, NACKed
    data1k = bytes(range(256)) * 4
    raw254 = bytes((i % 255) + 1 for i in range(254))
    out = bytearray(260)
    encoded254 = bytes(out[: codec.cobs_encode(raw254, 254, out)])

    def dispatch(wire):
        link.packets.feed(wire)
        link._tx.clear()

    return {
        "wire_bytes_frame64": len(frame64),
        "wire_bytes_ping32": len(ping),
        "decode_dispatch_frame64_us": _best_us(lambda: dispatch(frame64), 500),
        "decode_dispatch_ping32_us": _best_us(lambda: dispatch(ping), 500),
        "crc16_1k_us": _best_us(lambda: codec.crc16(data1k), 200),
        "cobs_encode_254_us": _best_us(lambda: codec.cobs_encode(raw254, 254, out), 500),
        "cobs_decode_254_us": _best_us(lambda: codec.cobs_decode(encoded254, 255, out), 500),
    }


results = {"viper": _measure()}
codec._crc16 = codec.crc16_plain
codec.cobs_encode = codec.cobs_encode_plain
codec.cobs_decode = codec.cobs_decode_plain
results["plain"] = _measure()
print(json.dumps(results))
