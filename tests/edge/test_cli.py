"""`anc-edge`: simulate, detect, status, devices and the errors people will make."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from dsp_c.sim.emergency import emergency_sound, mix_at_snr
from dsp_c.sim.scenes import scene
from edge_agent.cli import main
from edge_agent.emergency import detect

FS = 48_000


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_prints_metrics_and_the_emergency(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", "--scene", "engine", "--seconds", "5",
                         "--emergency", "alarm", "--at", "3", "--emergency-seconds", "1.5")
    assert code == 0, err
    assert "t=   1.0 s" in err  # progress for a person
    assert "scene engine: 5.0 s simulated" in out
    assert "emergency_started: alarm" in out
    assert "block time p50/p99/p99.9/max" in out


def test_simulate_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "simulate", "--scene", "fan", "--seconds", "3", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["scene"] == "fan" and summary["seconds"] == pytest.approx(3.0)
    assert summary["attenuation_db"] > 15.0
    assert summary["latency_samples"] == 1 and summary["events"] == []
    assert summary["block_time_us"]["budget"] == pytest.approx(666.667, abs=0.01)


def test_detect_prints_json_lines_matching_the_detector(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    x = mix_at_snr(scene("traffic", 6.0, FS, seed=1), emergency_sound("siren", 2.0, FS, 2),
                   0.0, 3.0)
    path = tmp_path / "street.wav"
    scipy.io.wavfile.write(path, FS, np.round(x * 32767).astype(np.int16))
    code, out, err = run(capsys, "detect", str(path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["class"] for e in lines] == ["siren"]
    assert set(lines[0]) == {"onset_s", "class", "confidence", "detected_s"}
    assert 2.9 <= lines[0]["onset_s"] <= 3.1
    expected = detect(np.round(x * 32767).astype(np.int16) / 32768.0, FS)
    assert lines[0]["confidence"] == round(expected[0].confidence, 3)
    assert "1 emergency event(s)" in err


@pytest.mark.parametrize("argv, message", [
    (["detect", "/nonexistent/file.wav"], "no such file"),
    (["run"], "need --config FILE, or --local DIR together with --thing NAME"),
    (["status", "--local", "/tmp/x"], "need --config FILE, or --local DIR together with --thing"),
    (["run", "--config", "/nonexistent.toml"], "cannot read"),
    (["simulate", "--scene", "moon", "--seconds", "1"], "unknown scene 'moon'"),
    (["devices"], "alsa backend needs"),
])
def test_errors_are_one_clear_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                                   message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("anc-edge: error: ") and message in err, err
    assert err.count("\n") == 1


def test_corrupt_wav_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    code, _, err = run(capsys, "detect", str(bad))
    assert code == 2 and "bad.wav: not a usable WAV file" in err


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["simulate", "--seconds", "-1"], "expected a positive number"),
    (["simulate", "--mode", "loud"], "invalid choice: 'loud'"),
    (["detect"], "the following arguments are required: FILE.wav"),
])
def test_argument_errors_name_the_argument(capsys: pytest.CaptureFixture[str], argv: list[str],
                                           message: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_status_of_an_agent_that_never_ran(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("ca.crt", "dev.crt", "dev.key"):
        (tmp_path / name).write_text("placeholder")
    config = tmp_path / "device.toml"
    config.write_text('[device]\nthing = "hs-1"\n[mqtt]\nhost = "localhost"\nca = "ca.crt"\n'
                      'cert = "dev.crt"\nkey = "dev.key"\n')
    code, out, _ = run(capsys, "status", "--config", str(config), "--json")
    assert code == 0
    status = json.loads(out)
    assert status["thing"] == "hs-1" and status["running"] is False
    code, out, _ = run(capsys, "status", "--config", str(config))
    assert code == 0 and out.startswith("hs-1: not running")
