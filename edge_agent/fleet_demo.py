"""Fleet demo: three simulated headsets on the local stack for about 30 s.

    python -m edge_agent.fleet_demo [--seconds 30] [--out demo-report]

Starts the local stack in a temporary directory and three agents (sim backend, each in its
own noise scene) and waits until every agent's audio loop runs and its MQTT connection is
up; from then on (t = 0) it changes a desired setting of one headset through boto3
`iot-data` (HTTP, as a fleet operator would), mixes a siren into another headset's scene,
and prints what each device did: attenuation before and after, the emergency's timing,
whether it ended and the user's mode came back, and any false alarm. The report
`OUT/index.html` gains a section with the table and a timeline plot,
inserted at the `<!-- more-sections -->` marker (a minimal page is created if there is none).
Everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import io
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloud.local.service_mqtt import ServiceMqtt, paho_client
from cloud.local.stack import LocalStack
from edge_agent.agent import Agent
from edge_agent.audio.api import MODES, InjectSound
from edge_agent.config import Config, from_local_stack

MARKER = "<!-- more-sections -->"
SECTION_ID = "edge-fleet"
DEVICES = (("headset-a", "traffic"), ("headset-b", "aircraft"), ("headset-c", "vehicle"))
DESIRED_DEVICE, DESIRED_AT_S = "headset-b", 6.0
# More taps for the low-frequency aircraft noise, at the default step size: converges on every
# scene (a larger mu trips the divergence guard on aircraft; see audio/README.md).
DESIRED = {"anc": {"mode": "adaptive", "taps": 256}}
READY_TIMEOUT_S = 60.0  # agents starting on a busy machine
WORSE_DB = 6.0  # a drop in attenuation the table calls out
WINDOW_S = 4.0  # attenuation is averaged over this long before the change and at the end
SIREN_DEVICE, SIREN_AT_S, SIREN_SECONDS = "headset-c", 12.0, 4.0


@dataclass
class Device:
    """One headset of the demo and what was observed about it."""

    thing: str
    scene: str
    agent: Agent
    thread: threading.Thread
    timeline: list[tuple[float, str, float | None]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def _config(stack: LocalStack, thing: str, scene: str, seed: int) -> Config:
    cert, key = stack.device_cert(thing)
    base = from_local_stack(stack.dir, thing, cert, key)
    audio = dataclasses.replace(base.audio, taps=128,
                                sim=dataclasses.replace(base.audio.sim, scene=scene, seed=seed))
    mqtt = dataclasses.replace(base.mqtt, reconnect_min_s=0.2, reconnect_max_s=2.0)
    return dataclasses.replace(base, audio=audio, mqtt=mqtt, telemetry_interval_s=1.0)


def _start_device(stack: LocalStack, thing: str, scene: str, seed: int,
                  stop: threading.Event) -> Device:
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        print(f"  {line}", flush=True)

    agent = Agent(_config(stack, thing, scene, seed), stop_event=stop, progress=progress)
    thread = threading.Thread(target=agent.run, name=f"agent-{thing}", daemon=True)
    device = Device(thing, scene, agent, thread, log=lines)
    thread.start()
    return device


def _listen_for_events(stack: LocalStack, devices: dict[str, Device]) -> Any:
    env = stack.env
    settings = ServiceMqtt(env["mqtt_host"], int(env["mqtt_port"]), Path(env["ca_path"]),
                           Path(env["service_cert_path"]), Path(env["service_key_path"]))
    client = paho_client(settings, "fleet-demo")
    subscribed = threading.Event()

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        thing = message.topic.split("/")[2]
        if thing in devices:
            body = json.loads(message.payload)
            body["received_at"] = time.time()
            devices[thing].events.append(body)

    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe("anc/v1/+/events", qos=1)
    client.connect(env["mqtt_host"], int(env["mqtt_port"]))
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("the demo's event listener could not subscribe")
    return client


def _iot_data(stack: LocalStack) -> Any:
    return stack.iot_data()


def _reported(stack: LocalStack, thing: str) -> dict[str, Any]:
    try:
        body = json.loads(_iot_data(stack).get_thing_shadow(thingName=thing)["payload"].read())
    except Exception:
        return {}
    reported: dict[str, Any] = body.get("state", {}).get("reported", {})
    return reported


def _stored_telemetry(stack: LocalStack, thing: str) -> list[int]:
    return stack.telemetry_seqs(thing)


def run_demo(seconds: float) -> dict[str, Any]:
    """Run the fleet and return what happened (also printed as it happens)."""
    with tempfile.TemporaryDirectory(prefix="anc-fleet-") as directory:
        return _run_fleet(seconds, Path(directory))


def _run_fleet(seconds: float, directory: Path) -> dict[str, Any]:
    stop = threading.Event()
    results: dict[str, Any] = {"seconds": seconds}
    with LocalStack(directory=directory,
                    progress=lambda line: print(f"  stack: {line}", flush=True)) as stack:
        devices: dict[str, Device] = {}
        listener = None
        try:
            for seed, (thing, scene) in enumerate(DEVICES):
                devices[thing] = _start_device(stack, thing, scene, seed, stop)
            listener = _listen_for_events(stack, devices)
            results["startup_s"] = _wait_until_ready(devices)
            print(f"  all {len(devices)} headsets running and connected after "
                  f"{results['startup_s']:.1f} s; t = 0", flush=True)
            start = time.monotonic()
            desired_sent = desired_seen = None
            siren_sent = siren_sample = None
            while (now := time.monotonic() - start) < seconds:
                for device in devices.values():
                    stats = device.agent.engine.stats()
                    if stats.blocks:  # the loop runs
                        device.timeline.append((now, stats.mode, stats.attenuation_db))
                if desired_sent is None and now >= DESIRED_AT_S:
                    print(f"  operator: desired {json.dumps(DESIRED)} -> {DESIRED_DEVICE} "
                          "(HTTP iot-data)", flush=True)
                    desired_sent = time.monotonic()
                    _iot_data(stack).update_thing_shadow(
                        thingName=DESIRED_DEVICE,
                        payload=json.dumps({"state": {"desired": DESIRED}}))
                if desired_sent is not None and desired_seen is None and \
                        _reported(stack, DESIRED_DEVICE).get("anc", {}).get("mode") == "adaptive":
                    desired_seen = time.monotonic()
                if siren_sent is None and now >= SIREN_AT_S:
                    print(f"  scene: a siren starts near {SIREN_DEVICE}", flush=True)
                    siren_sent = now
                    siren_sample = devices[SIREN_DEVICE].agent.engine.stats().stream_time_s
                    devices[SIREN_DEVICE].agent.engine.request(
                        InjectSound("siren", seconds=SIREN_SECONDS, snr_db=0.0, seed=5))
                time.sleep(0.1)
            results["desired_ms"] = None if desired_seen is None or desired_sent is None \
                else (desired_seen - desired_sent) * 1000
            results["siren_at_s"] = siren_sent
            results["siren_sample_s"] = siren_sample
        finally:
            stop.set()
            for device in devices.values():
                device.thread.join(30)
            if listener is not None:
                listener.loop_stop()
                listener.disconnect()
        time.sleep(1.0)  # let the rule runner store the last telemetry
        results["devices"] = [_summary(stack, d, results) for d in devices.values()]
        results["timelines"] = {d.thing: d.timeline for d in devices.values()}
    return results


def _wait_until_ready(devices: dict[str, Device]) -> float:
    """Seconds until every agent's audio loop runs and its MQTT connection is up."""
    start = time.monotonic()
    while time.monotonic() - start < READY_TIMEOUT_S:
        if all(d.agent.engine.stats().blocks > 0 and d.agent.mqtt.connected.is_set()
               for d in devices.values()):
            return time.monotonic() - start
        if not all(d.thread.is_alive() for d in devices.values()):
            raise RuntimeError("an agent stopped while starting (see its output above)")
        time.sleep(0.1)
    raise RuntimeError(f"the agents were not all running and connected within "
                       f"{READY_TIMEOUT_S:.0f} s")


