"""The firmware's unit tests (firmware/tests/*.py), executed by the real MicroPython Unix port.

Each MicroPython test shows up here as one pytest result, for the .py sources and for the
compiled x64 .mpy build.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

from tests.firmware.sim import FIRMWARE_SRC, MICROPYTHON, ROOT, firmware_dir

RUNNER = FIRMWARE_SRC / "tests" / "run.py"
VARIANTS = ["source", "mpy-x64"]


def _run(variant: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = f"{firmware_dir(variant)}:{FIRMWARE_SRC / 'tests'}:.frozen"
    return subprocess.run(
        [str(MICROPYTHON), str(RUNNER), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env=dict(os.environ, MICROPYPATH=path),
    )


def _test_names() -> list[str]:
    listing = _run("source", "--list")
    names = [line[5:] for line in listing.stdout.splitlines() if line.startswith("TEST ")]
    if listing.returncode or not names:
        raise RuntimeError(f"cannot list the MicroPython tests:\n{listing.stdout}{listing.stderr}")
    return names


@functools.cache
def _results(variant: str) -> dict[str, str]:
    """Run the whole suite once per variant: {name: 'PASS' or the failure message}."""
    proc = _run(variant)
    results: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("PASS "):
            results[line[5:]] = "PASS"
        elif line.startswith("FAIL "):
            name, _, message = line[5:].partition(": ")
            results[name] = message
    if not any(line.startswith("SUMMARY") for line in proc.stdout.splitlines()):
        output = proc.stdout + proc.stderr
        results["<runner>"] = f"runner crashed (status {proc.returncode}):\n{output}"
    return results


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", _test_names())
def test_micropython_unit(variant: str, name: str) -> None:
    results = _results(variant)
    assert "<runner>" not in results, results.get("<runner>")
    assert name in results, f"{name} did not run under MicroPython ({variant})"
    assert results[name] == "PASS", f"{name} ({variant}): {results[name]}"
