"""Rule execution spread over child processes, one shard of the things each.

IoT Core runs rule actions on as many machines as the load needs; the local stack runs them
in one emulator. With one process, every invocation (JSON, SQL, the function, boto3 against
moto) shares one interpreter lock, and that lock, not the machine's cores, caps telemetry
throughput. A `ShardPool` starts `count` child processes that each run the same rules; the
emulator's MQTT thread only routes each message to a child, over a local socket pair.

Routing is by the thing in the topic (the publisher's client id), so every message of one
thing, a redelivered duplicate included, is handled by the same child: the first-write-wins
grouping in cloud/shared/dynamo.py stays exact because no two processes ever write the same
key. A message the pool cannot hand to its child (the child has died) goes to the dead-letter
file, naming the shard, instead of disappearing; `healthy()` turns False so the emulator
stops and says why.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from cloud.local.rules.runner import (
    DeadLetters,
    RetryPolicy,
    RuleRunner,
    Workers,
    dead_letter_entry,
    publisher_client_id,
)
from cloud.local.service_mqtt import ServiceMqtt

log = logging.getLogger("anc.rules.shards")
_READY = b"ready"
_END = b""  # an empty frame: no more messages, finish what is queued and exit
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def shard_of(topic: str, count: int) -> int:
    """The shard that handles `topic`: by its thing, so one thing always lands in one shard."""
    key = publisher_client_id(topic) or topic
    return zlib.crc32(key.encode()) % count


def encode(topic: str, payload: bytes) -> bytes:
    # MQTT forbids U+0000 in topic names, so a NUL byte cleanly ends the topic.
    return topic.encode() + b"\0" + payload


def decode(frame: bytes) -> tuple[str, bytes]:
    topic, _, payload = frame.partition(b"\0")
    return topic.decode(), payload


class _Shard:
    def __init__(self, index: int, process: Any, conn: multiprocessing.connection.Connection):
        self.index = index
        self.process = process
        self.conn = conn
        self.lock = threading.Lock()  # one writer at a time on the socket
        self.broken = False


class ShardPool:
    """`count` child processes running `deployment`'s rules; submit() routes by thing."""

    def __init__(self, deployment: dict[str, Any], settings: ServiceMqtt, *, count: int,
                 dead_letter_path: Path, retry: RetryPolicy, workers: int,
                 max_pending: int) -> None:
        if count < 2:
            raise ValueError(f"a shard pool needs at least 2 processes, got {count}")
        self.count = count
        self._args = (deployment, settings, dead_letter_path, retry, workers, max_pending)
        self._dead_letters = DeadLetters(dead_letter_path)
        self._shards: list[_Shard] = []

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start every child and wait until each has loaded the rules and their functions."""
        # spawn, not fork: the emulator already runs threads (shadow service, logging).
        context = multiprocessing.get_context("spawn")
        for index in range(self.count):
            parent_end, child_end = context.Pipe(duplex=True)
            process = context.Process(target=serve_shard, name=f"rule-shard-{index}",
                                      args=(index, child_end, *self._args), daemon=True)
            process.start()
            child_end.close()
            self._shards.append(_Shard(index, process, parent_end))
        deadline = time.monotonic() + timeout
        for shard in self._shards:
            if not shard.conn.poll(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise RuntimeError(f"rule shard {shard.index} did not start within {timeout:.0f} s")
            try:
                greeting = shard.conn.recv_bytes()
            except EOFError:
                greeting = b""
            if greeting != _READY:
                self.stop()
                raise RuntimeError(f"rule shard {shard.index} failed to start "
                                   f"(exit code {shard.process.exitcode}); see the emulator log")
        log.info("rule shards: %d processes ready", self.count)

    def submit(self, topic: str, payload: bytes) -> None:
        """Hand one message to its shard; blocks while that shard is full (back-pressure)."""
        shard = self._shards[shard_of(topic, self.count)]
        try:
            with shard.lock:
                shard.conn.send_bytes(encode(topic, payload))
        except (OSError, ValueError) as exc:
            if not shard.broken:
                log.error("rule shard %d is gone (exit code %s); its messages go to the "
                          "dead-letter file", shard.index, shard.process.exitcode)
            shard.broken = True
            self._dead_letters.record(dead_letter_entry(
                None, None, topic, payload,
                RuntimeError(f"rule shard {shard.index} is not running ({exc})"), attempts=0))

    def healthy(self) -> bool:
        return all(not shard.broken and shard.process.is_alive() for shard in self._shards)

    def stop(self) -> None:
        """Let every child finish what it was given, then exit; idempotent."""
        for shard in self._shards:
            try:
                with shard.lock:
                    shard.conn.send_bytes(_END)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for shard in self._shards:
            shard.process.join(max(0.0, deadline - time.monotonic()))
            if shard.process.is_alive():
                log.error("rule shard %d did not finish within %.0f s; terminating it",
                          shard.index, STOP_TIMEOUT_S)
                shard.process.terminate()
                shard.process.join(5.0)
            shard.conn.close()
        self._shards = []


def serve_shard(index: int, conn: multiprocessing.connection.Connection,
                deployment: dict[str, Any], settings: ServiceMqtt, dead_letter_path: Path,
                retry: RetryPolicy, workers: int, max_pending: int) -> None:
    """A child's life: load the rules, say ready, run every message received until the end."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format=f"%(asctime)s %(levelname)s %(name)s[shard {index}]: %(message)s")
    runner = RuleRunner(deployment, settings, dead_letter_path=dead_letter_path, retry=retry,
                        workers=workers, max_pending=max_pending)
    pool = Workers(workers, f"rule-shard{index}")
    conn.send_bytes(_READY)
    try:
        while True:
            try:
                frame = conn.recv_bytes()
            except EOFError:  # the emulator is gone: finish what is queued
                break
            if frame == _END:
                break
            runner.accept(pool, *decode(frame))
    finally:
        pool.shutdown()
        log.info("rule shard %d done: %s", index, runner.stats.snapshot())