def _mean_attenuation(timeline: list[tuple[float, str, float | None]], t0: float,
                      t1: float) -> float | None:
    values = [a for t, m, a in timeline if t0 <= t < t1 and a is not None and m != "transparency"]
    return sum(values) / len(values) if values else None


def _summary(stack: LocalStack, device: Device, results: dict[str, Any]) -> dict[str, Any]:
    reported = _reported(stack, device.thing)
    kinds = [e.get("type") for e in device.events]
    emergency = next((e for e in device.events if e.get("type") == "emergency_detected"), None)
    ended = next((e for e in device.events if e.get("type") == "emergency_ended"), None)
    end_t = device.timeline[-1][0] if device.timeline else 0.0
    stored = _stored_telemetry(stack, device.thing)
    final_mode = device.timeline[-1][1] if device.timeline else None
    return {
        "thing": device.thing, "scene": device.scene,
        "attenuation_before_db": _mean_attenuation(device.timeline, DESIRED_AT_S - WINDOW_S,
                                                   DESIRED_AT_S),
        "attenuation_db": _mean_attenuation(device.timeline, end_t - WINDOW_S, end_t + 1.0),
        "final_mode": final_mode,
        "telemetry_stored": len(stored),
        "telemetry_complete": stored == list(range(1, len(stored) + 1)),
        "events": {k: kinds.count(k) for k in sorted(set(kinds), key=str)},
        "emergency": None if emergency is None else {
            "class": emergency.get("class"), "confidence": emergency.get("confidence"),
            "onset_to_transparency_ms": None if emergency.get("switched_s") is None
            else 1000 * (emergency["switched_s"] - emergency["onset_s"]),
            "detect_delay_ms": 1000 * (emergency["at_s"] - emergency["onset_s"]),
            "onset_s": emergency["onset_s"],
            "injected": device.thing == SIREN_DEVICE and results.get("siren_sample_s") is not None
            and emergency["onset_s"] >= results["siren_sample_s"] - 0.5,
            "ended_after_s": None if ended is None else ended["at_s"] - emergency["onset_s"],
            "restored_mode": None if ended is None else ended.get("previous_mode")},
        "reported_mode": reported.get("anc", {}).get("mode"),
        "reported_mu": reported.get("anc", {}).get("mu"),
        "modes_seen": sorted({m for _t, m, _a in device.timeline}, key=MODES.index),
        "errors": reported.get("errors"),
    }


