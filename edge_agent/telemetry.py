"""Telemetry and events: built, validated, made durable in the outbox, drained to MQTT.

- `build_telemetry` turns a `TelemetrySample` (audio statistics + device state) into a
  document valid against `protocol/schemas/telemetry.schema.json` (the outbox adds `seq`).
  Extended fields (block-time p50/p99.9) are included only where the schema declares them.
- `Channel` is what the rest of the agent uses: `telemetry(sample)`, `event(kind, **data)`,
  `features(frames)` and `adapt_request(body)` persist into the outbox before returning and
  wake the publisher. A features message is `{"ts", "version", "frames": [[31 values], …]}`
  with values in the order of `protocol/features.json` (`version` is its version).
- `OutboxPublisher` is a thread that drains the outbox in `seq` order: it publishes a window
  of messages at QoS 1, removes each from the outbox when its PUBACK arrives, and while
  disconnected (or when publishes fail) waits with exponential backoff and jitter. A message
  the broker refuses (e.g. PUBACK 0x87, not authorized) can never be delivered: it is removed,
  counted in `rejected` and logged, so it does not block the queue forever. Delivery is
  at-least-once; the cloud drops duplicates by (thing, seq).
- Telemetry is consumed by the cloud's ingest rule. A broker that answers its PUBACK with
  "no matching subscribers" (Mosquitto while the local stack's rule runner reconnects after
  a broker restart; AWS IoT Core never does) has delivered it to nobody: such a message
  stays in the outbox and is retried with backoff (`unconsumed` counts it).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from edge_agent.mqtt import MqttError, PublishRejected
from edge_agent.outbox import Outbox
from protocol import schemas, topics

log = logging.getLogger(__name__)

SCHEMA = "telemetry"


@dataclass(frozen=True)
class TelemetrySample:
    """One reporting interval's worth of state, before it becomes a telemetry document."""

    mode: str
    interval_s: float
    algorithm: str | None = None
    attenuation_db: Mapping[str, float] | None = None
    latency_samples: int | None = None
    noise_class: str | None = None
    noise_level_dbfs: float | None = None
    battery_percent: int | None = None
    battery_mv: int | None = None
    charging: bool | None = None
    worn: bool | None = None
    block_time_us: Mapping[str, float] | None = None  # mean p50 p99 p999 max budget
    deadline_misses: int | None = None
    filter_resets: int | None = None
    dropped: int | None = None
    filter_version: int | None = None


def _schema_keys(*path: str) -> set[str]:
    node = schemas.load(SCHEMA)
    for key in path:
        node = node["properties"][key]
    return set(node["properties"])


def _clamp(value: float, lo: float, hi: float) -> float:
    return min(max(float(value), lo), hi)


def build_telemetry(sample: TelemetrySample, now: float | None = None) -> dict[str, Any]:
    """The telemetry document for `sample` (without `seq`); ValueError if it is invalid."""
    doc: dict[str, Any] = {"ts": round(time.time() if now is None else now, 3),
                           "mode": sample.mode, "interval_s": sample.interval_s}
    simple = ("algorithm", "latency_samples", "noise_class", "worn", "deadline_misses",
              "filter_resets", "dropped", "filter_version")
    for name in simple:
        value = getattr(sample, name)
        if value is not None:
            doc[name] = value
    if sample.noise_level_dbfs is not None:
        doc["noise_level_dbfs"] = round(_clamp(sample.noise_level_dbfs, -160.0, 0.0), 2)
    if sample.attenuation_db:
        doc["attenuation_db"] = {band: round(_clamp(v, -60.0, 80.0), 2)
                                 for band, v in sample.attenuation_db.items()}
    if sample.battery_percent is not None:
        battery: dict[str, Any] = {"percent": sample.battery_percent}
        if sample.battery_mv is not None:
            battery["mv"] = sample.battery_mv
        if sample.charging is not None:
            battery["charging"] = sample.charging
        doc["battery"] = battery
    if sample.block_time_us:
        allowed = _schema_keys("block_time_us")
        doc["block_time_us"] = {k: round(float(v), 2) for k, v in sample.block_time_us.items()
                                if k in allowed}
    problems = schemas.errors(SCHEMA, {**doc, "seq": 0})
    if problems:
        raise ValueError("telemetry document is invalid: " + "; ".join(problems))
    return doc


class Connection(Protocol):
    """What the publisher needs from `edge_agent.mqtt.MqttConnection`."""

    connected: threading.Event

    def publish(self, topic: str, payload: bytes) -> Future[str]: ...


@dataclass
class PublisherStats:
    published: int = 0  # PUBACKed and removed from the outbox
    rejected: int = 0  # refused by the broker, removed
    failures: int = 0  # publish attempts that failed (disconnect, timeout)
    unconsumed: int = 0  # consumer-required messages PUBACKed with no subscriber: retried
    last_error: str | None = None
    last_ack_time: float | None = None
    rejected_topics: list[str] = field(default_factory=list)


