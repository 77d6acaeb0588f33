"""The local AWS IoT stack against its bars (issue 4), with peers measured in the same run.

Phases (all against one `LocalStack`: Mosquitto with mutual TLS, moto server, emulator):

  shadow     IotShadowClientV2 (MQTT5) update -> /update/accepted, one request every 50 ms
             as a device sends them (bar: p99 <= 20 ms); the same back to back; the same
             client's QoS 1 round trip through Mosquitto alone (the floor under it); boto3
             iot-data UpdateThingShadow against the emulator and against moto (peer); and
             desired change over HTTP -> /update/delta received by the device (bar: p99 <= 50 ms).
  telemetry  20 devices publish schema-valid telemetry (QoS 1, each with its own
             certificate) at --rate msg/s for --seconds s; Mosquitto -> rule runner -> ingest
             Lambda -> DynamoDB (moto). Counts what landed in moto (bar: >= 2,000 msg/s
             sustained for 60 s, zero loss). The devices are lean MQTT 3.1.1 publishers
             (bench/mqtt_publisher.py: ~30 µs of CPU per message against awscrt's 120-220 µs,
             taken from the same two cores as the stack); --publisher sdk uses awscrt MQTT5.
  fleet      --devices awscrt MQTT5 devices connect at once, each with its own certificate
             (mutual TLS), and each does a shadow get with IotShadowClientV2 (bar: all
             succeed); reports the time to connect them all and the emulator's memory.

Prints PASS/MISS per bar and writes bench/results/local_stack.json. Timings here are
noisy on a shared machine; re-run on a quiet one for figures to quote.

Usage: .venv/bin/python bench/local_stack_bench.py [--only shadow,telemetry,fleet]
           [--samples 300] [--rate 2200] [--seconds 60] [--publisher lean|sdk]
           [--devices 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import boto3
from awscrt import mqtt5, mqtt_request_response
from awsiot import iotshadow, mqtt5_client_builder

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.mqtt_publisher import LeanPublisher  # noqa: E402
from cloud.local.stack import LocalStack  # noqa: E402
from cloud.shared.dynamo import to_dynamo  # noqa: E402
from cloud.shared.telemetry import to_item  # noqa: E402
from protocol import schemas  # noqa: E402
from protocol.topics import device_topic  # noqa: E402
from tests.cloud.shadow.devices import TIMEOUT_S, v2_device  # noqa: E402

RESULTS = REPO / "bench" / "results" / "local_stack.json"
UPDATE_PACED = "mqtt5 update -> accepted"
UPDATE_B2B = "mqtt5 update -> accepted, b2b"
BROKER_FLOOR = "mqtt5 publish -> own subscription"
HTTP_DELTA = "http desired -> device delta"
HTTP_EMULATOR = "http update (emulator)"
HTTP_MOTO = "http update (moto)"
BARS_P99_MS = {UPDATE_PACED: 20.0, HTTP_DELTA: 50.0}
TELEMETRY_BAR_MSG_S = 2000.0
# Offered 10% above the bar: what lands can never outpace what is offered, and the last
# message's latency counts against the rate, so at exactly the bar even a pipeline with room
# to spare reads a little under it. A pipeline slower than the offer falls behind and shows
# its own rate.
TELEMETRY_OFFERED_MSG_S = 1.1 * TELEMETRY_BAR_MSG_S
TELEMETRY_BAR_SECONDS = 60.0
FLEET_BAR_DEVICES = 1000
WARMUP = 20
PACE_S = 0.05
TELEMETRY_DEVICES = 20
DRAIN_TIMEOUT_S = 30.0
CEILING_ITEMS = 2000


# --- small utilities ---------------------------------------------------------------------

def raise_open_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its live child processes (the emulator's rule processes)."""
    own = float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            own = int(line.split()[1]) / 1024
    return own + sum(rss_mb(child) for child in child_pids(pid))


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its live child processes (the emulator's rule processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in child_pids(pid))


def stack_cpu(stack: LocalStack) -> dict[str, float]:
    usage = {name: cpu_seconds(info["pid"]) for name, info in stack.processes().items()}
    usage["bench"] = sum(os.times()[:2])
    return usage


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before[name], 2) for name in after}


