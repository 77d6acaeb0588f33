"""Device tests: pytest-embedded's serial service talking to the firmware.

By default the firmware runs on the MicroPython Unix port behind a pty (tests/firmware/sim.py).
With `--port /dev/ttyACM0` the same tests talk to a real board instead; tests that need the
simulator's stimuli (buttons, battery, wear, watchdog) are skipped there.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.firmware.host import Host
from tests.firmware.sim import SimDevice, firmware_dir


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing device test shows the end of the firmware's log next to the traceback."""
    report = yield
    device = getattr(item, "funcargs", {}).get("sim")
    if report.failed and isinstance(device, SimDevice) and device.log_path.exists():
        report.sections.append(("firmware log (last 4000 characters)", device.log()[-4000:]))
    return report


@pytest.fixture
def embedded_services() -> str:
    return "serial"


@pytest.fixture
def firmware_variant(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "source")


@pytest.fixture
def sim(
    request: pytest.FixtureRequest, firmware_variant: str, tmp_path: Path
) -> Iterator[SimDevice | None]:
    if request.config.getoption("port", None):
        yield None  # a real board on --port
        return
    device = SimDevice(firmware_dir(firmware_variant), tmp_path / "firmware.log")
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture
def port(request: pytest.FixtureRequest, sim: SimDevice | None) -> str:
    given = request.config.getoption("port", None)
    if sim is None:
        assert given, "no simulator and no --port"
        return str(given)
    return sim.port


@pytest.fixture
def stimuli(sim: SimDevice | None) -> SimDevice:
    if sim is None:
        pytest.skip("needs the simulated board's stimulus channel (not available on --port)")
    return sim


@pytest.fixture
def host(dut: Any) -> Host:
    h = Host(dut)
    h.hello()
    return h
