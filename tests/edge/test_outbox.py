"""The durable outbox: ordering, seq, capacity, bad input, threads, and SIGKILL survival."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_agent.outbox import MAX_PAYLOAD_BYTES, Outbox, OutboxLockedError
from protocol import topics

TELEMETRY = topics.device_topic("hs-1", topics.TELEMETRY)
EVENTS = topics.device_topic("hs-1", topics.EVENTS)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


def test_pending_in_order_and_ack_removes(db: Path) -> None:
    with Outbox(db) as box:
        sent = [box.enqueue(EVENTS, {"type": "mode_changed", "n": i}) for i in range(5)]
        assert [m.seq for m in sent] == [1, 2, 3, 4, 5]
        assert [json.loads(m.payload)["n"] for m in box.pending(3)] == [0, 1, 2]
        assert box.ack(2) is True
        assert box.ack(2) is False
        assert [m.seq for m in box.pending()] == [1, 3, 4, 5]
        assert len(box) == 4


def test_telemetry_body_carries_seq(db: Path) -> None:
    with Outbox(db) as box:
        box.enqueue(EVENTS, {"type": "battery_low"})
        msg = box.enqueue(TELEMETRY, {"attenuation_db": 18.5})
        # Telemetry counts only telemetry: 1, 2, 3 … without the events' gaps.
        assert msg.seq == 2 and json.loads(msg.payload) == {"attenuation_db": 18.5, "seq": 1}
        assert box.pending()[1].payload == msg.payload
        # Non-telemetry bodies are stored exactly as given.
        assert json.loads(box.pending()[0].payload) == {"type": "battery_low"}
        box.enqueue(EVENTS, {"type": "battery_low"})
        assert json.loads(box.enqueue(TELEMETRY, {}).payload)["seq"] == 2
        assert box.last_telemetry_seq == 2
    with Outbox(db) as box:
        assert box.last_telemetry_seq == 2
        assert json.loads(box.enqueue(TELEMETRY, {}).payload)["seq"] == 3


def test_outbox_from_before_the_telemetry_counter_continues_monotonic(db: Path) -> None:
    with Outbox(db) as box:
        for i in range(4):
            box.enqueue(EVENTS, {"i": i})
    with sqlite3.connect(db) as raw:
        raw.execute("DELETE FROM meta WHERE key = 'telemetry_seq'")
    with Outbox(db) as box:
        assert json.loads(box.enqueue(TELEMETRY, {}).payload)["seq"] == 5


def test_seq_and_messages_survive_reopen(db: Path) -> None:
    with Outbox(db) as box:
        for i in range(3):
            box.enqueue(EVENTS, {"i": i})
        box.ack(1)
        box.ack(2)
        box.ack(3)
    with Outbox(db) as box:
        assert box.last_seq == 3 and len(box) == 0
        assert box.enqueue(TELEMETRY, {}).seq == 4


def test_capacity_drops_oldest_and_counts_persistently(db: Path) -> None:
    with Outbox(db, capacity=3) as box:
        for i in range(7):
            box.enqueue(EVENTS, {"i": i})
        assert [m.seq for m in box.pending()] == [5, 6, 7]
        assert box.dropped == 4 and len(box) == 3
    with Outbox(db, capacity=3) as box:
        assert box.dropped == 4
        box.enqueue(EVENTS, {"i": 7})
        assert box.dropped == 5 and [m.seq for m in box.pending()] == [6, 7, 8]


@pytest.mark.parametrize(("topic", "payload", "problem"), [
    (EVENTS, {"x": object()}, "not JSON-serializable"),
    (EVENTS, {"x": float("nan")}, "not JSON-serializable"),
    (EVENTS, {"blob": "a" * MAX_PAYLOAD_BYTES}, "128 KB"),
    (TELEMETRY, [1, 2], "must be a JSON object"),
    (TELEMETRY, {"seq": 9}, "must not contain 'seq'"),
    ("anc/v1/+/events", {}, "wildcards"),
    ("", {}, "non-empty"),
])
def test_bad_messages_rejected_and_nothing_stored(db: Path, topic: str, payload: object,
                                                  problem: str) -> None:
    with Outbox(db) as box:
        box.enqueue(EVENTS, {"ok": True})
        with pytest.raises(ValueError, match=problem):
            box.enqueue(topic, payload)
        assert [m.seq for m in box.pending()] == [1]
        assert box.enqueue(EVENTS, {"ok": True}).seq == 2  # no seq was consumed


def test_bad_options_rejected(db: Path) -> None:
    with pytest.raises(ValueError, match="capacity"):
        Outbox(db, capacity=0)
    with pytest.raises(ValueError, match="synchronous"):
        Outbox(db, synchronous="off")  # type: ignore[arg-type]
    with Outbox(db) as box, pytest.raises(ValueError, match="limit"):
        box.pending(0)


def test_full_mode_works(db: Path) -> None:
    with Outbox(db, synchronous="full") as box:
        box.enqueue(TELEMETRY, {"a": 1})
        assert box.pending()[0].seq == 1


def test_second_process_cannot_open(db: Path) -> None:
    with Outbox(db):
        code = f"from edge_agent.outbox import Outbox; Outbox({str(db)!r})"
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert "is already open" in result.stderr
    with Outbox(db):  # released on close
        pass
    with Outbox(db), pytest.raises(OutboxLockedError):
        Outbox(db)  # the lock is per open file description, so this holds in-process too


def test_enqueue_and_ack_from_two_threads(db: Path) -> None:
    n = 2000
    acked: list[int] = []
    done = threading.Event()
    with Outbox(db) as box:
        def publisher() -> None:
            while not (done.is_set() and len(box) == 0):
                for msg in box.pending(50):
                    assert box.ack(msg.seq)
                    acked.append(msg.seq)
        thread = threading.Thread(target=publisher)
        thread.start()
        seqs = [box.enqueue(TELEMETRY, {"i": i}).seq for i in range(n)]
        done.set()
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert seqs == list(range(1, n + 1))
        assert sorted(acked) == seqs and acked == sorted(acked)  # each once, in order
        assert len(box) == 0


WRITER = r"""
import sys
from edge_agent.outbox import Outbox
box = Outbox(sys.argv[1], capacity=1_000_000)
out = sys.stdout
i = 0
while True:
    msg = box.enqueue("anc/v1/hs-1/telemetry", {"i": i})
    out.write(f"E {msg.seq}\n"); out.flush()
    if i % 3 == 0:
        box.ack(msg.seq)
        out.write(f"A {msg.seq}\n"); out.flush()
    i += 1
