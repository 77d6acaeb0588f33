"""Detached child processes of the local stack: start with a log and a pid file, probe, stop.

`up` starts every process in its own session so it outlives the command; `down` stops
exactly the pids it recorded (never by name), first with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """The local stack cannot do what was asked; the message says why and what to do."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after its ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _raise_open_file_limit() -> None:
    """In the child: allow as many open files as the hard limit permits (1,000+ TLS clients)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone; reap it.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


@dataclass(frozen=True)
class ProcessRecord:
    """What `up` remembers about one process (DIR/<name>.pid holds it as JSON)."""

    name: str
    pid: int
    port: int | None
    log: str
    start_ticks: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "port": self.port, "log": self.log,
                "start_ticks": self.start_ticks}

    def alive(self) -> bool:
        """True while the recorded process (not merely some process with its pid) runs."""
        if not pid_alive(self.pid):
            return False
        return self.start_ticks is None or _start_ticks(self.pid) == self.start_ticks


def pid_file(directory: Path, name: str) -> Path:
    return directory / f"{name}.pid"


def read_record(directory: Path, name: str) -> ProcessRecord | None:
    path = pid_file(directory, name)
    try:
        data = json.loads(path.read_text())
        return ProcessRecord(data["name"], int(data["pid"]), data.get("port"), data["log"],
                             data.get("start_ticks"))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def start(directory: Path, name: str, argv: Sequence[str], *, port: int | None,
          env: dict[str, str] | None = None, cwd: Path | None = None) -> ProcessRecord:
    """Start `argv` detached, logging to DIR/logs/<name>.log, and record its pid."""
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=cwd, close_fds=True,
                preexec_fn=_raise_open_file_limit,
            )
        except FileNotFoundError as exc:
            raise StackError(f"cannot start {name}: {argv[0]} not found") from exc
    record = ProcessRecord(name, proc.pid, port, str(log_path), _start_ticks(proc.pid))
    pid_file(directory, name).write_text(json.dumps(record.to_json()))
    return record


def wait_until(ready: Callable[[], bool], record: ProcessRecord, timeout: float) -> None:
    """Wait for `ready()`; raise StackError with the log's tail if the process dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not record.alive():
            raise StackError(f"{record.name} exited during start-up:\n{log_tail(record)}")
        time.sleep(0.05)
    raise StackError(f"{record.name} not ready after {timeout:.0f} s:\n{log_tail(record)}")


def log_tail(record: ProcessRecord, lines: int = 20) -> str:
    try:
        text = Path(record.log).read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def stop(directory: Path, name: str, timeout: float = 10.0) -> ProcessRecord | None:
    """Stop the process recorded under `name` (by pid) and remove its pid file."""
    record = read_record(directory, name)
    if record is None:
        return None
    if record.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(record.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(record.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
            while pid_alive(record.pid):
                time.sleep(0.02)
    pid_file(directory, name).unlink(missing_ok=True)
    return record
