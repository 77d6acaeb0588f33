"""Telemetry through the real stack into DynamoDB: every seq exactly once across a 30 s broker
outage, a SIGKILL and restart, and a SIGTERM that flushes the outbox."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from cloud.local import processes
from cloud.local.stack import LocalStack
from edge_agent.outbox import Outbox
from tests.edge.conftest import AgentProcess, device_config, telemetry_seqs, wait_for

OUTAGE_S = 30.0


def produced(config: Path, thing: str) -> int:
    """The last telemetry seq the device assigned (read after the agent has exited)."""
    with Outbox(config.parent / f"{thing}.outbox.sqlite") as box:
        assert len(box) == 0, f"{len(box)} message(s) still in the outbox"
        return box.last_telemetry_seq


def test_broker_outage_loses_nothing_and_duplicates_nothing(
        edge_stack: LocalStack, agents: Callable[[Path], AgentProcess], tmp_path: Path) -> None:
    thing = "edge-outage-1"
    config = device_config(edge_stack, thing, tmp_path, interval_s=0.2)
    agent = agents(config)
    assert wait_for(lambda: len(telemetry_seqs(edge_stack, thing)) >= 5, timeout=30), \
        agent.output()

    processes.stop(edge_stack.dir, "mosquitto")
    stored_before = len(telemetry_seqs(edge_stack, thing))
    time.sleep(OUTAGE_S)
    assert len(telemetry_seqs(edge_stack, thing)) == stored_before  # nothing got through
    edge_stack.restart_mosquitto()

    assert agent.wait_for_output("connected (connection 2)", timeout=60), agent.output()
    time.sleep(1.0)
    assert agent.terminate() == 0
    last = produced(config, thing)
    assert last >= (OUTAGE_S / 0.2) * 0.8  # it kept measuring during the outage
    seqs = wait_for(lambda: (s := telemetry_seqs(edge_stack, thing)) and s[-1] == last and s,
                    timeout=30)
    assert seqs == list(range(1, last + 1))


def test_sigkill_and_restart_lose_nothing(
        edge_stack: LocalStack, agents: Callable[[Path], AgentProcess], tmp_path: Path) -> None:
    thing = "edge-kill-1"
    config = device_config(edge_stack, thing, tmp_path, interval_s=0.1)
    first = agents(config)
    assert wait_for(lambda: len(telemetry_seqs(edge_stack, thing)) >= 10, timeout=30), \
        first.output()
    assert first.kill() == -9
    second = agents(config)
    assert second.wait_for_output("connected (connection 1)"), second.output()
    time.sleep(1.0)
    assert second.terminate() == 0
    last = produced(config, thing)
    seqs = wait_for(lambda: (s := telemetry_seqs(edge_stack, thing)) and s[-1] == last and s,
                    timeout=30)
    assert seqs == list(range(1, last + 1))


def test_sigterm_exits_cleanly_with_the_outbox_flushed(
        edge_stack: LocalStack, agents: Callable[[Path], AgentProcess], tmp_path: Path) -> None:
    thing = "edge-term-1"
    config = device_config(edge_stack, thing, tmp_path, interval_s=0.1)
    agent = agents(config)
    assert agent.wait_for_output("connected (connection 1)"), agent.output()
    time.sleep(1.0)
    started = time.monotonic()
    assert agent.terminate() == 0
    assert time.monotonic() - started < 10
    assert "stopped; outbox flushed" in agent.output()
    last = produced(config, thing)
    # The final telemetry written during shutdown is in the cloud too.
    assert wait_for(lambda: telemetry_seqs(edge_stack, thing) == list(range(1, last + 1)))


def test_telemetry_waits_while_no_rule_consumes_it(
        edge_stack: LocalStack, agents: Callable[[Path], AgentProcess], tmp_path: Path) -> None:
    """After a broker restart the rule runner's session is gone until it reconnects, and
    Mosquitto acks telemetry nobody receives (PUBACK 0x10). The agent keeps such telemetry
    in its outbox and retries until a consumer is back: nothing is lost."""
    thing = "edge-norule-1"
    config = device_config(edge_stack, thing, tmp_path, interval_s=0.2)
    status_file = tmp_path / "status.json"

    def outbox() -> dict[str, int]:
        state: dict[str, int] = json.loads(status_file.read_text())["outbox"]
        return state

    agent = agents(config)
    assert wait_for(lambda: len(telemetry_seqs(edge_stack, thing)) >= 3, timeout=30), \
        agent.output()
    # Broker down first (nothing is acked meanwhile), then the rule runner; the broker comes
    # back without the runner's session.
    processes.stop(edge_stack.dir, "mosquitto")
    processes.stop(edge_stack.dir, "emulator")
    # The broker persists sessions; without its database it comes back as one that lost them.
    (edge_stack.dir / "mosquitto" / "mosquitto.db").unlink(missing_ok=True)
    try:
        edge_stack.restart_mosquitto()
        assert agent.wait_for_output("connected (connection 2)", timeout=30), agent.output()
        assert wait_for(lambda: outbox()["unconsumed_retries"] > 0
                        and outbox()["pending"] >= 5, timeout=20), outbox()
    finally:
        edge_stack.restart_emulator()
    assert wait_for(lambda: outbox()["pending"] == 0, timeout=30), outbox()
    assert agent.terminate() == 0
    last = produced(config, thing)
    seqs = wait_for(lambda: (s := telemetry_seqs(edge_stack, thing)) and s[-1] == last and s,
                    timeout=30)
    assert seqs == list(range(1, last + 1))
