"""The agent refuses to start with a clear error on unusable certificates or a busy outbox,
and `read_status` explains a device that never ran."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cloud.local.stack import LocalStack
from edge_agent.agent import read_status, run_agent
from edge_agent.config import Config, load_config
from tests.edge.conftest import AgentProcess, device_config, wait_for


def config_with(config: Config, tmp_path: Path, **files: bytes) -> Config:
    """A copy of `config` whose named credential files (cert/key/ca) hold other bytes."""
    paths: dict[str, Any] = {}
    for name, content in files.items():
        path = tmp_path / f"bad-{name}.pem"
        path.write_bytes(content)
        paths[f"{name}_path"] = path
    return dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, **paths))


@pytest.fixture
def config(edge_stack: LocalStack, tmp_path: Path) -> Config:
    return load_config(device_config(edge_stack, "edge-errors-1", tmp_path))


@pytest.mark.parametrize(("files", "message"), [
    ({"cert": b"garbage"}, "[mqtt] cert: {cert} is not a PEM certificate"),
    ({"key": b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
     "[mqtt] key: {key} is not an unencrypted PEM private key"),
    ({"ca": b""}, "[mqtt] ca: {ca} is not a PEM certificate"),
])
def test_unusable_credentials_name_the_file(config: Config, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            files: dict[str, bytes], message: str) -> None:
    broken = config_with(config, tmp_path, **files)
    assert run_agent(broken) == 2
    expected = message.format(**{n: tmp_path / f"bad-{n}.pem" for n in files})
    assert expected in capsys.readouterr().err


def test_key_of_another_device_is_refused(edge_stack: LocalStack, config: Config,
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, other_key = edge_stack.device_cert("edge-errors-2")
    broken = config_with(config, tmp_path, key=other_key.read_bytes())
    assert run_agent(broken) == 2
    assert "does not belong to the certificate" in capsys.readouterr().err


def test_key_path_that_cannot_be_read(config: Config, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "key-dir"
    key.mkdir()
    broken = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, key_path=key))
    assert run_agent(broken) == 2
    assert f"[mqtt] key: cannot read {key}: Is a directory" in capsys.readouterr().err


def test_second_agent_on_the_same_outbox_is_refused(
        config: Config, agents: Callable[[Path], AgentProcess], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    first = agents(tmp_path / "edge-errors-1.toml")
    assert first.wait_for_output("connected (connection 1)"), first.output()
    assert read_status(config)["running"] is True or wait_for(
        lambda: read_status(config)["running"])
    assert run_agent(config) == 2
    assert "is already open" in capsys.readouterr().err
    assert first.terminate() == 0
    status = read_status(config)
    assert status["running"] is False and status["thing"] == "edge-errors-1"
    assert status["outbox"]["pending"] == 0


def test_status_of_a_device_that_never_ran(config: Config) -> None:
    status = read_status(config)
    assert status["running"] is False and "has not run" in status["error"]


def test_audio_input_that_cannot_be_used_is_a_clear_error(
        edge_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"this is not a wav file")
    path = device_config(edge_stack, "edge-errors-3", tmp_path, extra="")
    text = path.read_text().replace('backend = "sim"', 'backend = "wav"')
    path.write_text(text + f'[audio.wav]\ninput = "{broken}"\n')
    assert run_agent(load_config(path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("anc-edge: error: ") and "broken.wav" in err
