# A byte stream over blocking file objects (stdin/stdout on the Unix port, the USB console
# on a board) that asyncio can poll. A file read blocks until the buffer is full, so bytes
# are taken one at a time while the input is ready. Writes happen only when the output
# has room (like a UART's TX buffer), so a host that stops reading never blocks the loop.
import io
import select


class PolledStream(io.IOBase):
    def __init__(self, fin, fout):
        self.fin = fin
        self.fout = fout
        self._poll = select.poll()
        self._poll.register(fin, select.POLLIN)
        self._wpoll = select.poll()
        self._wpoll.register(fout, select.POLLOUT)

    def _readable(self):
        return bool(self._poll.poll(0))

    def readinto(self, buf):
        mv = memoryview(buf)
        n = 0
        while n < len(buf) and (n == 0 or self._readable()):
            if not self.fin.readinto(mv[n : n + 1]):
                break
            n += 1
        return n

    def read(self, size=256):
        buf = bytearray(size)
        return bytes(buf[: self.readinto(buf)])

    def _writable(self):
        return bool(self._wpoll.poll(0))

    def write(self, data):
        # None = nothing written now; asyncio keeps the data and waits for POLLOUT.
        return self.fout.write(data) if self._writable() else None

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL: 1 = POLLIN, 4 = POLLOUT
            ready = 0
            if arg & 1 and self._readable():
                ready |= 1
            if arg & 4 and self._writable():
                ready |= 4
            return ready
        return -1