class OutboxPublisher:
    """Drains an `Outbox` to MQTT in order (see module docstring)."""

    def __init__(self, outbox: Outbox, connection: Connection, *, window: int = 64,
                 ack_timeout_s: float = 15.0, min_backoff_s: float = 0.2,
                 max_backoff_s: float = 10.0, seed: int = 0) -> None:
        self.outbox = outbox
        self.connection = connection
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stats = PublisherStats()
        self._random = random.Random(seed)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Tell the publisher there is something new (or the connection came back)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty (everything PUBACKed); False on timeout."""
        deadline = time.monotonic() + timeout
        self.wake()
        while len(self.outbox) > 0:
            if time.monotonic() >= deadline or not self._thread.is_alive():
                return False
            self._wake.set()
            time.sleep(0.02)
        return True

    def _run(self) -> None:
        backoff = self.min_backoff_s
        while not self._stop.is_set():
            if not self.connection.connected.is_set():
                self._wait(0.2)
                continue
            batch = self.outbox.pending(self.window)
            if not batch:
                self._wait(1.0)
                continue
            if self._send(batch):
                backoff = self.min_backoff_s
            else:
                # Full jitter: sleep uniformly in [min, backoff], then double the ceiling.
                self._wait(self._random.uniform(self.min_backoff_s, backoff))
                backoff = min(backoff * 2, self.max_backoff_s)

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _send(self, batch: list[Any]) -> bool:
        """Publish a window and ack what was PUBACKed, in order; False if something failed."""
        futures = [(m, self.connection.publish(m.topic, m.payload)) for m in batch]
        done: list[int] = []
        ok = True
        deadline = time.monotonic() + self.ack_timeout_s
        for message, future in futures:
            try:
                reason = future.result(max(0.0, deadline - time.monotonic()))
                if reason == "NO_MATCHING_SUBSCRIBERS" and _needs_consumer(message.topic):
                    ok = False
                    self.stats.unconsumed += 1
                    self.stats.last_error = f"no subscriber for {message.topic}"
                    break  # keep the order: retry from this message
                done.append(message.seq)
                self.stats.published += 1
            except PublishRejected as exc:
                done.append(message.seq)
                self.stats.rejected += 1
                self.stats.rejected_topics = (self.stats.rejected_topics + [message.topic])[-10:]
                log.error("outbox: dropping message %d: %s", message.seq, exc)
            except (MqttError, FutureTimeout) as exc:
                ok = False
                self.stats.failures += 1
                self.stats.last_error = str(exc) or type(exc).__name__
        if done:
            self.outbox.ack_many(done)
            self.stats.last_ack_time = time.time()
        return ok


def _needs_consumer(topic: str) -> bool:
    """Channels a cloud rule always consumes: a PUBACK without subscribers is no delivery."""
    try:
        return topics.parse_device_topic(topic)[1] == topics.TELEMETRY
    except topics.TopicError:
        return False


class Channel:
    """Producer side: durable telemetry and events for one thing."""

    def __init__(self, thing: str, outbox: Outbox, publisher: OutboxPublisher) -> None:
        self.thing = topics.check_thing_name(thing)
        self.outbox = outbox
        self.publisher = publisher
        self._telemetry_topic = topics.device_topic(thing, topics.TELEMETRY)
        self._events_topic = topics.device_topic(thing, topics.EVENTS)
        self._adapt_topic = topics.device_topic(thing, topics.ADAPT_REQUEST)
        self._features_topic = topics.device_topic(thing, topics.FEATURES)
        self._dropped_reported = outbox.dropped

    def telemetry(self, sample: TelemetrySample, now: float | None = None) -> int:
        """Build, validate and persist one telemetry message; return its seq."""
        dropped = self.outbox.dropped
        if sample.dropped is None:
            sample = replace(sample, dropped=dropped - self._dropped_reported)
        message = self.outbox.enqueue(self._telemetry_topic, build_telemetry(sample, now))
        self._dropped_reported = dropped
        self.publisher.wake()
        return message.seq

    def event(self, kind: str, now: float | None = None, **data: Any) -> int:
        """Persist one event (`{"type": kind, "ts": …, **data}`); return its outbox seq."""
        body = {"type": kind, "ts": round(time.time() if now is None else now, 3), **data}
        message = self.outbox.enqueue(self._events_topic, body)
        self.publisher.wake()
        return message.seq

    def features(self, frames: list[list[float]], version: int,
                 now: float | None = None) -> int | None:
        """Persist noise feature frames for the cloud classifier; None (nothing stored) if a
        value is not finite."""
        rows = [[round(float(v), 3) for v in frame] for frame in frames]
        if not rows or not all(math.isfinite(v) for row in rows for v in row):
            return None
        body = {"ts": round(time.time() if now is None else now, 3), "version": version,
                "frames": rows}
        message = self.outbox.enqueue(self._features_topic, body)
        self.publisher.wake()
        return message.seq

    def adapt_request(self, body: dict[str, Any]) -> int:
        """Persist one heavy-adaptation request; return its outbox seq."""
        message = self.outbox.enqueue(self._adapt_topic, body)
        self.publisher.wake()
        return message.seq


__all__ = ["Channel", "OutboxPublisher", "PublisherStats", "TelemetrySample",
           "build_telemetry"]
