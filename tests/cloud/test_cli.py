"""`anc-local up/status/cert/down` as a user runs them, in a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cloud.local.mosquitto import mosquitto_binary
from cloud.local.processes import ProcessRecord, free_port, pid_alive, pid_file

CONTRACT_KEYS = {"mqtt_host", "mqtt_port", "ca_path", "aws_endpoint_url",
                 "iot_data_endpoint_url", "region", "tables"}


def anc_local(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloud.local.cli", *args], capture_output=True,
                          text=True, timeout=90, env=env, check=False)


def test_up_status_cert_down(tmp_path: Path) -> None:
    directory = str(tmp_path / "stack")
    # A broker `anc-local` did not start: `down` must leave it alone (it stops by pid).
    bystander = subprocess.Popen([mosquitto_binary(), "-p", str(free_port())],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = anc_local("up", "--dir", directory)
        assert first.returncode == 0, first.stderr
        assert "anc-local: up" in first.stdout

        env = json.loads((Path(directory) / "env.json").read_text())
        assert env.keys() >= CONTRACT_KEYS
        assert env["tables"]["TelemetryTable"] == "anc-telemetry-dev"
        assert Path(env["ca_path"]).is_file()

        second = anc_local("up", "--dir", directory)
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout

        status = anc_local("status", "--dir", directory, "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["running"] is True
        pids = {name: info["pid"] for name, info in report["processes"].items()}
        assert set(pids) == {"mosquitto", "moto", "emulator"}
        assert all(pid_alive(pid) for pid in pids.values())

        cert = anc_local("cert", "headset-7", "--dir", directory)
        assert cert.returncode == 0, cert.stderr
        paths = json.loads(cert.stdout)
        assert Path(paths["cert_path"]).is_file() and Path(paths["key_path"]).is_file()
        again = json.loads(anc_local("cert", "headset-7", "--dir", directory).stdout)
        assert again["cert_path"] == paths["cert_path"]
        assert Path(paths["cert_path"]).read_bytes() == Path(again["cert_path"]).read_bytes()

        bad = anc_local("cert", "no/slash", "--dir", directory)
        assert bad.returncode == 2 and "thing name 'no/slash'" in bad.stderr
        down = anc_local("down", "--dir", directory)
        assert down.returncode == 0, down.stderr
        assert "stopped emulator" in down.stdout
        assert not any(pid_alive(pid) for pid in pids.values())
        assert pid_alive(bystander.pid), "down stopped a broker it had not started"
        assert not (Path(directory) / "env.json").exists()
        after = anc_local("status", "--dir", directory, "--json")
        assert after.returncode == 3 and json.loads(after.stdout)["running"] is False

        # A pid file whose pid now belongs to another process (pid reuse) stops nothing.
        stale = ProcessRecord("moto", bystander.pid, None, "moto.log", start_ticks=1)
        pid_file(Path(directory), "moto").write_text(json.dumps(stale.to_json()))
        assert anc_local("down", "--dir", directory).returncode == 0
        assert pid_alive(bystander.pid)
    finally:
        anc_local("down", "--dir", directory)
        bystander.terminate()
        bystander.wait(10)


def test_missing_mosquitto_says_how_to_install(tmp_path: Path) -> None:
    # A PATH without the broker (and without an sbin beside it), as on a machine without it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ANC_MOSQUITTO"}
    env["PATH"] = str(bin_dir)
    result = anc_local("up", "--dir", str(tmp_path / "stack"), env=env)
    assert result.returncode == 2
    assert "Mosquitto is not installed" in result.stderr
    assert "apt-get install mosquitto" in result.stderr
    assert not (tmp_path / "stack").exists()


def test_a_wrong_mosquitto_override_is_named(tmp_path: Path) -> None:
    env = {**os.environ, "ANC_MOSQUITTO": str(tmp_path / "no-such-mosquitto")}
    result = anc_local("up", "--dir", str(tmp_path / "stack"), env=env)
    assert result.returncode == 2
    assert f"ANC_MOSQUITTO={tmp_path / 'no-such-mosquitto'} is not an executable" in result.stderr
    assert "apt-get install mosquitto" in result.stderr