"""


@pytest.mark.parametrize("kill_after_lines", [1, 157, 1500, 4000])
def test_sigkill_at_any_moment_loses_nothing_acknowledged(db: Path,
                                                          kill_after_lines: int) -> None:
    """A writer is SIGKILLed mid-stream; every seq it was told about must be durable."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.split())
            if len(lines) >= kill_after_lines:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    rest = proc.stdout.read()  # lines written before the kill landed
    lines += [line.split() for line in rest.splitlines() if line.strip()]
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    enqueued = [int(s) for kind, s in lines if kind == "E"]
    acked = {int(s) for kind, s in lines if kind == "A"}
    assert enqueued == list(range(1, len(enqueued) + 1))
    with Outbox(db) as box:
        stored = [m.seq for m in box.pending(limit=1_000_000)]
        stored_set = set(stored)
        # The writer acks every third message right after enqueueing it; a kill between
        # that ack's commit and its report leaves the last enqueued seq legitimately gone.
        last_enqueued = enqueued[-1] if enqueued else None
        ack_unreported = ({last_enqueued} if last_enqueued is not None and
                          (last_enqueued - 1) % 3 == 0 and last_enqueued not in acked else set())
        assert set(enqueued) - acked - ack_unreported <= stored_set, \
            "an acknowledged-to-caller seq was lost"
        assert not (acked & stored_set), "an acked message came back"
        # A message may have been committed just before the kill without being reported.
        assert stored == sorted(stored) and (not stored or stored[-1] <= box.last_seq)
        assert box.last_seq >= (enqueued[-1] if enqueued else 0)
        last = box.last_seq
        assert box.enqueue(TELEMETRY, {}).seq == last + 1
        for m in box.pending(limit=1_000_000):
            assert json.loads(m.payload)["seq"] == m.seq


def test_ack_many_removes_only_waiting_messages(db: Path) -> None:
    with Outbox(db) as box:
        for i in range(5):
            box.enqueue(EVENTS, {"n": i})
        assert box.ack_many([1, 3, 3, 99]) == 2
        assert [m.seq for m in box.pending()] == [2, 4, 5] and len(box) == 3
        assert box.ack_many([]) == 0