def aws_client(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --- shadow latency --------------------------------------------------------------------

def measure(name: str, samples: int, once: Callable[[int], float],
            pace_s: float = 0.0) -> dict[str, Any]:
    """Run `once(i)` (returns seconds) WARMUP + samples times, `pace_s` apart; in ms."""
    for i in range(WARMUP):
        once(-1 - i)
    times: list[float] = []
    for i in range(samples):
        time.sleep(pace_s)
        times.append(once(i) * 1000.0)
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]

    row = {"name": name, "samples": samples, "pace_ms": pace_s * 1000, "p50_ms": pct(50),
           "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": times[-1],
           "mean_ms": statistics.fmean(times)}
    print(f"  {name:36} p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms", flush=True)
    return row


def shadow_phase(stack: LocalStack, samples: int) -> dict[str, Any]:
    env = stack.env
    thing = "bench-shadow"
    rows: list[dict[str, Any]] = []
    echoes: queue.Queue[bytes] = queue.Queue()
    echo_topic = f"anc/v1/{thing}/bench-echo"  # no rule or service listens here

    def on_publish(topic: str, payload: bytes) -> None:
        if topic == echo_topic:
            echoes.put(payload)

    with v2_device(stack, thing, on_publish=on_publish) as dev:
        def shadow_update(i: int) -> float:
            start = time.perf_counter()
            dev.shadow.update_shadow(iotshadow.UpdateShadowRequest(
                thing_name=thing, state=iotshadow.ShadowState(reported={"seq": i}))
            ).result(TIMEOUT_S)
            return time.perf_counter() - start

        rows.append(measure(UPDATE_PACED, samples, shadow_update, PACE_S))
        rows.append(measure(UPDATE_B2B, samples, shadow_update))

        dev.client.subscribe(mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(
            echo_topic, mqtt5.QoS.AT_LEAST_ONCE)])).result(TIMEOUT_S)

        def broker_echo(i: int) -> float:
            start = time.perf_counter()
            dev.client.publish(mqtt5.PublishPacket(topic=echo_topic,
                                                   payload=json.dumps({"seq": i}).encode(),
                                                   qos=mqtt5.QoS.AT_LEAST_ONCE))
            echoes.get(timeout=TIMEOUT_S)
            return time.perf_counter() - start

        rows.append(measure(BROKER_FLOOR, samples, broker_echo, PACE_S))

        emulator = aws_client("iot-data", env["iot_data_endpoint_url"], env["region"])

        def http_update(client: Any, name: str) -> Callable[[int], float]:
            def once(i: int) -> float:
                body = json.dumps({"state": {"reported": {"seq": i}}})
                start = time.perf_counter()
                client.update_thing_shadow(thingName=name, payload=body)["payload"].read()
                return time.perf_counter() - start
            return once

        rows.append(measure(HTTP_EMULATOR, samples, http_update(emulator, "bench-http")))
        # moto's iot-data needs the thing registered.
        aws_client("iot", env["aws_endpoint_url"], env["region"]).create_thing(
            thingName="bench-http")
        moto = aws_client("iot-data", env["aws_endpoint_url"], env["region"])
        rows.append(measure(HTTP_MOTO, samples, http_update(moto, "bench-http")))

        deltas = dev.open_stream(dev.shadow.create_shadow_delta_updated_stream,
                                 iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing))

        def desired_to_delta(i: int) -> float:
            body = json.dumps({"state": {"desired": {"seq": f"d{i}"}}})
            start = time.perf_counter()
            emulator.update_thing_shadow(thingName=thing, payload=body)
            deltas.get(timeout=TIMEOUT_S)
            return time.perf_counter() - start

        rows.append(measure(HTTP_DELTA, samples, desired_to_delta, PACE_S))

    by_name = {row["name"]: row for row in rows}
    for row in rows:
        peer = by_name[HTTP_MOTO if row["name"].startswith("http update") else BROKER_FLOOR]
        row["p50_ratio_to_peer"] = row["p50_ms"] / peer["p50_ms"] if peer["p50_ms"] else None
        bar = BARS_P99_MS.get(row["name"])
        row["bar_p99_ms"] = bar
        row["pass"] = None if bar is None else row["p99_ms"] <= bar
    return {"rows": rows}


