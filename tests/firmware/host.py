"""The host side of the link in device tests: frames over a pytest-embedded DUT."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from protocol import link
from protocol.link import Frame, FrameType

_PACKET = re.compile(rb"[^\x00]*\x00")
REPLY_TYPES = {FrameType.PONG, FrameType.ACK, FrameType.NACK, FrameType.HELLO_ACK}


class Host:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.decoder = link.Decoder()
        self.received: list[Frame] = []
        self.errors: list[link.DecodeError] = []
        self._seq = 0

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def send(self, frame: Frame) -> None:
        self.dut.write(link.encode(frame))

    def send_raw(self, wire: bytes) -> None:
        self.dut.write(wire)

    def read_frame(self, timeout: float) -> Frame:
        while True:
            start = time.monotonic()
            match = self.dut.expect(_PACKET, timeout=timeout)
            timeout = max(0.01, timeout - (time.monotonic() - start))
            for item in self.decoder.feed(match.group(0)):
                if isinstance(item, link.DecodeError):
                    self.errors.append(item)
                else:
                    self.received.append(item)
                    return item

    def expect(self, ftype: int, timeout: float = 3.0, seq: int | None = None) -> Frame:
        """The next frame of `ftype` (and `seq`), skipping others (they stay in `received`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {FrameType(ftype).name} (seq {seq}) within {timeout}s; "
                    f"got {[f.type_name for f in self.received[-10:]]}"
                )
            frame = self.read_frame(left)
            if frame.type == ftype and (seq is None or frame.seq == seq):
                return frame

    def expect_message(
        self, kind: type[link.MessageT], timeout: float = 3.0, seq: int | None = None
    ) -> link.MessageT:
        """Like expect(), returning the typed message (link.Status, link.ModeChanged, ...)."""
        return link.parse_as(self.expect(link.MESSAGE_TYPES[kind], timeout, seq), kind)

    def next_reply(self, timeout: float = 3.0) -> Frame:
        """The next reply frame (PONG/ACK/NACK/HELLO_ACK), skipping unsolicited ones."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.read_frame(max(0.01, deadline - time.monotonic()))
            if frame.type in REPLY_TYPES:
                return frame

    def hello(self) -> link.HelloAck:
        seq = self.next_seq()
        self.send(link.hello(seq))
        return self.expect_message(link.HelloAck, seq=seq)

    def ping(self, data: bytes = b"ping") -> None:
        seq = self.next_seq()
        self.send(link.ping(seq, data))
        reply = self.next_reply()
        assert (reply.type, reply.seq, reply.payload) == (FrameType.PONG, seq, data), reply

    def status(self, timeout: float = 3.0) -> link.Status:
        return self.expect_message(link.Status, timeout)

    def wait_status(
        self, predicate: Callable[[link.Status], bool], timeout: float = 5.0
    ) -> link.Status:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(max(0.05, deadline - time.monotonic()))
            if predicate(status):
                return status
