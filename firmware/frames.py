# Frame-level codec of the link: splitting the byte stream at 0x00, decoding one packet
# into (type, seq, payload), and encoding frames. No I/O here; link.py does that.
from micropython import const

import codec
import proto

# decode() results, besides a frame
OK = const(0)
SKIP = const(-1)  # not valid COBS: dropped without a reply (nothing in it can be trusted)


def prefix_seq(buf, n):
    """The seq byte at the start of a COBS packet that may be cut short (0 if absent)."""
    out = []
    i = 0
    while i < n and len(out) < 2:
        code = buf[i]
        if code == 0:
            break
        j = i + 1
        while j < i + code and j < n and len(out) < 2:
            out.append(buf[j])
            j += 1
        if code != 0xFF:
            out.append(0)
        i += code
    return out[1] if len(out) >= 2 else 0


class PacketReader:
    """Splits a byte stream into packets at 0x00, dropping runs that are too long.

    on_packet(buf, n) gets each non-empty run (buf is reused: consume it before returning);
    on_oversize(seq) is called once per run longer than MAX_ENCODED, whose remaining bytes
    are skipped up to the next delimiter.
    """

    def __init__(self, on_packet, on_oversize):
        self.buf = bytearray(proto.MAX_ENCODED)
        self.n = 0
        self.skipping = False
        self.on_packet = on_packet
        self.on_oversize = on_oversize

    def feed(self, data):
        mv = memoryview(data)
        length = len(data)
        start = 0
        while start < length:
            end = data.find(b"\x00", start)
            stop = length if end < 0 else end
            if not self.skipping and stop > start:
                room = proto.MAX_ENCODED - self.n
                take = min(room, stop - start)
                self.buf[self.n : self.n + take] = mv[start : start + take]
                self.n += take
                if stop - start > room:
                    self.skipping = True
                    seq = prefix_seq(self.buf, self.n)
                    self.n = 0
                    self.on_oversize(seq)
            if end < 0:
                return
            if self.skipping:
                self.skipping = False
            elif self.n:
                n = self.n
                self.n = 0
                self.on_packet(self.buf, n)
            start = end + 1


class FrameCodec:
    """Decodes packets into a reusable buffer and encodes frames into another."""

    def __init__(self):
        self.raw = bytearray(proto.MAX_ENCODED)
        self.payload = memoryview(self.raw)
        self._body = bytearray(proto.MAX_FRAME)
        self._out = bytearray(proto.MAX_ENCODED + 1)

    def decode(self, buf, n):
        """(status, type, seq, payload_len): status OK, SKIP or a NACK reason.

        On OK the payload is self.payload[2 : 2 + payload_len].
        """
        m = codec.cobs_decode(buf, n, self.raw)
        if m < 0:
            return SKIP, 0, 0, 0
        raw = self.raw
        seq = raw[1] if m >= 2 else 0
        if m < proto.MIN_FRAME or m > proto.MAX_FRAME:
            return proto.NACK_BAD_LENGTH, 0, seq, 0
        if codec.crc16(raw, m - 2) != (raw[m - 2] << 8) | raw[m - 1]:
            return proto.NACK_CRC, raw[0], seq, 0
        return OK, raw[0], seq, m - 4

    def encode(self, ftype, seq, payload=b""):
        """Wire bytes (COBS + delimiter) of one frame, as a new bytes object."""
        plen = len(payload)
        if plen > proto.MAX_PAYLOAD:
            raise ValueError("payload of %d bytes exceeds %d" % (plen, proto.MAX_PAYLOAD))
        body = self._body
        body[0] = ftype
        body[1] = seq
        body[2 : 2 + plen] = payload
        crc = codec.crc16(body, 2 + plen)
        body[2 + plen] = crc >> 8
        body[3 + plen] = crc & 0xFF
        n = codec.cobs_encode(body, 4 + plen, self._out)
        self._out[n] = 0
        return bytes(self._out[: n + 1])
