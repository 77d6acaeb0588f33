# The UART link to the edge agent (ARCHITECTURE section 6) over asyncio streams.
# Requests are validated here and handed to the app; replies echo the request seq.
# Nothing the host sends can stop the reader: bad input is NACKed or skipped.
import asyncio
import time

import frames
import proto

TX_DEPTH = 32  # frames waiting for the UART; the oldest is dropped beyond this


class Link:
    def __init__(self, stream, app, log, firmware_version):
        self.reader = asyncio.StreamReader(stream)
        self.writer = asyncio.StreamWriter(stream, {})
        self.codec = frames.FrameCodec()
        self.packets = frames.PacketReader(self._on_packet, self._on_oversize)
        self.app = app
        self.log = log
        self.hello_payload = bytes((proto.PROTOCOL_VERSION,)) + firmware_version.encode()
        self.greeted = False  # unsolicited frames only after the host's HELLO
        self.last_rx = time.ticks_ms()
        self.stats = {"frames": 0, "nacks": 0, "skipped": 0, "dropped": 0}
        self._tx = []
        self._tx_ready = asyncio.Event()
        self._seq = 0

    # --- tasks --------------------------------------------------------------------------

    async def run_reader(self):
        while True:
            data = await self.reader.read(proto.MAX_ENCODED)
            if not data:  # no host attached (end of input): wait for one
                await asyncio.sleep_ms(100)
                continue
            self.last_rx = time.ticks_ms()
            self.packets.feed(data)

    async def run_writer(self):
        while True:
            await self._tx_ready.wait()
            self._tx_ready.clear()
            while self._tx:
                self.writer.write(self._tx.pop(0))
                await self.writer.drain()

    def silent_ms(self, now):
        return time.ticks_diff(now, self.last_rx)

    # --- sending --------------------------------------------------------------------------

    def _queue(self, wire):
        if len(self._tx) >= TX_DEPTH:
            self._tx.pop(0)
            self.stats["dropped"] += 1
        self._tx.append(wire)
        self._tx_ready.set()

    def reply(self, ftype, seq, payload=b""):
        self._queue(self.codec.encode(ftype, seq, payload))

    def nack(self, seq, reason):
        self.stats["nacks"] += 1
        self.reply(proto.NACK, seq, bytes((reason,)))

    def send(self, ftype, payload):
        """Unsolicited frame with the firmware's own seq; dropped until the host said HELLO."""
        if not self.greeted:
            return False
        seq = self._seq
        self._seq = (seq + 1) & 0xFF
        self.reply(ftype, seq, payload)
        return True

    # --- receiving ------------------------------------------------------------------------

    def _on_oversize(self, seq):
        self.nack(seq, proto.NACK_BAD_LENGTH)

    def _on_packet(self, buf, n):
        status, ftype, seq, plen = self.codec.decode(buf, n)
        if status == frames.SKIP:
            self.stats["skipped"] += 1
        elif status != frames.OK:
            self.nack(seq, status)
        else:
            self.stats["frames"] += 1
            self.dispatch(ftype, seq, self.codec.payload[2 : 2 + plen])

    def dispatch(self, ftype, seq, payload):
        n = len(payload)
        if ftype == proto.PING:
            if n > proto.MAX_PING_PAYLOAD:
                self.nack(seq, proto.NACK_BAD_LENGTH)
            else:
                self.reply(proto.PONG, seq, payload)
        elif ftype == proto.HELLO:
            if n != 1:
                self.nack(seq, proto.NACK_BAD_LENGTH)
            elif payload[0] != proto.PROTOCOL_VERSION:
                self.nack(seq, proto.NACK_BAD_VALUE)
            else:
                self.greeted = True
                self.reply(proto.HELLO_ACK, seq, self.hello_payload)
                self.app.on_hello()
        elif ftype == proto.SET_MODE or ftype == proto.SET_LED:
            limit = 4 if ftype == proto.SET_MODE else proto.LED_PATTERN_COUNT
            if n != 1:
                self.nack(seq, proto.NACK_BAD_LENGTH)
            elif payload[0] >= limit:
                self.nack(seq, proto.NACK_BAD_VALUE)
            elif ftype == proto.SET_MODE:
                # ACK first, then the MODE_CHANGED the change causes.
                value = payload[0]
                status = self.app.mode_allowed(value)
                self.reply(proto.ACK, seq, bytes((ftype, status)))
                if status == proto.ACK_OK:
                    self.app.set_mode(value)
            else:
                self.reply(proto.ACK, seq, bytes((ftype, proto.ACK_OK)))
                self.app.set_led(payload[0])
        else:
            self.nack(seq, proto.NACK_UNKNOWN_TYPE)