# --- telemetry throughput ----------------------------------------------------------------

class SdkPublisher:
    """An awscrt MQTT5 device that publishes telemetry and counts PUBACKs (`--publisher sdk`)."""

    def __init__(self, stack: LocalStack, thing: str) -> None:
        cert, key = stack.device_cert(thing)
        self.thing = thing
        self.topic = device_topic(thing, "telemetry")
        self.connected: Future[bool] = Future()
        self.stopped = threading.Event()
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint=stack.env["mqtt_host"], port=int(stack.env["mqtt_port"]),
            ca_filepath=stack.env["ca_path"], cert_filepath=str(cert),
            pri_key_filepath=str(key), client_id=thing,
            on_lifecycle_connection_success=lambda _: self._set_connected(),
            on_lifecycle_stopped=lambda _: self.stopped.set())
        self.futures: list[Future[Any]] = []
        self.client.start()

    def wait_connected(self) -> None:
        self.connected.result(TIMEOUT_S)

    def _set_connected(self) -> None:
        if not self.connected.done():
            self.connected.set_result(True)

    def publish(self, payload: bytes) -> None:
        self.futures.append(self.client.publish(mqtt5.PublishPacket(
            topic=self.topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)))

    def acked(self, timeout: float) -> tuple[int, int]:
        """(successful PUBACKs, failures) once every publish has completed or timed out."""
        ok = failed = 0
        deadline = time.monotonic() + timeout
        for future in self.futures:
            try:
                result = future.result(max(0.0, deadline - time.monotonic()))
                ok += result.puback.reason_code == mqtt5.PubackReasonCode.SUCCESS
                failed += result.puback.reason_code != mqtt5.PubackReasonCode.SUCCESS
            except Exception:
                failed += 1
        return ok, failed

    def stop(self) -> None:
        self.client.stop()
        self.stopped.wait(TIMEOUT_S)


class LeanDevice:
    """A device publishing through `LeanPublisher` (`--publisher lean`, the default): the
    same broker-side traffic as an SDK device for a fraction of the load generator's CPU."""

    def __init__(self, stack: LocalStack, thing: str) -> None:
        cert, key = stack.device_cert(thing)
        self.thing = thing
        self.client = LeanPublisher(stack.env["mqtt_host"], int(stack.env["mqtt_port"]),
                                    stack.env["ca_path"], cert, key, client_id=thing,
                                    topic=device_topic(thing, "telemetry"))

    def wait_connected(self) -> None:
        """Connected when constructed: the CONNACK has been checked."""

    def publish(self, payload: bytes) -> None:
        self.client.publish(payload)

    def acked(self, timeout: float) -> tuple[int, int]:
        return self.client.wait_for_acks(timeout)

    def stop(self) -> None:
        self.client.close()


PUBLISHERS: dict[str, Callable[[LocalStack, str], SdkPublisher | LeanDevice]] = {
    "lean": LeanDevice, "sdk": SdkPublisher}


def landed_count(ddb: Any, table: str, last: dict[str, int]) -> int:
    """How many of the published keys (thing, 0..last[thing]) are in the table, by key
    lookups (BatchGetItem, 100 keys a call): moto answers a Query by scanning the whole
    table, which with 100,000+ items takes minutes and competes with the pipeline."""
    keys = [{"thing": {"S": thing}, "seq": {"N": str(seq)}}
            for thing, final in last.items() for seq in range(final + 1)]
    found = 0
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": keys[start:start + 100],
                                           "ProjectionExpression": "thing"}}
        while request:
            response = ddb.batch_get_item(RequestItems=request)
            found += len(response["Responses"].get(table, []))
            request = response.get("UnprocessedKeys") or {}
    return found


def last_keys_present(ddb: Any, table: str, last: dict[str, int]) -> bool:
    keys = [{"thing": {"S": thing}, "seq": {"N": str(seq)}} for thing, seq in last.items()]
    response = ddb.batch_get_item(RequestItems={table: {
        "Keys": keys, "ProjectionExpression": "thing"}})
    return len(response["Responses"].get(table, [])) == len(keys)


