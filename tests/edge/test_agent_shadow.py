"""An agent process against the real local stack: desired → applied in the loop → reported,
invalid desired → reported.errors, malformed deltas, and heavy-adaptation results."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import protocol
from cloud.local.stack import LocalStack
from edge_agent.adapt import coefficients_sha256
from edge_agent.agent import read_status
from edge_agent.config import load_config
from protocol import schemas, topics
from tests.edge.conftest import (
    AgentProcess,
    ServiceClient,
    device_config,
    get_shadow,
    reported,
    set_desired,
    wait_for,
)

THING = "edge-shadow-1"


@pytest.fixture(scope="module")
def cloud(edge_stack: LocalStack) -> Iterator[ServiceClient]:
    client = ServiceClient(edge_stack, "edge-shadow-tests")
    client.subscribe(f"anc/v1/{THING}/#")
    yield client
    client.close()


@pytest.fixture(scope="module")
def agent(edge_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[AgentProcess]:
    config = device_config(edge_stack, THING, tmp_path_factory.mktemp("shadow"))
    process = AgentProcess(config).start()
    try:
        assert process.wait_for_output("connected (connection 1)"), process.output()
        # The first GET finds no shadow; the agent's report creates it.
        assert wait_for(lambda: reported(edge_stack, THING).get("anc")), process.output()
        yield process
    finally:
        process.stop_quietly()


def loop_status(agent: AgentProcess) -> dict[str, Any]:
    return read_status(load_config(agent.config_path))


def test_desired_change_is_applied_in_the_loop_and_reported(
        edge_stack: LocalStack, agent: AgentProcess) -> None:
    set_desired(edge_stack, THING, {"anc": {"mode": "transparency", "taps": 128, "mu": 0.05},
                                    "telemetry": {"interval_s": 0.5}})
    assert wait_for(lambda: reported(edge_stack, THING).get("anc", {}).get("taps") == 128), \
        agent.output()
    state = reported(edge_stack, THING)
    assert state["anc"]["mode"] == "transparency" and state["anc"]["mu"] == 0.05
    assert state["telemetry"]["interval_s"] == 0.5
    assert "delta" not in get_shadow(edge_stack, THING)["state"]
    # What the loop itself runs (the agent's status file comes from engine.stats()).
    status = wait_for(lambda: (s := loop_status(agent))["taps"] == 128 and s)
    assert status["running"] and status["user_mode"] == "transparency"
    assert status["mode"] == "transparency" and status["audio"]["blocks"] > 0
    assert "applied anc.taps = 128" in agent.output()


def test_invalid_desired_is_reported_under_errors_and_valid_parts_applied(
        edge_stack: LocalStack, agent: AgentProcess) -> None:
    set_desired(edge_stack, THING, {"anc": {"taps": 5000, "algorithm": "hybrid"},
                                    "safety": {"max_output_dbfs": 6}})
    errors = wait_for(lambda: reported(edge_stack, THING).get("errors", {}).get("anc.taps")
                      and reported(edge_stack, THING)["errors"])
    assert errors, agent.output()
    assert "5000 is greater than the maximum of 1024" in errors["anc.taps"]
    assert "6 is greater than the maximum of 0" in errors["safety.max_output_dbfs"]
    assert reported(edge_stack, THING)["anc"]["algorithm"] == "hybrid"
    assert wait_for(lambda: loop_status(agent)["algorithm"] == "hybrid")

    # A valid value later clears the error.
    set_desired(edge_stack, THING, {"anc": {"taps": 256}, "safety": {"max_output_dbfs": -6}})
    assert wait_for(lambda: "anc.taps" not in reported(edge_stack, THING).get("errors", {}))
    state = reported(edge_stack, THING)
    assert state["anc"]["taps"] == 256 and state["safety"]["max_output_dbfs"] == -6
    assert "safety.max_output_dbfs" not in state.get("errors", {})


def test_malformed_deltas_do_not_disturb_the_agent(
        edge_stack: LocalStack, agent: AgentProcess, cloud: ServiceClient) -> None:
    delta = topics.shadow_topic(THING, "update", "delta")
    for garbage in (b"\x00\xffnot json", b"[]", b'{"state": {"anc": {"mode": "off"}}}',
                    b'{"version": "high", "state": {}}'):
        cloud.publish(delta, garbage)
    assert wait_for(lambda: loop_status(agent)["shadow"]["malformed"] >= 4), agent.output()
    set_desired(edge_stack, THING, {"anc": {"mode": "off"}})
    assert wait_for(lambda: reported(edge_stack, THING)["anc"]["mode"] == "off")
    assert agent.proc is not None and agent.proc.poll() is None
    assert wait_for(lambda: loop_status(agent)["mode"] == "off")


def filter_result(version: int, taps: int = 64, sha256: str | None = None) -> bytes:
    coefficients = [float(c) for c in
                    np.random.default_rng(version).normal(0, 0.01, taps).astype(np.float32)]
    return json.dumps({"version": version, "taps": taps, "coefficients": coefficients,
                       "sha256": sha256 or coefficients_sha256(coefficients)}).encode()


def events(cloud: ServiceClient, kind: str) -> list[dict[str, Any]]:
    return [e for e in cloud.messages(f"anc/v1/{THING}/events") if e.get("type") == kind]


def test_adapt_result_with_bad_sha256_is_rejected_and_a_good_one_loaded(
        edge_stack: LocalStack, agent: AgentProcess, cloud: ServiceClient) -> None:
    result_topic = topics.device_topic(THING, topics.ADAPT_RESULT)
    cloud.publish(result_topic, filter_result(7, sha256="0" * 64))
    error = wait_for(lambda: reported(edge_stack, THING).get("errors", {}).get("filter.version"))
    assert error and "adapt result 7: sha256 mismatch" in error
    assert wait_for(lambda: events(cloud, "filter_rejected"))
    assert "sha256 mismatch" in events(cloud, "filter_rejected")[-1]["reason"]
    assert reported(edge_stack, THING)["filter"]["version"] == 0
    assert loop_status(agent)["filter_version"] == 0

    cloud.publish(result_topic, filter_result(7))
    assert wait_for(lambda: reported(edge_stack, THING)["filter"]["version"] == 7), \
        agent.output()
    assert "filter.version" not in reported(edge_stack, THING).get("errors", {})
    assert wait_for(lambda: loop_status(agent)["filter_version"] == 7)
    assert wait_for(lambda: events(cloud, "filter_loaded"))

    # A replay of an older version is refused, the running filter stays.
    cloud.publish(result_topic, filter_result(5))
    error = wait_for(lambda: reported(edge_stack, THING).get("errors", {}).get("filter.version"))
    assert "not newer than the running filter version 7" in error
    assert loop_status(agent)["filter_version"] == 7


def test_desired_filter_version_sends_statistics_not_audio(
        edge_stack: LocalStack, agent: AgentProcess, cloud: ServiceClient) -> None:
    set_desired(edge_stack, THING, {"filter": {"version": 9}})
    request_topic = topics.device_topic(THING, topics.ADAPT_REQUEST)
    requests = wait_for(lambda: cloud.messages(request_topic))
    assert requests, agent.output()
    body = requests[-1]
    assert schemas.errors("adapt-request", body) == []
    assert body["current_version"] == loop_status(agent)["filter_version"]
    assert len(body["statistics"]["r_autocorr"]) == body["taps"]
    # The cloud answers with version 9 for the running tap count: the delta is resolved.
    cloud.publish(topics.device_topic(THING, topics.ADAPT_RESULT),
                  filter_result(9, taps=reported(edge_stack, THING)["anc"]["taps"]))
    assert wait_for(lambda: reported(edge_stack, THING)["filter"]["version"] == 9)
    assert "delta" not in get_shadow(edge_stack, THING)["state"]


def test_desired_set_while_the_agent_is_down_is_applied_on_start(
        edge_stack: LocalStack, agents: Callable[[Path], AgentProcess],
        tmp_path: Path) -> None:
    thing = "edge-shadow-2"
    config = device_config(edge_stack, thing, tmp_path)
    set_desired(edge_stack, thing, {"anc": {"mode": "adaptive", "leak": 0.001}})
    agent = agents(config)
    assert wait_for(lambda: reported(edge_stack, thing).get("anc", {}).get("mode") == "adaptive",
                    timeout=20), agent.output()
    assert reported(edge_stack, thing)["anc"]["leak"] == 0.001
    assert agent.terminate() == 0


def test_telemetry_and_feature_frames_reach_the_cloud(
        agent: AgentProcess, cloud: ServiceClient) -> None:
    telemetry = wait_for(lambda: cloud.messages(topics.device_topic(THING, topics.TELEMETRY)))
    assert telemetry and all(schemas.errors("telemetry", t) == [] for t in telemetry)
    seqs = [t["seq"] for t in telemetry]
    assert seqs == sorted(seqs) and telemetry[-1]["block_time_us"]["budget"] > 0
    definition = json.loads((Path(protocol.__file__).parent / "features.json").read_text())
    frames = wait_for(lambda: cloud.messages(topics.device_topic(THING, topics.FEATURES)))
    assert frames, agent.output()
    assert frames[-1]["version"] == definition["version"]
    assert len(frames[-1]["frames"][0]) == len(definition["features"])
    assert any("noise_level_dbfs" in t for t in telemetry)