def _emergency_text(d: dict[str, Any]) -> str:
    e = d["emergency"]
    what = "" if e["injected"] else "FALSE ALARM: "
    delay = e["onset_to_transparency_ms"]
    timing = (f"transparency {delay:.0f} ms after onset" if delay is not None
              else f"detected {e['detect_delay_ms']:.0f} ms after onset")
    if e["ended_after_s"] is None:
        end = "did NOT end before the run stopped"
    else:
        end = (f"ended {e['ended_after_s']:.1f} s after onset, "
               f"mode {e['restored_mode']} restored")
    return f"{what}{e['class']} (confidence {e['confidence']:.2f}); {timing}; {end}"


def _db(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} dB"


def table(results: dict[str, Any]) -> list[list[str]]:
    rows = [["device", "scene", f"attenuation at {DESIRED_AT_S:.0f} s → end",
             "telemetry in DynamoDB", "modes seen", "what happened"]]
    for d in results["devices"]:
        happened = []
        if d["thing"] == DESIRED_DEVICE:
            ms = results.get("desired_ms")
            happened.append(f"desired {json.dumps(DESIRED)} applied and reported"
                            + (f" in {ms:.0f} ms" if ms is not None else " (NOT seen)"))
        if d["emergency"]:
            happened.append(_emergency_text(d))
        elif d["thing"] == SIREN_DEVICE:
            happened.append("siren injected but NOT detected")
        if not happened:
            happened.append("steady ANC, no emergency")
        before, after = d["attenuation_before_db"], d["attenuation_db"]
        if after is not None and after < 0.0:
            happened.append(f"anti-noise makes it {-after:.1f} dB LOUDER")
        elif before is not None and after is not None and after < before - WORSE_DB:
            happened.append(f"attenuation dropped by {before - after:.1f} dB")
        complete = "complete" if d["telemetry_complete"] else "GAPS"
        rows.append([d["thing"], d["scene"], f"{_db(before)} → {_db(after)}",
                     f"{d['telemetry_stored']} ({complete})",
                     ", ".join(d["modes_seen"]) + f" (now {d['final_mode']})",
                     "; ".join(happened)])
    return rows


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for n, row in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)] + [row[-1]]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 20)


