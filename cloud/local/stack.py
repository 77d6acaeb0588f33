"""The local AWS IoT stack: `up`, `down`, `status` and the LocalStack context manager.

`up` starts, on loopback only and detached: Mosquitto (mutual TLS, per-thing ACL, identity
plugin), moto server, then deploys cloud/template.yaml into moto and starts the IoT Core
emulator (shadow service, topic-rule runner). Everything lives under one directory; DIR/env.json
tells clients where things are. moto keeps its state in memory: `down` discards it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from cloud.local import mosquitto, processes
from cloud.local.certs import LocalCA
from cloud.local.deploy import AwsTarget, deploy
from cloud.local.processes import free_port

DEFAULT_DIR = Path(".anc-local")
REGION = "us-east-1"
MQTT_HOST = "localhost"  # matches the broker certificate's SAN (127.0.0.1 does too)
PROCESS_NAMES = ("mosquitto", "moto", "emulator")
ENV_FILE = "env.json"
EMULATOR_READY_FILE = "emulator.ready"
START_TIMEOUT_S = 30.0

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """Environment for processes that talk to moto as if it were AWS."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def read_env(directory: Path) -> dict[str, Any] | None:
    try:
        env: dict[str, Any] = json.loads((directory / ENV_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return env


def status(directory: Path) -> dict[str, dict[str, Any]]:
    """Every stack process with its pid, port, log and whether it runs."""
    result = {}
    for name in PROCESS_NAMES:
        record = processes.read_record(directory, name)
        if record is not None:
            result[name] = {**record.to_json(), "running": record.alive()}
    return result


def is_running(directory: Path) -> bool:
    found = status(directory)
    return (len(found) == len(PROCESS_NAMES) and all(p["running"] for p in found.values())
            and read_env(directory) is not None)


def _start_mosquitto(directory: Path, ca: LocalCA, port: int) -> processes.ProcessRecord:
    conf = mosquitto.write_config(directory, port, ca.ca_path, ca.server())
    record = processes.start(directory, "mosquitto", mosquitto.command(conf), port=port)
    processes.wait_until(lambda: processes.port_open(port), record, START_TIMEOUT_S)
    return record


def _start_moto(directory: Path, port: int) -> processes.ProcessRecord:
    argv = [sys.executable, "-m", "cloud.local.moto_server", "-H", "127.0.0.1", "-p", str(port)]
    record = processes.start(directory, "moto", argv, port=port)
    processes.wait_until(lambda: processes.port_open(port), record, START_TIMEOUT_S)
    return record


def _start_emulator(directory: Path, mqtt_port: int, http_port: int,
                    aws_endpoint_url: str) -> processes.ProcessRecord:
    ready = directory / EMULATOR_READY_FILE
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "cloud.local.emulator", "--dir", str(directory.resolve()),
            "--mqtt-port", str(mqtt_port), "--http-port", str(http_port)]
    env = {**os.environ, **aws_environment(aws_endpoint_url), "PYTHONUNBUFFERED": "1"}
    record = processes.start(directory, "emulator", argv, port=http_port, env=env)
    processes.wait_until(ready.is_file, record, START_TIMEOUT_S)
    return record


def up(directory: Path = DEFAULT_DIR, *, stage: str = "dev",
       progress: Progress = _quiet) -> tuple[dict[str, Any], bool]:
    """Start the stack in `directory`; return (env, already_running)."""
    directory = Path(directory).resolve()
    mosquitto.mosquitto_binary()  # fail early, with the install hint, if it is missing
    if is_running(directory):
        env = read_env(directory)
        assert env is not None
        return env, True
    # Leftovers of a half-started or crashed stack are stopped (by their recorded pids).
    down(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ENV_FILE).unlink(missing_ok=True)
    try:
        progress("certificates: local CA, broker and service certificates")
        ca = LocalCA(directory / "certs")
        service = ca.service()
        mqtt_port, moto_port, http_port = free_port(), free_port(), free_port()
        progress(f"mosquitto: mutual TLS on 127.0.0.1:{mqtt_port}")
        _start_mosquitto(directory, ca, mqtt_port)
        progress(f"moto: http://127.0.0.1:{moto_port}")
        _start_moto(directory, moto_port)
        aws_endpoint_url = f"http://127.0.0.1:{moto_port}"
        progress(f"deploy: cloud/template.yaml (stage {stage}) into moto")
        deployment = deploy(AwsTarget(aws_endpoint_url, REGION), directory, stage)
        progress(f"emulator: shadow HTTP API on 127.0.0.1:{http_port}, topic-rule runner")
        _start_emulator(directory, mqtt_port, http_port, aws_endpoint_url)
    except BaseException:
        down(directory)
        raise
    env = {
        "mqtt_host": MQTT_HOST,
        "mqtt_port": mqtt_port,
        "ca_path": str(ca.ca_path),
        "aws_endpoint_url": aws_endpoint_url,
        "iot_data_endpoint_url": f"http://127.0.0.1:{http_port}",
        "region": REGION,
        "stage": stage,
        "tables": deployment["tables"],
        "functions": {k: v["function_name"] for k, v in deployment["functions"].items()},
        "service_cert_path": str(service.cert_path),
        "service_key_path": str(service.key_path),
        "dead_letter_path": str(directory / "rule-errors.jsonl"),
        "dir": str(directory),
    }
    tmp = directory / (ENV_FILE + ".tmp")
    tmp.write_text(json.dumps(env, indent=2))
    os.replace(tmp, directory / ENV_FILE)
    return env, False


def down(directory: Path = DEFAULT_DIR) -> list[processes.ProcessRecord]:
    """Stop what `up` started in `directory` (emulator first), by recorded pid."""
    directory = Path(directory)
    stopped = []
    for name in reversed(PROCESS_NAMES):
        record = processes.stop(directory, name)
        if record is not None:
            stopped.append(record)
    (directory / ENV_FILE).unlink(missing_ok=True)
    (directory / EMULATOR_READY_FILE).unlink(missing_ok=True)
    return stopped


def device_cert(directory: Path, thing: str) -> tuple[Path, Path]:
    pair = LocalCA(Path(directory) / "certs").device(thing)
    return pair.cert_path, pair.key_path


class LocalStack:
    """The stack as a context manager for tests and tools: up on enter, down on exit.

    With directory=None a temporary directory is used and removed afterwards.
    """

    def __init__(self, directory: Path | str | None = None, *, stage: str = "dev",
                 progress: Progress = _quiet) -> None:
        self._temporary = directory is None
        self.dir = Path(tempfile.mkdtemp(prefix="anc-local-")) if directory is None \
            else Path(directory).resolve()
        self._stage = stage
        self._progress = progress
        self.env: dict[str, Any] = {}

    def __enter__(self) -> LocalStack:
        try:
            self.env, _ = up(self.dir, stage=self._stage, progress=self._progress)
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        down(self.dir)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._temporary:
            shutil.rmtree(self.dir, ignore_errors=True)

    def device_cert(self, thing: str) -> tuple[Path, Path]:
        """(cert_path, key_path) of `thing`, issued once from the local CA."""
        return device_cert(self.dir, thing)

    def processes(self) -> dict[str, dict[str, Any]]:
        return status(self.dir)

    def restart_mosquitto(self) -> None:
        """Stop the broker and start it again on the same port (clients must reconnect)."""
        processes.stop(self.dir, "mosquitto")
        ca = LocalCA(self.dir / "certs")
        _start_mosquitto(self.dir, ca, int(self.env["mqtt_port"]))

    def restart_emulator(self) -> None:
        """Stop the emulator and start it again with the same ports and state directory."""
        self.stop_emulator()
        self.start_emulator()

    def stop_emulator(self) -> None:
        """Stop the emulator (the broker keeps queueing for the rule runner's session)."""
        processes.stop(self.dir, "emulator")

    def start_emulator(self) -> None:
        """Start the emulator again with the same ports and state directory."""
        port = int(self.env["iot_data_endpoint_url"].rsplit(":", 1)[1])
        _start_emulator(self.dir, int(self.env["mqtt_port"]), port, self.env["aws_endpoint_url"])

    def aws_client(self, service: str) -> Any:
        """A boto3 client for `service` on this stack's moto."""
        return AwsTarget(self.env["aws_endpoint_url"], self.env["region"]).client(service)

    def iot_data(self) -> Any:
        """A boto3 `iot-data` client on the emulator's shadow HTTP API."""
        return AwsTarget(self.env["iot_data_endpoint_url"], self.env["region"]).client("iot-data")

    def telemetry_seqs(self, thing: str) -> list[int]:
        """Every telemetry seq of `thing` in the telemetry table, sorted (duplicates kept)."""
        dynamodb = self.aws_client("dynamodb")
        query: dict[str, Any] = {
            "TableName": self.env["tables"]["TelemetryTable"],
            "KeyConditionExpression": "thing = :thing",
            "ExpressionAttributeValues": {":thing": {"S": thing}},
            "ProjectionExpression": "seq",
        }
        seqs: list[int] = []
        while True:
            page = dynamodb.query(**query)
            seqs += (int(item["seq"]["N"]) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return sorted(seqs)
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return condition()
