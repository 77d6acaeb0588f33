"""Shadow service latency on the local stack, against peers measured in the same run.

Rows:
  mqtt5 update -> accepted           IotShadowClientV2.update_shadow round trip, one request
                                     every 50 ms as a device sends them (bar: p99 <= 20 ms)
  mqtt5 update -> accepted, b2b      the same, back to back (see "Nagle" below)
  mqtt5 publish -> own subscription  the same client's QoS 1 round trip through Mosquitto
                                     alone, paced like the first row: the floor under it
  http update (emulator)             boto3 iot-data UpdateThingShadow against the emulator
  http update (moto)                 the same call against moto's iot-data shadows
  http desired -> device delta       UpdateThingShadow sent -> /update/delta received by an
                                     MQTT5 device (bar: p99 <= 50 ms)

Nagle: the SDK's socket does not set TCP_NODELAY, so a request sent within ~40 ms of the
device's PUBACK for the previous response waits for the broker's delayed TCP ACK. Back to
back requests therefore measure that interplay (~40 ms), not the service.

Usage: .venv/bin/python bench/shadow_bench.py [--samples N]
Writes bench/results/shadow.json.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from awscrt import mqtt5
from awsiot import iotshadow

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cloud.local.stack import LocalStack  # noqa: E402
from tests.cloud.shadow.devices import TIMEOUT_S, v2_device  # noqa: E402

RESULTS = REPO / "bench" / "results" / "shadow.json"
UPDATE_PACED = "mqtt5 update -> accepted"
UPDATE_B2B = "mqtt5 update -> accepted, b2b"
BROKER_FLOOR = "mqtt5 publish -> own subscription"
HTTP_DELTA = "http desired -> device delta"
BARS_MS = {UPDATE_PACED: 20.0, HTTP_DELTA: 50.0}
WARMUP = 20
PACE_S = 0.05


def measure(name: str, samples: int, once: Callable[[int], float],
            pace_s: float = 0.0) -> dict[str, Any]:
    """Run `once(i)` (returns seconds) WARMUP + samples times, `pace_s` apart; in ms."""
    for i in range(WARMUP):
        once(-1 - i)
    times: list[float] = []
    step = max(1, samples // 4)
    for i in range(samples):
        time.sleep(pace_s)
        times.append(once(i) * 1000.0)
        if (i + 1) % step == 0:
            print(f"  {name}: {i + 1}/{samples}", flush=True)
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]

    return {"name": name, "samples": samples, "pace_ms": pace_s * 1000,
            "p50_ms": pct(50), "p90_ms": pct(90),
            "p99_ms": pct(99), "max_ms": times[-1], "mean_ms": statistics.fmean(times)}


def iot_data(endpoint: str, region: str) -> Any:
    return boto3.client("iot-data", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def run(samples: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    print("starting the local stack ...", flush=True)
    with LocalStack(directory=None) as stack:
        env = stack.env
        thing = "bench-device"
        echoes: queue.Queue[bytes] = queue.Queue()
        echo_topic = f"anc/v1/{thing}/bench-echo"

        def on_publish(topic: str, payload: bytes) -> None:
            if topic == echo_topic:  # the device also receives its shadow responses
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

            # echo_topic: no rule or service listens to it, so this is the broker alone.
            dev.client.subscribe(mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(
                echo_topic, mqtt5.QoS.AT_LEAST_ONCE)])).result(TIMEOUT_S)

            def broker_echo(i: int) -> float:
                start = time.perf_counter()
                dev.client.publish(mqtt5.PublishPacket(
                    topic=echo_topic, payload=json.dumps({"seq": i}).encode(),
                    qos=mqtt5.QoS.AT_LEAST_ONCE))
                echoes.get(timeout=TIMEOUT_S)
                return time.perf_counter() - start

            rows.append(measure(BROKER_FLOOR, samples, broker_echo, PACE_S))

            emulator = iot_data(env["iot_data_endpoint_url"], env["region"])

            def http_update(client: Any, name: str) -> Callable[[int], float]:
                def once(i: int) -> float:
                    body = json.dumps({"state": {"reported": {"seq": i}}})
                    start = time.perf_counter()
                    client.update_thing_shadow(thingName=name, payload=body)["payload"].read()
                    return time.perf_counter() - start
                return once

            rows.append(measure("http update (emulator)", samples,
                                http_update(emulator, "bench-http")))
            boto3.client("iot", endpoint_url=env["aws_endpoint_url"], region_name=env["region"],
                         aws_access_key_id="testing", aws_secret_access_key="testing"
                         ).create_thing(thingName="bench-http")
            moto = iot_data(env["aws_endpoint_url"], env["region"])
            rows.append(measure("http update (moto)", samples, http_update(moto, "bench-http")))

            deltas = dev.open_stream(dev.shadow.create_shadow_delta_updated_stream,
                                     iotshadow.ShadowDeltaUpdatedSubscriptionRequest(
                                         thing_name=thing))

            def desired_to_delta(i: int) -> float:
                body = json.dumps({"state": {"desired": {"seq": f"d{i}"}}})
                start = time.perf_counter()
                emulator.update_thing_shadow(thingName=thing, payload=body)
                deltas.get(timeout=TIMEOUT_S)
                return time.perf_counter() - start

            rows.append(measure(HTTP_DELTA, samples, desired_to_delta))
    return rows


def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_name = {r["name"]: r for r in rows}
    floor = by_name[BROKER_FLOOR]["p50_ms"]
    moto = by_name["http update (moto)"]["p50_ms"]
    for r in rows:
        peer = moto if r["name"].startswith("http update") else floor
        r["p50_ratio_to_peer"] = r["p50_ms"] / peer if peer else None
        bar = BARS_MS.get(r["name"])
        r["bar_p99_ms"] = bar
        r["meets_bar"] = None if bar is None else r["p99_ms"] <= bar
    print()
    print(f"{'measurement':36} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'x peer':>7}  bar")
    for r in rows:
        verdict = "" if r["bar_p99_ms"] is None else (
            f"p99<={r['bar_p99_ms']:.0f} {'met' if r['meets_bar'] else 'MISSED'}")
        print(f"{r['name']:36} {r['samples']:5d} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['max_ms']:8.2f} {r['p50_ratio_to_peer']:7.2f}  {verdict}")
    print("x peer: p50 over the broker round trip (MQTT rows, delta row) or over moto (HTTP rows)")
    return {"benchmark": "shadow", "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    result = report(run(args.samples))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0 if all(r["meets_bar"] is not False for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