def timeline_png(results: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    for thing, points in results["timelines"].items():
        t = [p[0] for p in points]
        axes[0].step(t, [MODES.index(p[1]) for p in points], where="post", label=thing)
        axes[1].plot(t, [float("nan") if p[2] is None else p[2] for p in points], label=thing)
    axes[0].set_yticks(range(len(MODES)), MODES)
    axes[0].set_title("effective mode")
    axes[1].set_ylabel("attenuation (dB)")
    axes[1].set_xlabel("seconds since the agents started")
    for ax in axes:
        ax.axvline(DESIRED_AT_S, color="grey", ls="--", lw=0.8)
        if results.get("siren_at_s") is not None:
            ax.axvspan(results["siren_at_s"], results["siren_at_s"] + SIREN_SECONDS,
                       color="red", alpha=0.1)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def section_html(rows: list[list[str]], png: bytes) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows[1:])
    image = base64.b64encode(png).decode()
    return (f'<section id="{SECTION_ID}">\n<h2>Fleet: three simulated headsets on the local '
            "stack</h2>\n<p>Each headset runs the edge agent (sim backend, real-time audio loop "
            "in its own process) against Mosquitto with mutual TLS, the shadow emulator and "
            "the telemetry ingest rule into DynamoDB (moto). "
            f"At {DESIRED_AT_S:.0f} s an operator changes {DESIRED_DEVICE}'s desired state "
            f"over HTTP; at {SIREN_AT_S:.0f} s a siren is mixed into {SIREN_DEVICE}'s scene "
            "(grey line and red band in the plot).</p>\n"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n"
            f'<img alt="mode and attenuation timelines" src="data:image/png;base64,{image}">\n'
            f"</section>\n")


def insert_section(report: Path, section: str) -> None:
    """Put `section` into the report at the marker (replacing an earlier fleet section)."""
    report.parent.mkdir(parents=True, exist_ok=True)
    if report.exists():
        page = report.read_text()
    else:
        page = ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>ANC platform demo"
                f"</title></head>\n<body>\n<h1>ANC platform demo</h1>\n{MARKER}\n</body></html>\n")
    start = page.find(f'<section id="{SECTION_ID}">')
    if start >= 0:
        end = page.index("</section>", start) + len("</section>\n")
        page = page[:start] + page[end:]
    if MARKER in page:
        page = page.replace(MARKER, section + MARKER, 1)
    elif "</body>" in page:
        page = page.replace("</body>", section + MARKER + "\n</body>", 1)
    else:
        page += section + MARKER + "\n"
    report.write_text(page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Three simulated headsets on the local stack.")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="how long the fleet runs (default 30, at least 20)")
    parser.add_argument("--out", type=Path, default=Path("demo-report"),
                        help="report directory (default demo-report)")
    args = parser.parse_args(argv)
    if args.seconds < 20:
        parser.error("--seconds must be at least 20 (the siren plays at 12 s for 4 s)")
    print(f"Fleet demo: {len(DEVICES)} headsets for {args.seconds:.0f} s", flush=True)
    results = run_demo(args.seconds)
    rows = table(results)
    print()
    print_table(rows)
    report = args.out / "index.html"
    insert_section(report, section_html(rows, timeline_png(results)))
    (args.out / "edge_fleet.json").write_text(json.dumps(
        {k: v for k, v in results.items() if k != "timelines"}, indent=2))
    print(f"\nReport section written to {report}")
    ok = all(d["telemetry_complete"] for d in results["devices"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
