"""The IoT Core emulator process: shadow service and topic-rule runner over one broker.

Started by `anc-local up` as `python -m cloud.local.emulator --dir DIR --mqtt-port P
--http-port H`. It connects to Mosquitto with the service identity (DIR/certs/service.*),
serves the shadow HTTP API on 127.0.0.1:H, runs the topic rules from DIR/deployment.json,
writes DIR/emulator.ready once everything serves, and stops cleanly on SIGTERM.

The rules run in `--rule-processes` child processes (default: one per CPU core, at most
four; 1 runs them in this process), so telemetry throughput is not capped by one
interpreter lock. If one of them dies, the emulator stops with exit code 3 and says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from cloud.local.deploy import DEPLOYMENT_FILE
from cloud.local.rules.lambdas import FunctionLoadError
from cloud.local.rules.runner import RuleConfigError, RuleRunner
from cloud.local.service_mqtt import ServiceMqtt

log = logging.getLogger("anc.emulator")
READY_FILE = "emulator.ready"
DEAD_LETTER_FILE = "rule-errors.jsonl"
HEALTH_CHECK_S = 1.0


def default_rule_processes() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _shadow_emulator_class() -> Any:
    try:
        from cloud.local.shadow import ShadowEmulator
    except ImportError as exc:
        raise SystemExit(
            "emulator: the shadow service package cloud.local.shadow is not available "
            f"({exc}); the emulator cannot start without it."
        ) from exc
    return ShadowEmulator


def service_settings(directory: Path, mqtt_port: int) -> ServiceMqtt:
    certs = directory / "certs"
    return ServiceMqtt(host="localhost", port=mqtt_port, ca_path=certs / "ca.crt",
                       cert_path=certs / "service.crt", key_path=certs / "service.key")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloud.local.emulator",
        description="Local IoT Core emulator (started by anc-local up)")
    parser.add_argument("--dir", type=Path, required=True, help="stack directory")
    parser.add_argument("--mqtt-port", type=int, required=True, help="Mosquitto TLS port")
    parser.add_argument("--http-port", type=int, required=True, help="shadow HTTP API port")
    parser.add_argument("--rule-processes", type=_positive, default=default_rule_processes(),
                        help="processes running the topic rules (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    directory: Path = args.dir
    settings = service_settings(directory, args.mqtt_port)
    deployment = json.loads((directory / DEPLOYMENT_FILE).read_text())
    shadow_class = _shadow_emulator_class()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    shadow = shadow_class(state_dir=directory / "shadow", mqtt=settings,
                          http_host="127.0.0.1", http_port=args.http_port)
    try:
        runner = RuleRunner(deployment, settings, dead_letter_path=directory / DEAD_LETTER_FILE,
                            processes=args.rule_processes)
    except (RuleConfigError, FunctionLoadError) as exc:
        log.error("emulator: cannot run the topic rules: %s", exc)
        return 2
    shadow.start()
    status = 0
    try:
        runner.start()
        try:
            ready = {"pid": os.getpid(), "http_port": shadow.http_port,
                     "rules": sorted(runner.rule_names),
                     "rule_processes": args.rule_processes}
            (directory / READY_FILE).write_text(json.dumps(ready))
            log.info("emulator ready: shadow HTTP on 127.0.0.1:%s, rules %s in %d process(es)",
                     shadow.http_port, ready["rules"], args.rule_processes)
            while not stop.wait(HEALTH_CHECK_S):
                if not runner.healthy():
                    log.error("emulator: a rule process died; stopping (restart the emulator; "
                              "messages it could not hand over are in %s)", DEAD_LETTER_FILE)
                    status = 3
                    break
            log.info("emulator stopping")
        finally:
            runner.stop()
    finally:
        shadow.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
