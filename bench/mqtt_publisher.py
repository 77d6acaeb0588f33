"""A lean telemetry load generator: one device's MQTT 3.1.1 connection, QoS 1, mutual TLS.

The telemetry benchmark needs thousands of messages per second from devices that run on the
same two cores as the stack it measures. Through awscrt's Python API a QoS 1 publish costs
the benchmark process 120-220 µs of CPU (packet object, future, completion callback,
native event-loop threads): at 2,200 msg/s up to a third of a core taken from the
pipeline, which real devices would never take. This publisher writes each PUBLISH packet
straight to the device's TLS socket and counts PUBACKs when it next writes (about 30 µs per
message in the benchmark, TLS included). The broker sees what it sees from any device: a TLS
connection with the thing's certificate, client id = thing name, QoS 1 publishes on the
thing's topic.

Single-threaded by design (an SSL object must not be read and written concurrently): call
`publish` and `pump` from one thread. Only what a publisher receives is parsed: CONNACK,
PUBACK and PINGRESP; anything else, or a PUBACK for an id that is not in flight, is a
protocol error that names the thing.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import time
from pathlib import Path

CONNECT_TIMEOUT_S = 30.0
PROTOCOL_LEVEL_311 = 4
CLEAN_SESSION = 0x02
PUBLISH_QOS1 = 0x32  # PUBLISH, QoS 1, not DUP, not RETAIN
CONNACK, PUBACK, PINGRESP = 0x20, 0x40, 0xD0
DISCONNECT = b"\xe0\x00"
CONNACK_CODES = {1: "unacceptable protocol version", 2: "client identifier rejected",
                 3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}


class MqttProtocolError(ConnectionError):
    """The broker refused the connection, closed it, or sent what a publisher cannot get."""


def remaining_length(n: int) -> bytes:
    """MQTT's variable-length integer (1-4 bytes, 7 bits each, least significant first)."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"remaining length {n} is outside MQTT's 0..268435455")
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8_string(text: str) -> bytes:
    data = text.encode()
    if len(data) > 0xFFFF:
        raise ValueError(f"MQTT strings hold at most 65535 bytes, got {len(data)}")
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, keepalive_s: int = 0) -> bytes:
    body = (utf8_string("MQTT") + bytes([PROTOCOL_LEVEL_311, CLEAN_SESSION])
            + struct.pack("!H", keepalive_s) + utf8_string(client_id))
    return bytes([0x10]) + remaining_length(len(body)) + body


def split_packets(buffer: bytes, limit: int | None = None
                  ) -> tuple[list[tuple[int, bytes]], bytes]:
    """Complete packets at the start of `buffer` (at most `limit`) as (first byte, body),
    and what is left."""
    packets: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 2 <= len(buffer) and (limit is None or len(packets) < limit):
        length, shift, i = 0, 0, pos + 1
        while True:
            if i >= len(buffer):
                return packets, buffer[pos:]  # the length itself is not complete yet
            byte = buffer[i]
            length |= (byte & 0x7F) << shift
            i += 1
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MqttProtocolError("malformed remaining length (more than 4 bytes)")
        if i + length > len(buffer):
            break
        packets.append((buffer[pos], buffer[i:i + length]))
        pos = i + length
    return packets, buffer[pos:]


class LeanPublisher:
    """A device that publishes QoS 1 messages on `topic` and counts their PUBACKs."""

    def __init__(self, host: str, port: int, ca_path: str | Path, cert_path: str | Path,
                 key_path: str | Path, client_id: str, topic: str) -> None:
        self.client_id = client_id
        context = ssl.create_default_context(cafile=str(ca_path))
        context.load_cert_chain(str(cert_path), str(key_path))
        context.check_hostname = False  # the local CA's server certificate names loopback
        raw = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = context.wrap_socket(raw)
        self._buffer = b""
        self._sock.sendall(connect_packet(client_id))
        self._expect_connack()
        self._topic = utf8_string(topic)
        self._next_id = 1
        self._in_flight: set[int] = set()
        self.sent = 0
        self.acked_ok = 0

    def _fail(self, why: str) -> MqttProtocolError:
        return MqttProtocolError(f"{self.client_id}: {why}")

    def _expect_connack(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline:
            packets, self._buffer = split_packets(self._buffer, limit=1)
            if packets:
                first, body = packets[0]
                if first != CONNACK or len(body) != 2:
                    raise self._fail(f"expected CONNACK, got packet 0x{first:02x}")
                if body[1] != 0:
                    raise self._fail("connection refused: "
                                     + CONNACK_CODES.get(body[1], f"return code {body[1]}"))
                return
            self._receive(block=True)
        raise self._fail(f"no CONNACK within {CONNECT_TIMEOUT_S:.0f} s")

    def _receive(self, block: bool) -> bool:
        """Read what has arrived (waiting for something if `block`); False if nothing was."""
        sock = self._sock
        if not block and not sock.pending() and not select.select([sock], [], [], 0)[0]:
            return False
        try:
            data = sock.recv(65536)
        except (ssl.SSLError, OSError) as exc:
            raise self._fail(f"connection lost ({exc})") from exc
        if not data:
            raise self._fail("the broker closed the connection")
        self._buffer += data
        return True

    def publish(self, payload: bytes) -> None:
        """Send one QoS 1 PUBLISH now; then count whatever PUBACKs have arrived."""
        packet_id = self._next_id
        if packet_id in self._in_flight:
            raise self._fail("65535 publishes in flight; none of the ids is free")
        self._next_id = packet_id % 0xFFFF + 1
        variable = self._topic + struct.pack("!H", packet_id)
        try:
            self._sock.sendall(bytes([PUBLISH_QOS1]) + remaining_length(len(variable)
                               + len(payload)) + variable + payload)
        except (ssl.SSLError, OSError) as exc:
            raise self._fail(f"connection lost ({exc})") from exc
        self._in_flight.add(packet_id)
        self.sent += 1
        self.pump()

    def pump(self) -> None:
        """Count the PUBACKs that have arrived, without waiting."""
        while self._receive(block=False):
            pass
        packets, self._buffer = split_packets(self._buffer)
        for first, body in packets:
            if first == PUBACK and len(body) == 2:
                packet_id = struct.unpack("!H", body)[0]
                if packet_id not in self._in_flight:
                    raise self._fail(f"PUBACK for packet id {packet_id}, which is not in flight")
                self._in_flight.discard(packet_id)
                self.acked_ok += 1
            elif first != PINGRESP:
                raise self._fail(f"unexpected packet 0x{first:02x} ({len(body)} bytes)")

    def wait_for_acks(self, timeout_s: float) -> tuple[int, int]:
        """(PUBACKs received, publishes still unacknowledged) after at most `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self._in_flight and time.monotonic() < deadline:
            self.pump()
            if self._in_flight:
                select.select([self._sock], [], [], min(0.05, max(0.0, deadline
                                                                  - time.monotonic())))
        return self.acked_ok, len(self._in_flight)

    def close(self) -> None:
        with contextlib.suppress(ssl.SSLError, OSError):  # gone already: only closing is left
            self._sock.sendall(DISCONNECT)
        self._sock.close()
