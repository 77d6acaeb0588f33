"""The real local stack for the edge-agent tests, and agents run as real processes against it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from cloud.local.stack import LocalStack

REPO = Path(__file__).resolve().parents[2]

# Runs one agent from a config file, printing its progress lines (for `wait_for_output`).
RUNNER = """
import sys
from edge_agent.agent import run_agent
from edge_agent.config import ConfigError, load_config
try:
    config = load_config(sys.argv[1])
except ConfigError as exc:
    print(f"anc-edge: error: {exc}", file=sys.stderr)
    sys.exit(2)
sys.exit(run_agent(config, progress=lambda line: print(line, flush=True)))
"""


@pytest.fixture(scope="session")
def edge_stack() -> Iterator[LocalStack]:
    with LocalStack(directory=None) as stack:
        yield stack


def device_config(stack: LocalStack, thing: str, directory: Path, *, interval_s: float = 0.25,
                  taps: int = 64, extra: str = "") -> Path:
    """A device config file for `thing` against `stack` (outbox under `directory`)."""
    cert, key = stack.device_cert(thing)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{thing}.toml"
    path.write_text(f"""
[device]
thing = "{thing}"
[mqtt]
host = "{stack.env['mqtt_host']}"
port = {stack.env['mqtt_port']}
ca = "{stack.env['ca_path']}"
cert = "{cert}"
key = "{key}"
keepalive_s = 5
reconnect_min_s = 0.1
reconnect_max_s = 1.0
[audio]
backend = "sim"
taps = {taps}
[audio.sim]
scene = "vehicle"
seed = 3
[telemetry]
interval_s = {interval_s}
[outbox]
path = "{directory / (thing + '.outbox.sqlite')}"
{extra}
""")
    return path


class AgentProcess:
    """`run_agent` in a child process: start, SIGTERM, SIGKILL, and its output."""

    _started = 0

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        AgentProcess._started += 1
        self.log_path = config_path.with_suffix(f".{AgentProcess._started}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(self.config_path)], cwd=REPO, stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO),
                                           "PYTHONUNBUFFERED": "1"})
        log.close()
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_output(self, text: str, timeout: float = 20.0, count: int = 1) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(text) >= count:
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return self.output().count(text) >= count
            time.sleep(0.05)
        return False

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> int:
        """SIGKILL the agent, as a crash would; then its audio-loop child, which a real
        device's supervisor would stop with it."""
        assert self.proc is not None
        children = _descendants(self.proc.pid)
        self.proc.kill()
        code = self.proc.wait(10)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return code

    def stop_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


@pytest.fixture
def agents() -> Iterator[Callable[[Path], AgentProcess]]:
    """Start agent processes; any still running at the end of the test is killed."""
    started: list[AgentProcess] = []

    def start(config_path: Path) -> AgentProcess:
        agent = AgentProcess(config_path).start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop_quietly()


# ----------------------------------------------------------------- cloud-side views


def telemetry_seqs(stack: LocalStack, thing: str) -> list[int]:
    """Every telemetry seq of `thing` stored by the ingest rule, sorted (duplicates kept)."""
    return stack.telemetry_seqs(thing)


def iot_data(stack: LocalStack) -> Any:
    return stack.iot_data()


def get_shadow(stack: LocalStack, thing: str) -> dict[str, Any]:
    try:
        response = iot_data(stack).get_thing_shadow(thingName=thing)
    except iot_data(stack).exceptions.ResourceNotFoundException:
        return {}
    document: dict[str, Any] = json.loads(response["payload"].read())
    return document


def set_desired(stack: LocalStack, thing: str, desired: dict[str, Any]) -> dict[str, Any]:
    response = iot_data(stack).update_thing_shadow(
        thingName=thing, payload=json.dumps({"state": {"desired": desired}}))
    document: dict[str, Any] = json.loads(response["payload"].read())
    return document


def reported(stack: LocalStack, thing: str) -> dict[str, Any]:
    state: dict[str, Any] = get_shadow(stack, thing).get("state", {}).get("reported", {})
    return state


class ServiceClient:
    """The cloud side on MQTT (the stack's service identity): publishes and listens."""

    def __init__(self, stack: LocalStack, role: str) -> None:
        env = stack.env
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"anc-iot-core-{role}", protocol=mqtt.MQTTv5)
        context = ssl.create_default_context(cafile=env["ca_path"])
        context.load_cert_chain(env["service_cert_path"], env["service_key_path"])
        self.client.tls_set_context(context)
        connected = threading.Event()
        self.client.on_connect = lambda *_args: connected.set()
        self.client.on_message = self._on_message
        self.client.connect(env["mqtt_host"], int(env["mqtt_port"]), keepalive=30)
        self.client.loop_start()
        assert connected.wait(10), "service client did not connect"

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload)))

    def subscribe(self, topic_filter: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_args: done.set()
        self.client.subscribe(topic_filter, qos=1)
        assert done.wait(10), f"no SUBACK for {topic_filter}"

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def messages(self, topic: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p in self.received if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, step: float = 0.05) -> Any:
    """Poll until `condition()` is truthy; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)
