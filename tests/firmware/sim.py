"""Runs the firmware on the MicroPython Unix port behind a pty, like a board on a serial port.

The firmware's stdin/stdout is the pty master; the host (pytest-embedded, pyserial) opens the
slave by name. Stimuli go through a pipe whose read end the firmware gets as ANCFW_SIM_FD.
stderr (the board log) goes to a file the tests can read.
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
        self.log_path = log_path
        master, self._slave = os.openpty()
        tty.setraw(self._slave)
        stim_read, self._stim_write = os.pipe()
        env = dict(os.environ, MICROPYPATH=f"{module_dir}:.frozen", ANCFW_SIM_FD=str(stim_read))
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(MICROPYTHON), "-c", "import main"],
                stdin=master, stdout=master, stderr=log, pass_fds=(stim_read,), env=env,
                cwd=ROOT,
            )
        os.close(master)
        os.close(stim_read)
        self.port = os.ttyname(self._slave)
        self.wait_log("boot: firmware", timeout=10)

    def stimulus(self, line: str) -> None:
        os.write(self._stim_write, line.encode() + b"\n")

    def press(self, hold_s: float, button: int = 0) -> None:
        self.stimulus(f"button {button} down")
        time.sleep(hold_s)
        self.stimulus(f"button {button} up")

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

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for fd in (self._stim_write, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
