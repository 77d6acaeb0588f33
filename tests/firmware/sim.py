"""Runs the firmware on the MicroPython Unix port behind a pty, like a board on a serial port.

The firmware's stdin/stdout is the pty master; the host (pytest-embedded, pyserial) opens the
slave by name. Stimuli go through a pipe whose read end the firmware gets as ANCFW_SIM_FD.
stderr (the board log) goes to a file the tests can read.

The harness keeps the pty master open, so the port stays valid while the firmware process is
killed and started again (`restart()`: an MCU reset seen from the UART, silence and then a
firmware that waits for HELLO). `unplug()` removes the port altogether, like a USB cable
pulled out; `to_host()` puts bytes on the line toward the host, like line noise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_SRC = ROOT / "firmware"
MICROPYTHON = Path(sys.executable).with_name("micropython")
WDT_RESET_STATUS = -signal.SIGALRM  # how the sim board's watchdog ends the process


def build_tool() -> Any:
    """firmware/tools/build.py as a module (loaded by path: `build` is also a PyPI name)."""
    spec = importlib.util.spec_from_file_location(
        "anc_firmware_build", FIRMWARE_SRC / "tools" / "build.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def firmware_dir(variant: str) -> Path:
    """Module directory for a variant: 'source' (the .py files) or 'mpy-x64' (compiled)."""
    if variant == "source":
        return FIRMWARE_SRC
    if variant == "mpy-x64":
        build = build_tool()
        if build.is_stale("x64"):
            build.build("x64", quiet=True)
        return build.out_dir("x64")
    raise ValueError(f"unknown firmware variant {variant!r}; expected 'source' or 'mpy-x64'")


class SimDevice:
    def __init__(self, module_dir: Path, log_path: Path) -> None:
        self.module_dir = module_dir
        self.log_path = log_path
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self._stim_write = -1
        self.port = os.ttyname(self._slave)
        self.proc = self._spawn("wb")
        self.wait_log("boot: firmware", timeout=10)

    def _spawn(self, log_mode: str) -> subprocess.Popen[bytes]:
        stim_read, self._stim_write = os.pipe()
        env = dict(os.environ, MICROPYPATH=f"{self.module_dir}:.frozen",
                   ANCFW_SIM_FD=str(stim_read))
        try:
            with self.log_path.open(log_mode) as log:
                return subprocess.Popen(
                    [str(MICROPYTHON), "-c", "import main"],
                    stdin=self._master, stdout=self._master, stderr=log,
                    pass_fds=(stim_read,), env=env, cwd=ROOT,
                )
        finally:
            os.close(stim_read)

    def stimulus(self, line: str) -> None:
        os.write(self._stim_write, line.encode() + b"\n")

    def press(self, hold_s: float, button: int = 0) -> None:
        self.stimulus(f"button {button} down")
        time.sleep(hold_s)
        self.stimulus(f"button {button} up")

    def to_host(self, data: bytes) -> None:
        """Bytes on the line toward the host, as if the MCU (or noise) had sent them."""
        os.write(self._master, data)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 5.0, after: int = 0) -> int:
        """Wait until `text` appears in the log (after offset `after`); returns its offset."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.log().find(text, after)
            if found >= 0:
                return found
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"firmware log has no {text!r} (exit status {self.proc.poll()}):\n{self.log()}"
                )
            time.sleep(0.02)

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._stim_write = _close(self._stim_write)

    def restart(self) -> int:
        """Kill the firmware (if it still runs) and boot it again on the same port.

        Bytes the host sent meanwhile are discarded, as a UART loses them during a reset.
        Returns the log offset where the new boot starts.
        """
        self._kill()
        os.set_blocking(self._master, False)
        try:
            while os.read(self._master, 4096):
                pass
        except BlockingIOError:
            pass
        finally:
            os.set_blocking(self._master, True)
        offset = self.log_path.stat().st_size
        self.proc = self._spawn("ab")
        self.wait_log("boot: firmware", timeout=10, after=offset)
        return offset

    def unplug(self) -> None:
        """Kill the firmware and remove the port (the host's reads fail, the path vanishes)."""
        self._kill()
        self._master = _close(self._master)
        self._slave = _close(self._slave)

    def stop(self) -> None:
        self.unplug()


def _close(fd: int) -> int:
    """Close `fd` once (fd numbers are reused, so a second close could hit another file)."""
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)
    return -1
