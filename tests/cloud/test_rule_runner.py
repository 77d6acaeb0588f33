"""The rule runner's start-up checks, retries and error path (in-process, no broker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloud.local.rules.lambdas import FunctionLoadError
from cloud.local.rules.runner import (
    RetryPolicy,
    RuleConfigError,
    RuleRunner,
    Workers,
    publisher_client_id,
)
from cloud.local.service_mqtt import ServiceMqtt

FLAKY_HANDLER = '''
import json, os
CALLS = []
FAIL_FIRST = int(os.environ["FLAKY_FAIL_FIRST"])

def lambda_handler(event, context):
    CALLS.append({"event": event, "function": context.function_name,
                  "remaining_ms": context.get_remaining_time_in_millis()})
    if len(CALLS) <= FAIL_FIRST:
        raise RuntimeError(f"failure {len(CALLS)}")
    return {"ok": True}
'''

SETTINGS = ServiceMqtt("localhost", 1, Path("ca"), Path("cert"), Path("key"))


def deployment(tmp_path: Path, sql: str, fail_first: int,
               actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    code = tmp_path / f"code{fail_first}"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(FLAKY_HANDLER)
    return {
        "functions": {"Flaky": {
            "function_name": "flaky-dev", "function_arn": "arn:aws:lambda:us-east-1:1:function:f",
            "handler": "app.lambda_handler", "code_dir": str(code),
            "environment": {"FLAKY_FAIL_FIRST": str(fail_first)}, "timeout_s": 3,
            "memory_mb": 128}},
        "topic_rules": {"FlakyRule": {
            "Sql": sql, "AwsIotSqlVersion": "2016-03-23", "RuleDisabled": False,
            "Actions": actions or [{"Lambda": {"FunctionArn": {"Fn::GetAtt": ["Flaky", "Arn"]}}}],
        }},
    }


def runner_for(tmp_path: Path, fail_first: int, sleeps: list[float],
               sql: str = "SELECT *, clientid() AS who FROM 'anc/v1/+/events' "
                          "WHERE kind = 'battery_low'") -> RuleRunner:
    return RuleRunner(deployment(tmp_path, sql, fail_first), SETTINGS,
                      dead_letter_path=tmp_path / "dead.jsonl",
                      retry=RetryPolicy(attempts=3, first_delay_s=0.1, factor=2.0),
                      sleep=sleeps.append)


def calls(runner: RuleRunner) -> list[dict[str, Any]]:
    handler = runner.rules[0].targets[0].handler
    assert handler is not None
    result: list[dict[str, Any]] = handler.__globals__["CALLS"]
    return result


def test_transient_failures_are_retried_with_backoff(tmp_path: Path) -> None:
    sleeps: list[float] = []
    runner = runner_for(tmp_path, fail_first=2, sleeps=sleeps)
    runner.handle("anc/v1/hs-9/events", json.dumps({"kind": "battery_low"}).encode())
    assert len(calls(runner)) == 3
    assert sleeps == [0.1, 0.2]
    assert calls(runner)[-1]["event"] == {"kind": "battery_low", "who": "hs-9"}
    assert calls(runner)[-1]["function"] == "flaky-dev"
    assert 0 < calls(runner)[-1]["remaining_ms"] <= 3000
    assert runner.stats.snapshot() == {"received": 0, "matched": 1, "succeeded": 1,
                                       "retried": 2, "failed": 0}
    assert not (tmp_path / "dead.jsonl").exists()


def test_what_finally_fails_goes_to_the_dead_letter_file(tmp_path: Path) -> None:
    sleeps: list[float] = []
    runner = runner_for(tmp_path, fail_first=10, sleeps=sleeps)
    runner.handle("anc/v1/hs-9/events", json.dumps({"kind": "battery_low"}).encode())
    runner.handle("anc/v1/hs-9/events", b"\xff\xfe not utf-8")
    runner.handle("anc/v1/hs-9/events", json.dumps({"kind": "mode_changed"}).encode())  # WHERE
    assert len(calls(runner)) == 3 and sleeps == [0.1, 0.2]
    entries = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert len(entries) == 2
    assert entries[0]["rule"] == "FlakyRule" and entries[0]["attempts"] == 3
    assert entries[0]["error"] == "failure 3" and entries[0]["error_type"] == "RuntimeError"
    assert entries[1]["attempts"] == 0 and "payload_base64" in entries[1]
    assert runner.stats.snapshot()["failed"] == 2


def test_unsupported_sql_is_refused_at_start_up_naming_the_rule(tmp_path: Path) -> None:
    with pytest.raises(RuleConfigError, match=r"rule FlakyRule: unsupported SQL: "
                                              r"unsupported function upper\(\)"):
        runner_for(tmp_path, 0, [], sql="SELECT upper(kind) AS k FROM 'anc/v1/+/events'")


def test_unsupported_action_is_refused_at_start_up(tmp_path: Path) -> None:
    spec = deployment(tmp_path, "SELECT * FROM 'a'", 0,
                      actions=[{"S3": {"BucketName": "b", "Key": "k", "RoleArn": "r"}}])
    with pytest.raises(RuleConfigError, match=r"rule FlakyRule: action \['S3'\] is not supported"):
        RuleRunner(spec, SETTINGS, dead_letter_path=tmp_path / "dead.jsonl")


def test_missing_handler_module_is_named(tmp_path: Path) -> None:
    spec = deployment(tmp_path, "SELECT * FROM 'a'", 0)
    spec["functions"]["Flaky"]["handler"] = "nothere.lambda_handler"
    with pytest.raises(FunctionLoadError, match="function Flaky: .*nothere.py does not exist"):
        RuleRunner(spec, SETTINGS, dead_letter_path=tmp_path / "dead.jsonl")


def test_emulator_exits_with_a_clear_message_on_unsupported_sql(tmp_path: Path) -> None:
    spec = deployment(tmp_path, "SELECT * FROM 'anc/v1/+/events' WHERE kind LIKE 'b%'", 0)
    (tmp_path / "deployment.json").write_text(json.dumps(spec))
    result = subprocess.run(
        [sys.executable, "-m", "cloud.local.emulator", "--dir", str(tmp_path),
         "--mqtt-port", "1", "--http-port", "0"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "rule FlakyRule: unsupported SQL: unsupported keyword 'LIKE'" in result.stdout


def test_clientid_comes_from_the_device_topic() -> None:
    assert publisher_client_id("anc/v1/hs-1/telemetry") == "hs-1"
    assert publisher_client_id("$aws/things/hs-2/shadow/update") == "hs-2"
    assert publisher_client_id("other/hs-3/x") == ""


def test_workers_run_every_submitted_call_before_shutdown_returns() -> None:
    done: list[int] = []
    workers = Workers(4, "test")
    for i in range(200):
        workers.submit(done.append, i)
    workers.shutdown()
    workers.shutdown()  # idempotent
    assert sorted(done) == list(range(200))
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        Workers(0, "test")
