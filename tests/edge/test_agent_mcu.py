"""The agent with its MCU: the real firmware on the MicroPython Unix port behind a pty.

Handshake → reported.device; button → mode change in the loop → shadow reported; emergency
sound → transparency and the MCU told (source safety), previous mode restored; MCU reset →
recovery and re-sync."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.local.stack import LocalStack
from edge_agent.agent import Agent
from edge_agent.audio.api import InjectSound
from edge_agent.config import load_config
from tests.edge.conftest import ServiceClient, device_config, reported, wait_for
from tests.edge.test_mcu_link import FIRMWARE_VERSION
from tests.firmware.sim import SimDevice, firmware_dir

THING = "edge-mcu-1"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimDevice]:
    device = SimDevice(firmware_dir("source"),
                       tmp_path_factory.mktemp("firmware") / "firmware.log")
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture(scope="module")
def cloud(edge_stack: LocalStack) -> Iterator[ServiceClient]:
    client = ServiceClient(edge_stack, "edge-mcu-tests")
    client.subscribe(f"anc/v1/{THING}/events")
    yield client
    client.close()


@pytest.fixture(scope="module")
def agent(edge_stack: LocalStack, sim: SimDevice, cloud: ServiceClient,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    path = device_config(edge_stack, THING, tmp_path_factory.mktemp("mcu"), interval_s=0.5,
                         extra=f'[mcu]\nport = "{sim.port}"\n[emergency]\nhold_s = 1.0\n')
    stop = threading.Event()
    running = Agent(load_config(path), stop_event=stop)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: reported(edge_stack, THING).get("device", {})
                        .get("mcu_connected"), timeout=30)
        yield running
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def device(stack: LocalStack) -> dict[str, Any]:
    state: dict[str, Any] = reported(stack, THING).get("device", {})
    return state


def test_handshake_is_reported_and_the_mcu_gets_the_headset_mode(
        edge_stack: LocalStack, agent: Agent) -> None:
    assert device(edge_stack)["firmware_version"] == FIRMWARE_VERSION
    assert device(edge_stack)["battery_percent"] is not None
    assert wait_for(lambda: agent.mcu.state().mode == agent.engine.stats().mode == "anc")


def test_button_changes_the_mode_in_the_loop_and_the_shadow(
        edge_stack: LocalStack, agent: Agent, sim: SimDevice, cloud: ServiceClient) -> None:
    before = agent.engine.stats().user_mode
    sim.press(0.08)
    assert wait_for(lambda: agent.mcu.state().mode != before)
    new_mode = agent.mcu.state().mode
    assert wait_for(lambda: agent.engine.stats().user_mode == new_mode)
    assert wait_for(lambda: reported(edge_stack, THING)["anc"]["mode"] == new_mode)
    events = wait_for(lambda: [e for e in cloud.messages(f"anc/v1/{THING}/events")
                               if e["type"] == "mode_changed" and e["source"] == "button"])
    assert events[-1]["mode"] == new_mode
    sim.press(0.08)  # back to where it was for the next test
    assert wait_for(lambda: agent.engine.stats().user_mode != new_mode)


def test_emergency_switches_to_transparency_tells_the_mcu_and_restores(
        edge_stack: LocalStack, agent: Agent, cloud: ServiceClient) -> None:
    user_mode = agent.engine.stats().user_mode
    assert agent.engine.request(InjectSound("siren", seconds=2.0, snr_db=0.0, seed=1))
    assert wait_for(lambda: agent.engine.stats().mode == "transparency", timeout=10)
    assert wait_for(lambda: agent.mcu.state().mode == "transparency")
    detected = wait_for(lambda: [e for e in cloud.messages(f"anc/v1/{THING}/events")
                                 if e["type"] == "emergency_detected"])
    assert detected[-1]["class"] == "siren" and detected[-1]["previous_mode"] == user_mode
    # The event carries when the loop switched (the 300 ms bar itself is the audio plane's
    # test, over many sounds and scenes).
    assert detected[-1]["switched_s"] >= detected[-1]["onset_s"]
    assert wait_for(lambda: [e for e in cloud.messages(f"anc/v1/{THING}/events")
                             if e["type"] == "emergency_ended"], timeout=20)
    assert wait_for(lambda: agent.engine.stats().mode == user_mode)
    assert wait_for(lambda: agent.mcu.state().mode == user_mode)


def test_mcu_reset_is_recovered_and_the_mode_resynced(
        edge_stack: LocalStack, agent: Agent, sim: SimDevice) -> None:
    resets = agent.mcu.state().resets_seen
    sim.restart()  # boots in its default mode and waits for a HELLO
    assert wait_for(lambda: agent.mcu.state().resets_seen > resets, timeout=20)
    assert wait_for(lambda: device(edge_stack).get("mcu_resets", 0) > resets
                    and device(edge_stack)["mcu_connected"], timeout=20)
    assert wait_for(lambda: agent.mcu.state().mode == agent.engine.stats().mode)
