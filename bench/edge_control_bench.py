"""Edge agent control plane on the local stack, with peers measured in the same run.

Rows:
  desired -> reported            boto3 iot-data UpdateThingShadow (desired anc.mu, anc.mode)
                                 sent -> the agent's report with those values arrives on
                                 /update/accepted; the agent process runs the sim audio loop
                                 and confirms each change in the loop before reporting
                                 (bar: p99 <= 100 ms)
  http desired -> delta (peer)   the same update -> the raw /update/delta seen by a plain
                                 MQTT client: the stack's own share of the row above
  outbox enqueue (normal)        durable telemetry enqueues per second, WAL synchronous=NORMAL
                                 (bar: >= 5,000/s)
  outbox enqueue (full)          the same with an fsync per message (synchronous=FULL)
  drain after outage             N telemetry messages queued while offline, then the
                                 connection comes up: outbox -> PUBACK -> ack, msgs/s
  broker pace (peer)             the same N messages published by a bare awsiotsdk client
                                 with the same in-flight window, no outbox: the broker's pace
  landed in DynamoDB             how many of the drained seqs the ingest rule stored (all)

Pace: awsiotsdk's MQTT5 client applies AWS IoT Core's per-connection limits by default
(`ExtendedValidationAndFlowControlOptions.AWS_IOT_CORE_DEFAULTS`: 100 publishes/s, 512 KB/s),
so against the local stack it drains at the pace IoT Core would accept, ~100 msgs/s: a
backlog of N messages takes N/100 s. The peer row shows the same ceiling without the outbox.

Usage: .venv/bin/python bench/edge_control_bench.py [--samples N] [--drain N]
Writes bench/results/edge_control.json.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cloud.local.stack import LocalStack  # noqa: E402
from edge_agent.config import load_config  # noqa: E402
from edge_agent.mqtt import MqttConnection  # noqa: E402
from edge_agent.outbox import Outbox  # noqa: E402
from edge_agent.telemetry import OutboxPublisher, TelemetrySample, build_telemetry  # noqa: E402
from protocol import topics  # noqa: E402
from tests.edge.conftest import (  # noqa: E402
    AgentProcess,
    ServiceClient,
    device_config,
    iot_data,
    reported,
    telemetry_seqs,
    wait_for,
)

RESULTS = REPO / "bench" / "results" / "edge_control.json"
BAR_REPORTED_P99_MS = 100.0
BAR_ENQUEUE_PER_S = 5000.0
WINDOW = 64


def percentiles(times_ms: list[float]) -> dict[str, float]:
    times = sorted(times_ms)

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]

    return {"samples": len(times), "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "max_ms": times[-1], "mean_ms": statistics.fmean(times)}


# --------------------------------------------------------------- desired -> reported


def desired_to_reported(stack: LocalStack, work: Path, samples: int) -> dict[str, Any]:
    thing = "bench-control-1"
    config = device_config(stack, thing, work, interval_s=1.0)
    agent = AgentProcess(config).start()
    cloud = ServiceClient(stack, "edge-control-bench")
    accepted: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
    deltas: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
    acc_topic = topics.shadow_topic(thing, "update", "accepted")
    delta_topic = topics.shadow_topic(thing, "update", "delta")

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        now = time.perf_counter()
        body = json.loads(message.payload)
        (accepted if message.topic == acc_topic else deltas).put((now, body))

    cloud.client.on_message = on_message
    cloud.subscribe(acc_topic)
    cloud.subscribe(delta_topic)
    client = iot_data(stack)
    try:
        if not wait_for(lambda: reported(stack, thing).get("anc"), timeout=30):
            raise RuntimeError(f"agent did not report:\n{agent.output()}")
        to_reported: list[float] = []
        to_delta: list[float] = []
        modes = ("anc", "adaptive")
        rng = random.Random(1)
        for i in range(-10, samples):  # 10 warm-up rounds
            mu = round(0.01 + (i + 10) * 1e-4, 6)
            mode = modes[i % 2]
            time.sleep(0.05 + rng.uniform(0, 0.02))
            for q in (accepted, deltas):
                while not q.empty():
                    q.get_nowait()
            t0 = time.perf_counter()
            client.update_thing_shadow(thingName=thing, payload=json.dumps(
                {"state": {"desired": {"anc": {"mu": mu, "mode": mode}}}}))
            t_delta = None
            deadline = t0 + 5.0
            while True:
                try:
                    when, body = accepted.get(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty:
                    raise RuntimeError(f"no report of mu={mu}:\n{agent.output()[-2000:]}") \
                        from None
                anc = body.get("state", {}).get("reported", {}).get("anc", {})
                if anc.get("mu") == mu and anc.get("mode") == mode:
                    break
            while not deltas.empty():
                d_when, d_body = deltas.get_nowait()
                if d_body.get("state", {}).get("anc", {}).get("mu") == mu:
                    t_delta = d_when
            if i >= 0:
                to_reported.append((when - t0) * 1000)
                if t_delta is not None:
                    to_delta.append((t_delta - t0) * 1000)
            if (i + 1) % max(1, samples // 4) == 0 and i >= 0:
                print(f"  desired -> reported: {i + 1}/{samples}", flush=True)
        return {"desired_to_reported": percentiles(to_reported),
                "desired_to_delta_peer": percentiles(to_delta) if to_delta else None}
    finally:
        cloud.close()
        agent.terminate()


# ------------------------------------------------------------------------- outbox


def sample_document() -> dict[str, Any]:
    return build_telemetry(TelemetrySample(
        mode="anc", interval_s=10.0, algorithm="fxnlms", attenuation_db={"broadband": 18.2},
        block_time_us={"mean": 40.0, "p99": 60.0, "max": 90.0, "budget": 666.7},
        deadline_misses=0, filter_resets=0, filter_version=0), now=1764064800.0)


def enqueue_rate(work: Path, synchronous: str, count: int) -> dict[str, Any]:
    topic = topics.device_topic("bench-outbox", topics.TELEMETRY)
    doc = sample_document()
    with Outbox(work / f"enqueue-{synchronous}.sqlite", capacity=count + 1,
                synchronous=synchronous) as box:  # type: ignore[arg-type]
        for _ in range(100):
            box.enqueue(topic, doc)
        start = time.perf_counter()
        for _ in range(count):
            box.enqueue(topic, doc)
        elapsed = time.perf_counter() - start
    return {"synchronous": synchronous, "messages": count, "seconds": elapsed,
            "per_s": count / elapsed}


def drain_after_outage(stack: LocalStack, work: Path, count: int) -> dict[str, Any]:
    thing = "bench-drain-1"
    config = load_config(device_config(stack, thing, work))
    topic = topics.device_topic(thing, topics.TELEMETRY)
    box = Outbox(config.outbox.path, capacity=count + 10)
    doc = sample_document()
    for _ in range(count):  # queued while "offline": nothing is connected yet
        box.enqueue(topic, doc)
    connection = MqttConnection(config.mqtt, thing, on_message=lambda _t, _p: None)
    publisher = OutboxPublisher(box, connection, window=WINDOW)
    connection.start()
    if not connection.wait_connected(15):
        raise RuntimeError(f"drain client did not connect: {connection.last_error}")
    start = time.perf_counter()
    publisher.start()
    drained = publisher.flush(timeout=300)
    elapsed = time.perf_counter() - start
    publisher.stop()
    connection.stop()
    box.close()
    if not drained:
        raise RuntimeError("the outbox did not drain within 300 s")
    landed = wait_for(lambda: len(telemetry_seqs(stack, thing)) >= count, timeout=120, step=1.0)
    stored = telemetry_seqs(stack, thing)
    return {"messages": count, "seconds": elapsed, "per_s": count / elapsed,
            "landed_in_dynamodb": len(stored), "all_landed": bool(landed)
            and stored == list(range(1, count + 1))}


def broker_pace(stack: LocalStack, work: Path, count: int) -> dict[str, Any]:
    """The same messages through a bare client with the same window: the broker's pace."""
    thing = "bench-peer-1"
    config = load_config(device_config(stack, thing, work))
    topic = topics.device_topic(thing, topics.EVENTS)  # not ingested: broker only
    payload = json.dumps(sample_document()).encode()
    connection = MqttConnection(config.mqtt, thing, on_message=lambda _t, _p: None)
    connection.start()
    if not connection.wait_connected(15):
        raise RuntimeError(f"peer client did not connect: {connection.last_error}")
    start = time.perf_counter()
    sent = 0
    while sent < count:
        batch: list[Future[str]] = [connection.publish(topic, payload)
                                     for _ in range(min(WINDOW, count - sent))]
        for future in batch:
            future.result(30)
        sent += len(batch)
    elapsed = time.perf_counter() - start
    connection.stop()
    return {"messages": count, "seconds": elapsed, "per_s": count / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200,
                        help="desired -> reported round trips (default 200)")
    parser.add_argument("--drain", type=int, default=5000,
                        help="messages queued during the outage (default 5000)")
    parser.add_argument("--enqueues", type=int, default=20000,
                        help="enqueues for the synchronous=NORMAL rate (default 20000)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="edge-control-bench-") as tmp:
        work = Path(tmp)
        print("outbox enqueue rates ...", flush=True)
        normal = enqueue_rate(work, "normal", args.enqueues)
        full = enqueue_rate(work, "full", max(200, args.enqueues // 40))
        print("starting the local stack ...", flush=True)
        with LocalStack(directory=work / "stack") as stack:
            print(f"desired -> reported, {args.samples} samples ...", flush=True)
            shadow = desired_to_reported(stack, work / "agent", args.samples)
            print(f"drain after outage, {args.drain} messages ...", flush=True)
            drain = drain_after_outage(stack, work / "drain", args.drain)
            peer = broker_pace(stack, work / "peer", args.drain)

    d2r = shadow["desired_to_reported"]
    rows = [
        ("desired -> reported p99", f"{d2r['p99_ms']:.1f} ms (p50 {d2r['p50_ms']:.1f})",
         d2r["p99_ms"] <= BAR_REPORTED_P99_MS, f"<= {BAR_REPORTED_P99_MS:.0f} ms"),
        ("outbox enqueue (normal)", f"{normal['per_s']:,.0f} /s",
         normal["per_s"] >= BAR_ENQUEUE_PER_S, f">= {BAR_ENQUEUE_PER_S:,.0f} /s"),
        ("outbox enqueue (full)", f"{full['per_s']:,.0f} /s", None, "(fsync per message)"),
        ("drain after outage", f"{drain['per_s']:,.0f} msgs/s", None,
         f"{drain['per_s'] / peer['per_s']:.2f}x broker pace"),
        ("broker pace (peer)", f"{peer['per_s']:,.0f} msgs/s", None, "bare client"),
        ("landed in DynamoDB", f"{drain['landed_in_dynamodb']}/{drain['messages']}",
         drain["all_landed"], "every seq once"),
    ]
    peer_delta = shadow["desired_to_delta_peer"]
    if peer_delta:
        rows.insert(1, ("http desired -> delta (peer)", f"{peer_delta['p99_ms']:.1f} ms "
                        f"(p50 {peer_delta['p50_ms']:.1f})", None, "the stack's share"))
    print()
    for name, value, ok, note in rows:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"{name:32s} {value:28s} {verdict:5s} {note}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "desired_to_reported": d2r, "desired_to_delta_peer": peer_delta,
        "outbox_enqueue_normal": normal, "outbox_enqueue_full": full,
        "drain_after_outage": drain, "broker_pace_peer": peer,
        "bars": {"desired_to_reported_p99_ms": BAR_REPORTED_P99_MS,
                 "outbox_enqueue_per_s": BAR_ENQUEUE_PER_S},
        "pass": {"desired_to_reported": d2r["p99_ms"] <= BAR_REPORTED_P99_MS,
                 "outbox_enqueue": normal["per_s"] >= BAR_ENQUEUE_PER_S,
                 "drain_all_landed": drain["all_landed"]},
    }, indent=2))
    print(f"\nwrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
