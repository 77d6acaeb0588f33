"""Device configuration: the example file, every kind of error, and the local-stack builder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge_agent.config import ConfigError, from_local_stack, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "edge_agent" / "example-config.toml"


@pytest.fixture
def device_dir(tmp_path: Path) -> Path:
    """A directory holding the example config and the files it names."""
    (tmp_path / "certs").mkdir()
    for name in ("ca.crt", "headset-0001.crt", "headset-0001.key"):
        (tmp_path / "certs" / name).write_text("PEM")
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "cabin.wav").write_bytes(b"RIFF")
    shutil.copy(EXAMPLE, tmp_path / "config.toml")
    return tmp_path


def edit(device_dir: Path, old: str, new: str) -> Path:
    path = device_dir / "config.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def test_example_config_loads(device_dir: Path) -> None:
    cfg = load_config(device_dir / "config.toml")
    assert cfg.thing == "headset-0001"
    assert cfg.mqtt.port == 8883 and cfg.mqtt.ca_path == device_dir / "certs" / "ca.crt"
    assert (cfg.mqtt.reconnect_min_s, cfg.mqtt.reconnect_max_s) == (0.5, 30.0)
    assert (cfg.audio.backend, cfg.audio.sample_rate, cfg.audio.block) == ("sim", 48000, 32)
    assert cfg.audio.wav is not None and cfg.audio.wav.input.name == "cabin.wav"
    assert cfg.outbox.path == device_dir / "outbox.sqlite"
    assert cfg.mcu is not None and cfg.mcu.port == "/dev/ttyS1"
    assert cfg.emergency.enabled and cfg.emergency.hold_s == 2.0
    assert cfg.telemetry_interval_s == 10.0


def test_defaults_for_optional_sections(tmp_path: Path) -> None:
    for name in ("ca", "c", "k"):
        (tmp_path / name).write_text("PEM")
    path = tmp_path / "minimal.toml"
    path.write_text('[device]\nthing = "hs-2"\n[mqtt]\nhost = "h"\nca = "ca"\ncert = "c"\n'
                    'key = "k"\n')
    cfg = load_config(path)
    assert cfg.mcu is None and cfg.audio.taps == 256 and cfg.outbox.capacity == 10000
    assert cfg.outbox.synchronous == "normal" and cfg.emergency.min_confidence == 0.5


@pytest.mark.parametrize(("old", "new", "message"), [
    ("port = 8883", 'port = "abc"',
     'config.toml: [mqtt] port: expected an integer 1..65535, got "abc"'),
    ("port = 8883", "port = 70000",
     "config.toml: [mqtt] port: expected an integer 1..65535, got 70000"),
    ('thing = "headset-0001"', 'thing = "head set"',
     'config.toml: [device] thing: expected a thing name matching'),
    ('backend = "sim"', 'backend = "pulse"',
     'config.toml: [audio] backend: expected one of sim, wav, alsa, got "pulse"'),
    ("taps = 256", "taps = 8", "config.toml: [audio] taps: expected an integer 16..1024, got 8"),
    ("mu = 0.02", "mu = 0", "config.toml: [audio] mu: expected a number > 0 and ≤ 2, got 0"),
    ("mu = 0.02", "mu = true", "[audio] mu: expected a number > 0 and ≤ 2, got true"),
    ("interval_s = 10", "interval_s = 0.01", "[telemetry] interval_s: expected a number"),
    ('synchronous = "normal"', 'synchronous = "off"', "[outbox] synchronous: expected one of"),
    ("enabled = true", 'enabled = "yes"', '[emergency] enabled: expected true or false, got "yes"'),
    ("reconnect_max_s = 30", "reconnect_max_s = 0.2",
     "config.toml: [mqtt] reconnect_max_s: must not be below reconnect_min_s (0.5), got 0.2"),
    ("reconnect_min_s = 0.5", "reconnect_min_s = 0",
     "[mqtt] reconnect_min_s: expected a number 0.05..60.0, got 0"),
    ("keepalive_s = 30", "keepalive_s = 30\nkeep_alive = 4",
     "config.toml: [mqtt] keep_alive: unknown key"),
    ('scene = "vehicle"', 'scene = "vehicle"\nsed = 1', "[audio.sim] sed: unknown key"),
    ("[telemetry]", "[telemetri]", "config.toml: [telemetri]: unknown section"),
    ('ca = "certs/ca.crt"', 'ca = "certs/missing.crt"', "[mqtt] ca: "),
    ('host = "localhost"\n', "", "config.toml: [mqtt] host: missing (required)"),
    ("port = 8883", "port = ", "config.toml: invalid TOML"),
])
def test_errors_name_file_section_key_and_value(device_dir: Path, old: str, new: str,
                                                message: str) -> None:
    path = edit(device_dir, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)


def test_missing_cert_error_names_field_and_path(device_dir: Path) -> None:
    (device_dir / "certs" / "headset-0001.key").unlink()
    with pytest.raises(ConfigError, match=r"\[mqtt\] key: .*headset-0001.key does not exist"):
        load_config(device_dir / "config.toml")


def test_unreadable_cert_is_reported(device_dir: Path) -> None:
    (device_dir / "certs" / "ca.crt").unlink()
    (device_dir / "certs" / "ca.crt").mkdir()
    with pytest.raises(ConfigError, match=r"\[mqtt\] ca: .*ca.crt is not a readable file"):
        load_config(device_dir / "config.toml")


def test_wav_input_checked_only_when_selected(device_dir: Path) -> None:
    (device_dir / "recordings" / "cabin.wav").unlink()
    load_config(device_dir / "config.toml")  # backend is sim: the wav table is only typed
    edit(device_dir, 'backend = "sim"', 'backend = "wav"')
    with pytest.raises(ConfigError, match=r"\[audio.wav\] input: .*cabin.wav does not exist"):
        load_config(device_dir / "config.toml")


def test_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "bin.toml")


def test_from_local_stack(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("PEM")
    (tmp_path / "d.crt").write_text("PEM")
    (tmp_path / "d.key").write_text("PEM")
    (tmp_path / "env.json").write_text(json.dumps({
        "mqtt_host": "127.0.0.1", "mqtt_port": 18883, "ca_path": str(tmp_path / "ca.crt"),
        "aws_endpoint_url": "http://127.0.0.1:5000", "region": "eu-west-1", "tables": {}}))
    cfg = from_local_stack(tmp_path, "hs-7", tmp_path / "d.crt", tmp_path / "d.key")
    assert (cfg.thing, cfg.mqtt.host, cfg.mqtt.port) == ("hs-7", "127.0.0.1", 18883)
    assert cfg.mqtt.cert_path == tmp_path / "d.crt" and cfg.audio.backend == "sim"
    assert cfg.outbox.path == tmp_path / "edge" / "hs-7" / "outbox.sqlite"
    with pytest.raises(ConfigError, match=r"\[device\] thing"):
        from_local_stack(tmp_path, "bad/name", tmp_path / "d.crt", tmp_path / "d.key")
    with pytest.raises(ConfigError, match=r"\[mqtt\] key: .*missing.key does not exist"):
        from_local_stack(tmp_path, "hs-7", tmp_path / "d.crt", tmp_path / "missing.key")


def test_from_local_stack_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="env.json: cannot read.*anc-local up"):
        from_local_stack(tmp_path, "hs-1", "c", "k")
    (tmp_path / "env.json").write_text('{"mqtt_host": "x"}')
    with pytest.raises(ConfigError, match="missing keys: mqtt_port, ca_path"):
        from_local_stack(tmp_path, "hs-1", "c", "k")
