"""Rule shards: routing by thing, rules running in child processes, a dead shard's messages."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cloud.local.rules.runner import RetryPolicy
from cloud.local.rules.shards import ShardPool, decode, encode, shard_of
from tests.cloud.test_rule_runner import SETTINGS, deployment

FAST_RETRY = RetryPolicy(attempts=2, first_delay_s=0.001, factor=1.0)


def test_every_topic_of_one_thing_goes_to_the_same_shard() -> None:
    for count in (2, 3, 4):
        for thing in ("hs-1", "hs-2", "bench-tm-07", "a" * 64):
            shards = {shard_of(f"anc/v1/{thing}/{kind}", count)
                      for kind in ("telemetry", "events", "alerts")}
            shards.add(shard_of(f"$aws/things/{thing}/shadow/update", count))
            assert len(shards) == 1 and 0 <= shards.pop() < count
    # Twenty things spread over both shards rather than piling onto one.
    assert {shard_of(f"anc/v1/hs-{i}/telemetry", 2) for i in range(20)} == {0, 1}


def test_frames_carry_topic_and_any_payload_bytes() -> None:
    payload = b"\x00\xff{\"seq\": 1}\x00"
    assert decode(encode("anc/v1/hs-1/telemetry", payload)) == ("anc/v1/hs-1/telemetry", payload)


def dead_letters(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_entries(path: Path, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(dead_letters(path)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return dead_letters(path)


def test_shards_run_the_rules_and_a_dead_shard_loses_nothing(tmp_path: Path) -> None:
    # Every invocation fails, so what each child ran shows up in the shared dead-letter file.
    spec = deployment(tmp_path, "SELECT * FROM 'anc/v1/+/events'", fail_first=1000)
    path = tmp_path / "dead.jsonl"
    pool = ShardPool(spec, SETTINGS, count=2, dead_letter_path=path, retry=FAST_RETRY,
                     workers=4, max_pending=100)
    pool.start()
    try:
        things = [f"hs-{i}" for i in range(10)]
        assert {shard_of(f"anc/v1/{t}/events", 2) for t in things} == {0, 1}
        for i, thing in enumerate(things * 3):
            pool.submit(f"anc/v1/{thing}/events", json.dumps({"n": i}).encode())
        entries = wait_for_entries(path, 30)
        assert len(entries) == 30  # whole lines, one per message, from both processes
        assert sorted(json.loads(e["payload"])["n"] for e in entries) == list(range(30))
        assert {e["rule"] for e in entries} == {"FlakyRule"}
        assert {e["attempts"] for e in entries} == {2}
        assert pool.healthy()

        victim = pool._shards[0]
        victim.process.kill()
        victim.process.join(10)
        thing = next(t for t in things if shard_of(f"anc/v1/{t}/events", 2) == 0)
        for _ in range(3):  # the first send may still fit in the socket buffer
            pool.submit(f"anc/v1/{thing}/events", b'{"late": true}')
        assert not pool.healthy()
        late = [e for e in wait_for_entries(path, 31) if e["payload"] == '{"late": true}']
        assert late and late[-1]["rule"] is None and late[-1]["attempts"] == 0
        assert "rule shard 0 is not running" in late[-1]["error"]
    finally:
        pool.stop()