def dead_letter_count(stack: LocalStack, things: set[str]) -> int:
    path = Path(stack.env["dead_letter_path"])
    if not path.exists():
        return 0
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return sum(1 for e in entries if e["topic"].split("/")[2] in things)


def moto_ceiling(stack: LocalStack, document: dict[str, Any]) -> dict[str, float]:
    """Items/s moto itself stores for this document, laid out as the ingest function stores
    it and written straight into a scratch table from one thread: BatchWriteItem (25 per call,
    what grouped ingest writes use) and conditional PutItem (one call per item). The pipeline
    cannot beat the first."""
    env = stack.env
    dynamodb = boto3.resource("dynamodb", endpoint_url=env["aws_endpoint_url"],
                              region_name=env["region"], aws_access_key_id="testing",
                              aws_secret_access_key="testing")
    table = dynamodb.create_table(
        TableName="bench-ceiling", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "thing", "AttributeType": "S"},
                              {"AttributeName": "seq", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "thing", "KeyType": "HASH"},
                   {"AttributeName": "seq", "KeyType": "RANGE"}])
    items = [to_dynamo(to_item("ceiling", 0, {**document, "seq": i}))
             for i in range(CEILING_ITEMS)]
    start = time.perf_counter()
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    batch_rate = len(items) / (time.perf_counter() - start)
    singles = items[: CEILING_ITEMS // 4]
    start = time.perf_counter()
    for item in singles:
        table.put_item(Item={**item, "seq": item["seq"] + CEILING_ITEMS},
                       ConditionExpression="attribute_not_exists(seq)")
    put_rate = len(singles) / (time.perf_counter() - start)
    table.delete()
    return {"batch_write_items_s": batch_rate, "conditional_put_items_s": put_rate}


def encoded_around_seq(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """`document` as JSON, split where its seq goes: head + str(seq).encode() + tail is the
    same bytes as json.dumps of the document with that seq."""
    marker = -982451653  # an integer no document field holds
    text = json.dumps({**document, "seq": marker})
    if text.count(str(marker)) != 1:
        raise ValueError("the telemetry example already contains the seq marker")
    head, _, tail = text.partition(str(marker))
    return head.encode(), tail.encode()


def telemetry_phase(stack: LocalStack, rate: float, seconds: float,
                    payload: str = "full", publisher_kind: str = "lean") -> dict[str, Any]:
    env = stack.env
    table = env["tables"]["TelemetryTable"]
    ddb = aws_client("dynamodb", env["aws_endpoint_url"], env["region"])
    things = [f"bench-tm-{i:02d}" for i in range(TELEMETRY_DEVICES)]
    publishers = [PUBLISHERS[publisher_kind](stack, thing) for thing in things]
    for publisher in publishers:
        publisher.wait_connected()
    # A schema-valid report: the schema's first example (every field a headset reports,
    # 16 top-level attributes) or its minimal one (seq, ts, mode); only seq changes.
    template = dict(schemas.load("telemetry")["examples"][0 if payload == "full" else 1])
    # Measured first, while nothing else uses moto.
    print("  measuring moto's own write rate for this document (the ceiling)", flush=True)
    ceiling = moto_ceiling(stack, template)
    total = int(rate * seconds)
    print(f"  publishing {total} messages at {rate:.0f} msg/s from {len(things)} devices"
          f" ({publisher_kind} publishers)", flush=True)
    # The load generator shares the machine with the stack, so it does as little as it can per
    # message: the document is encoded once and each message splices in its seq.
    head, tail = encoded_around_seq(template)
    tick = 0.005
    sent = 0
    cpu_before = stack_cpu(stack)
    start = time.perf_counter()
    while sent < total:
        due = min(total, int((time.perf_counter() - start + tick) * rate))
        while sent < due:
            publisher = publishers[sent % len(publishers)]
            publisher.publish(head + str(sent // len(publishers)).encode() + tail)
            sent += 1
        time.sleep(tick)
    publish_s = time.perf_counter() - start
    cpu_publishing = cpu_delta(cpu_before, stack_cpu(stack))
    print(f"  published in {publish_s:.1f} s; waiting for what is in flight to land", flush=True)
    # Device j published seq 0..(total-1-j)//n; its last message landing means it is done.
    n = len(publishers)
    last = {publishers[j].thing: (total - 1 - j) // n for j in range(min(n, total))}
    landed_s = None
    while time.perf_counter() - start < publish_s + DRAIN_TIMEOUT_S:
        if last_keys_present(ddb, table, last):
            landed_s = time.perf_counter() - start
            break
        time.sleep(0.25)
    # CPU per message is the pipeline's: up to the last message landing, before the count
    # below reads every key back (which costs moto as much again).
    cpu_pipeline = cpu_delta(cpu_before, stack_cpu(stack))
    acked = [p.acked(TIMEOUT_S) for p in publishers]
    landed = landed_count(ddb, table, last)
    while landed < total and time.perf_counter() - start < publish_s + DRAIN_TIMEOUT_S:
        time.sleep(2.0)
        landed = landed_count(ddb, table, last)
        landed_s = time.perf_counter() - start
    if landed < total or landed_s is None:  # not all in: the rate is what landed so far
        landed_s = time.perf_counter() - start
    cpu_total = cpu_delta(cpu_before, stack_cpu(stack))
    for publisher in publishers:
        publisher.stop()
    dead = dead_letter_count(stack, set(things))
    throughput = landed / landed_s if landed_s else 0.0
    result = {
        "payload": payload, "payload_bytes": len(json.dumps(template)),
        "publisher": publisher_kind,
        "target_rate_msg_s": rate, "seconds": seconds, "published": sent,
        "publish_rate_msg_s": sent / publish_s, "pubacks_ok": sum(a for a, _ in acked),
        "pubacks_failed": sum(f for _, f in acked), "landed": landed,
        "not_landed_within_drain": sent - landed,
        "drain_timeout_s": DRAIN_TIMEOUT_S,
        "dead_letters": dead, "last_landed_after_s": landed_s,
        "drain_lag_s": None if landed_s is None else landed_s - publish_s,
        "landed_throughput_msg_s": throughput,
        "cpu_s_while_publishing": cpu_publishing, "cpu_s_until_landed": cpu_pipeline,
        "cpu_s_total": cpu_total,
        "cpu_us_per_message": {k: round(v / max(1, landed) * 1e6)
                               for k, v in cpu_pipeline.items()},
        "moto_ceiling": ceiling,
        "ratio_to_moto_batch_ceiling": throughput / ceiling["batch_write_items_s"],
    }
    result["pass"] = (landed == sent and dead == 0 and seconds >= TELEMETRY_BAR_SECONDS
                      and throughput >= TELEMETRY_BAR_MSG_S)
    return result


# --- fleet: many devices at once ------------------------------------------------------

def fleet_phase(stack: LocalStack, devices: int) -> dict[str, Any]:
    env = stack.env
    emulator_pid = stack.processes()["emulator"]["pid"]
    broker_pid = stack.processes()["mosquitto"]["pid"]
    things = [f"bench-fleet-{i:04d}" for i in range(devices)]
    print(f"  issuing {devices} certificates and shadows", flush=True)
    certs = {thing: stack.device_cert(thing) for thing in things}
    iot_data = aws_client("iot-data", env["iot_data_endpoint_url"], env["region"])
    for i, thing in enumerate(things):
        iot_data.update_thing_shadow(thingName=thing, payload=json.dumps(
            {"state": {"desired": {"telemetry": {"interval_s": 10 + i % 5}}}}))
    memory_before = {"emulator_rss_mb": rss_mb(emulator_pid),
                     "mosquitto_rss_mb": rss_mb(broker_pid)}

    lock = threading.Lock()
    connected: dict[str, float] = {}
    failures: list[str] = []
    all_connected = threading.Event()
    stopped = threading.Semaphore(0)

    def on_success(thing: str) -> None:
        with lock:
            if thing not in connected:
                connected[thing] = time.perf_counter()
                if len(connected) == devices:
                    all_connected.set()

    def on_failure(thing: str, data: mqtt5.LifecycleConnectFailureData) -> None:
        with lock:
            failures.append(f"{thing}: {data.exception}")

    print(f"  connecting {devices} devices with mutual TLS", flush=True)
    clients = []
    start = time.perf_counter()
    for thing in things:
        cert, key = certs[thing]
        client = mqtt5_client_builder.mtls_from_path(
            endpoint=env["mqtt_host"], port=int(env["mqtt_port"]), ca_filepath=env["ca_path"],
            cert_filepath=str(cert), pri_key_filepath=str(key), client_id=thing,
            on_lifecycle_connection_success=lambda _d, t=thing: on_success(t),
            on_lifecycle_connection_failure=lambda d, t=thing: on_failure(t, d),
            on_lifecycle_stopped=lambda _d: stopped.release())
        client.start()
        clients.append(client)
    all_connected.wait(120)
    connect_s = (max(connected.values()) - start) if connected else None
    print(f"  {len(connected)}/{devices} connected in {connect_s or 0:.2f} s; shadow gets",
          flush=True)

    options = mqtt_request_response.ClientOptions(
        max_request_response_subscriptions=2, max_streaming_subscriptions=1,
        operation_timeout_in_seconds=60)
    shadows = [iotshadow.IotShadowClientV2(client, options) for client in clients]
    get_start = time.perf_counter()
    futures = [shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing))
               for shadow, thing in zip(shadows, things, strict=True)]
    ok = 0
    errors: list[str] = []
    for i, future in enumerate(futures):
        try:
            response = future.result(90)
            expected = 10 + i % 5
            ok += response.state.desired == {"telemetry": {"interval_s": expected}}
        except Exception as exc:
            errors.append(f"{things[i]}: {type(exc).__name__}: {exc}")
    gets_s = time.perf_counter() - get_start
    memory_after = {"emulator_rss_mb": rss_mb(emulator_pid),
                    "mosquitto_rss_mb": rss_mb(broker_pid)}
    for client in clients:
        client.stop()
    for _ in clients:
        stopped.acquire(timeout=TIMEOUT_S)
    result = {
        "devices": devices, "connected": len(connected), "connect_failures": len(failures),
        "first_failures": failures[:5], "time_to_connect_all_s": connect_s,
        "shadow_gets_ok": ok, "shadow_get_errors": errors[:5], "shadow_gets_s": gets_s,
        "memory_before_mb": memory_before, "memory_with_devices_mb": memory_after,
    }
    result["pass"] = devices >= FLEET_BAR_DEVICES and len(connected) == devices and ok == devices
    return result


# --- report ------------------------------------------------------------------------------

def print_report(result: dict[str, Any]) -> None:
    print()
    shadow = result.get("shadow")
    if shadow:
        print(f"{'shadow measurement':36} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
              f"{'x peer':>7}  bar")
        for r in shadow["rows"]:
            bar = "" if r["bar_p99_ms"] is None else \
                f"p99 <= {r['bar_p99_ms']:.0f} ms  {verdict(r['pass'])}"
            print(f"{r['name']:36} {r['samples']:5d} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                  f"{r['max_ms']:8.2f} {r['p50_ratio_to_peer']:7.2f}  {bar}")
        print("x peer: p50 over the broker-only round trip (MQTT rows, delta row) or over "
              "moto's iot-data (HTTP rows)")
    tm = result.get("telemetry")
    if tm:
        print(f"\ntelemetry ({tm['payload']} document, {tm['payload_bytes']} bytes): "
              f"published {tm['published']} at {tm['publish_rate_msg_s']:.0f} msg/s,"
              f" landed {tm['landed']} (not landed within {tm['drain_timeout_s']:.0f} s of the end:"
              f" {tm['not_landed_within_drain']}, dead letters {tm['dead_letters']}),"
              f" last counted after {tm['last_landed_after_s']:.1f} s"
              f" ({tm['drain_lag_s']:.1f} s after the last publish) ->"
              f" {tm['landed_throughput_msg_s']:.0f} msg/s sustained"
              f"   bar >= {TELEMETRY_BAR_MSG_S:.0f} msg/s for {TELEMETRY_BAR_SECONDS:.0f} s,"
              f" zero loss  {verdict(tm['pass'])}")
        print(f"  CPU us per message by process, until the last one landed:"
              f" {tm['cpu_us_per_message']}"
              f" ('bench': the {tm['publisher']} publishers generating the load)")
        ceiling = tm["moto_ceiling"]
        print(f"  peer: moto alone stores this document at {ceiling['batch_write_items_s']:.0f}"
              f" items/s (BatchWriteItem, one thread) and {ceiling['conditional_put_items_s']:.0f}"
              f" items/s (conditional PutItem); pipeline / BatchWriteItem ceiling ="
              f" {tm['ratio_to_moto_batch_ceiling']:.2f}")
    fleet = result.get("fleet")
    if fleet:
        print(f"\nfleet: {fleet['connected']}/{fleet['devices']} devices connected (mutual TLS) "
              f"in {fleet['time_to_connect_all_s'] or float('nan'):.2f} s, "
              f"{fleet['shadow_gets_ok']}/{fleet['devices']} shadow gets in "
              f"{fleet['shadow_gets_s']:.2f} s; emulator RSS "
              f"(with its rule processes) {fleet['memory_before_mb']['emulator_rss_mb']:.0f} -> "
              f"{fleet['memory_with_devices_mb']['emulator_rss_mb']:.0f} MB, mosquitto RSS "
              f"{fleet['memory_before_mb']['mosquitto_rss_mb']:.0f} -> "
              f"{fleet['memory_with_devices_mb']['mosquitto_rss_mb']:.0f} MB"
              f"   bar: all {FLEET_BAR_DEVICES} succeed  {verdict(fleet['pass'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default="shadow,telemetry,fleet",
                        help="comma-separated phases: shadow, telemetry, fleet")
    parser.add_argument("--samples", type=int, default=300, help="shadow samples per row")
    parser.add_argument("--rate", type=float, default=TELEMETRY_OFFERED_MSG_S,
                        help="telemetry messages per second offered")
    parser.add_argument("--seconds", type=float, default=TELEMETRY_BAR_SECONDS,
                        help="telemetry publishing time")
    parser.add_argument("--payload", choices=("full", "minimal"), default="full",
                        help="telemetry document: the schema's full or minimal example")
    parser.add_argument("--publisher", choices=sorted(PUBLISHERS), default="lean",
                        help="telemetry load generator: lean MQTT 3.1.1 publishers "
                             "(bench/mqtt_publisher.py) or awscrt MQTT5 clients")
    parser.add_argument("--devices", type=int, default=FLEET_BAR_DEVICES,
                        help="devices connected at once")
    args = parser.parse_args()
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(phases) - {"shadow", "telemetry", "fleet"}
    if unknown:
        parser.error(f"unknown phase(s) {sorted(unknown)}; use shadow, telemetry, fleet")
    files = raise_open_file_limit()
    result: dict[str, Any] = {"benchmark": "local_stack", "host": platform.node(),
                              "cpus": os.cpu_count(), "open_file_limit": files,
                              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    began = time.perf_counter()
    print("starting the local stack ...", flush=True)
    with LocalStack(directory=None) as stack:
        if "shadow" in phases:
            print("shadow latency:", flush=True)
            result["shadow"] = shadow_phase(stack, args.samples)
        if "telemetry" in phases:
            print("telemetry throughput:", flush=True)
            result["telemetry"] = telemetry_phase(stack, args.rate, args.seconds, args.payload,
                                                  args.publisher)
        if "fleet" in phases:
            print("fleet:", flush=True)
            result["fleet"] = fleet_phase(stack, args.devices)
    result["wall_s"] = time.perf_counter() - began
    print_report(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {RESULTS.relative_to(REPO)} ({result['wall_s']:.0f} s)")
    passes = [r["pass"] for r in result.get("shadow", {}).get("rows", []) if r["pass"] is not None]
    passes += [result[p]["pass"] for p in ("telemetry", "fleet") if p in result]
    return 0 if all(passes) else 1


if __name__ == "__main__":
    sys.exit(main())
