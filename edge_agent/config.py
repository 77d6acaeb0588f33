"""Device configuration: one TOML file describes a headset (see example-config.toml).

`load_config(path)` parses and validates the file. Every problem raises `ConfigError`
naming the file, the section, the key and what was expected, e.g.

    config.toml: [mqtt] port: expected an integer 1..65535, got "abc"

Unknown sections and keys are errors, so a typo never silently falls back to a default.
Relative paths are resolved against the directory of the config file. Ranges shared with
the device shadow (taps, mu, leak, telemetry interval) are read from
`protocol/schemas/shadow-desired.schema.json`, so the file and the shadow agree.

`from_local_stack(dir, thing, cert_path, key_path)` builds the same object for a device
of the local stack (`anc-local`) from `DIR/env.json` (ARCHITECTURE §7).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edge_agent.outbox import DEFAULT_CAPACITY, SYNCHRONOUS_MODES
from protocol import schemas, topics

AUDIO_BACKENDS = ("sim", "wav", "alsa")
# Step size that converges without divergence resets on every simulator scene with FxNLMS
# and 32-sample block commits (0.05 and above trip the divergence guard on some scenes).
DEFAULT_MU = 0.02
T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file (or local-stack env.json) that cannot be used as given."""


def _shadow_range(section: str, key: str) -> tuple[float, float, bool]:
    """(minimum, maximum, minimum-is-exclusive) of a shadow `desired` key."""
    prop = schemas.load("shadow-desired")["properties"][section]["properties"][key]
    if "exclusiveMinimum" in prop:
        return prop["exclusiveMinimum"], prop["maximum"], True
    return prop["minimum"], prop["maximum"], False


def _shadow_enum(section: str, key: str) -> tuple[str, ...]:
    return tuple(schemas.load("shadow-desired")["properties"][section]["properties"][key]["enum"])


@dataclass(frozen=True)
class MqttConfig:
    host: str
    port: int
    ca_path: Path
    cert_path: Path
    key_path: Path
    keepalive_s: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0


@dataclass(frozen=True)
class SimAudioConfig:
    scene: str = "vehicle"
    seed: int = 0


@dataclass(frozen=True)
class WavAudioConfig:
    input: Path
    output: Path | None = None
    loop: bool = False


@dataclass(frozen=True)
class AlsaAudioConfig:
    device: str = "default"


@dataclass(frozen=True)
class AudioConfig:
    backend: str = "sim"
    sample_rate: int = 48000
    block: int = 32
    mode: str = "anc"
    algorithm: str = "fxnlms"
    taps: int = 256
    mu: float = DEFAULT_MU
    leak: float = 0.0
    sim: SimAudioConfig = field(default_factory=SimAudioConfig)
    wav: WavAudioConfig | None = None
    alsa: AlsaAudioConfig = field(default_factory=AlsaAudioConfig)


@dataclass(frozen=True)
class OutboxConfig:
    path: Path
    capacity: int = DEFAULT_CAPACITY
    synchronous: str = "normal"


@dataclass(frozen=True)
class McuConfig:
    port: str
    baudrate: int = 115200


@dataclass(frozen=True)
class EmergencyConfig:
    enabled: bool = True
    min_confidence: float = 0.5
    salience_db: float = 13.0
    hold_s: float = 2.0


@dataclass(frozen=True)
class Config:
    thing: str
    mqtt: MqttConfig
    audio: AudioConfig
    telemetry_interval_s: float
    outbox: OutboxConfig
    mcu: McuConfig | None
    emergency: EmergencyConfig


# --------------------------------------------------------------------------- reader


class _Section:
    """Typed, range-checked access to one TOML table, with errors naming file/section/key."""

    def __init__(self, source: str, name: str, table: Any, base_dir: Path) -> None:
        self.source, self.name, self.base_dir = source, name, base_dir
        if not isinstance(table, Mapping):
            self.fail(None, f"expected a table, got {_show(table)}")
        self.table: Mapping[str, Any] = table
        self.used: set[str] = set()

    def fail(self, key: str | None, message: str) -> None:
        where = f"[{self.name}] {key}" if key else f"[{self.name}]"
        raise ConfigError(f"{self.source}: {where}: {message}")

    def _get(self, key: str, default: Any, required: bool) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                self.fail(key, "missing (required)")
            return default
        return self.table[key]

    def integer(self, key: str, lo: int, hi: int, default: int | None = None) -> int:
        value = self._get(key, default, default is None)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            self.fail(key, f"expected an integer {lo}..{hi}, got {_show(value)}")
        return int(value)

    def number(self, key: str, lo: float, hi: float, default: float | None = None,
               lo_exclusive: bool = False) -> float:
        value = self._get(key, default, default is None)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            ok = (lo < value if lo_exclusive else lo <= value) and value <= hi
        if not ok:
            bound = f"> {lo} and ≤ {hi}" if lo_exclusive else f"{lo}..{hi}"
            self.fail(key, f"expected a number {bound}, got {_show(value)}")
        return float(value)

    def string(self, key: str, default: str | None = None,
               choices: tuple[str, ...] | None = None) -> str:
        value = self._get(key, default, default is None)
        if not isinstance(value, str) or not value:
            self.fail(key, f"expected a non-empty string, got {_show(value)}")
        if choices is not None and value not in choices:
            self.fail(key, f"expected one of {', '.join(choices)}, got {_show(value)}")
        return str(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default, False)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_show(value)}")
        return bool(value)

    def path(self, key: str, default: str | None = None, readable: bool = False,
             writable_dir: bool = False) -> Path:
        raw = self.string(key, default)
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if readable and not (path.is_file() and os.access(path, os.R_OK)):
            problem = "does not exist" if not path.exists() else "is not a readable file"
            self.fail(key, f"{path} {problem}")
        if writable_dir and not (path.parent.is_dir() and os.access(path.parent, os.W_OK)):
            self.fail(key, f"directory {path.parent} does not exist or is not writable")
        return path

    def sub(self, key: str) -> _Section | None:
        """A nested table `[name.key]`, or None if absent."""
        self.used.add(key)
        if key not in self.table:
            return None
        return _Section(self.source, f"{self.name}.{key}", self.table[key], self.base_dir)

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            self.fail(unknown[0], f"unknown key (known keys: {known})")


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


def _read(section: _Section | None, reader: Callable[[_Section], T]) -> T:
    """Run `reader` on a section and reject keys it did not consume."""
    assert section is not None
    result = reader(section)
    section.done()
    return result


# --------------------------------------------------------------------------- sections


def _device(s: _Section) -> str:
    thing = s.string("thing")
    try:
        topics.check_thing_name(thing)
    except topics.TopicError:
        s.fail("thing", f"expected a thing name matching {topics.THING_NAME_PATTERN.pattern}, "
                        f"got {_show(thing)}")
    return thing


def _mqtt(s: _Section) -> MqttConfig:
    mqtt = MqttConfig(
        host=s.string("host"),
        port=s.integer("port", 1, 65535, 8883),
        ca_path=s.path("ca", readable=True),
        cert_path=s.path("cert", readable=True),
        key_path=s.path("key", readable=True),
        keepalive_s=s.integer("keepalive_s", 5, 1200, 30),
        reconnect_min_s=s.number("reconnect_min_s", 0.05, 60.0, 0.5),
        reconnect_max_s=s.number("reconnect_max_s", 0.05, 3600.0, 30.0),
    )
    if mqtt.reconnect_max_s < mqtt.reconnect_min_s:
        s.fail("reconnect_max_s", f"must not be below reconnect_min_s "
                                  f"({mqtt.reconnect_min_s}), got {mqtt.reconnect_max_s}")
    return mqtt


def _audio(s: _Section) -> AudioConfig:
    backend = s.string("backend", "sim", AUDIO_BACKENDS)
    taps_lo, taps_hi, _ = _shadow_range("anc", "taps")
    mu_lo, mu_hi, mu_excl = _shadow_range("anc", "mu")
    leak_lo, leak_hi, _ = _shadow_range("anc", "leak")
    audio = AudioConfig(
        backend=backend,
        sample_rate=s.integer("sample_rate", 16000, 96000, 48000),
        block=s.integer("block", 1, 4096, 32),
        mode=s.string("mode", "anc", _shadow_enum("anc", "mode")),
        algorithm=s.string("algorithm", "fxnlms", _shadow_enum("anc", "algorithm")),
        taps=s.integer("taps", int(taps_lo), int(taps_hi), 256),
        mu=s.number("mu", mu_lo, mu_hi, DEFAULT_MU, lo_exclusive=mu_excl),
        leak=s.number("leak", leak_lo, leak_hi, 0.0),
        sim=_read(s.sub("sim"), _sim) if "sim" in s.table else SimAudioConfig(),
        wav=_read(s.sub("wav"), lambda w: _wav(w, check_files=backend == "wav"))
        if "wav" in s.table else None,
        alsa=_read(s.sub("alsa"), _alsa) if "alsa" in s.table else AlsaAudioConfig(),
    )
    s.used.update({"sim", "wav", "alsa"})
    if backend == "wav" and audio.wav is None:
        s.fail("backend", 'is "wav" but there is no [audio.wav] table with an input file')
    return audio


def _sim(s: _Section) -> SimAudioConfig:
    return SimAudioConfig(scene=s.string("scene", "vehicle"),
                          seed=s.integer("seed", 0, 2**63 - 1, 0))


def _wav(s: _Section, check_files: bool) -> WavAudioConfig:
    output = None
    if "output" in s.table:
        output = s.path("output", writable_dir=check_files)
    return WavAudioConfig(input=s.path("input", readable=check_files), output=output,
                          loop=s.boolean("loop", False))


def _alsa(s: _Section) -> AlsaAudioConfig:
    return AlsaAudioConfig(device=s.string("device", "default"))


def _telemetry(s: _Section) -> float:
    lo, hi, _ = _shadow_range("telemetry", "interval_s")
    return s.number("interval_s", lo, hi, 10.0)


def _outbox(s: _Section) -> OutboxConfig:
    return OutboxConfig(
        path=s.path("path", "outbox.sqlite", writable_dir=True),
        capacity=s.integer("capacity", 1, 10_000_000, DEFAULT_CAPACITY),
        synchronous=s.string("synchronous", "normal", SYNCHRONOUS_MODES),
    )


def _mcu(s: _Section) -> McuConfig:
    return McuConfig(port=s.string("port"),
                     baudrate=s.integer("baudrate", 1200, 4_000_000, 115200))


def _emergency(s: _Section) -> EmergencyConfig:
    return EmergencyConfig(
        enabled=s.boolean("enabled", True),
        min_confidence=s.number("min_confidence", 0.0, 1.0, 0.5),
        salience_db=s.number("salience_db", 6.0, 40.0, 13.0),
        hold_s=s.number("hold_s", 0.0, 60.0, 2.0),
    )


SECTIONS = ("device", "mqtt", "audio", "telemetry", "outbox", "mcu", "emergency")


def config_from_dict(data: Mapping[str, Any], source: str, base_dir: Path) -> Config:
    """Validate an already-parsed TOML document (`source` names it in errors)."""
    root = _Section(source, "", data, base_dir)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: [{unknown[0]}]: unknown section "
                          f"(known sections: {', '.join(SECTIONS)})")

    def section(name: str) -> _Section:
        return _Section(source, name, data.get(name, {}), base_dir)

    if "device" not in data:
        raise ConfigError(f"{source}: [device]: missing (required, with thing = \"NAME\")")
    if "mqtt" not in data:
        raise ConfigError(f"{source}: [mqtt]: missing (required: host, ca, cert, key)")
    root.used.update(data)
    return Config(
        thing=_read(section("device"), _device),
        mqtt=_read(section("mqtt"), _mqtt),
        audio=_read(section("audio"), _audio),
        telemetry_interval_s=_read(section("telemetry"), _telemetry),
        outbox=_read(section("outbox"), _outbox),
        mcu=_read(section("mcu"), _mcu) if "mcu" in data else None,
        emergency=_read(section("emergency"), _emergency),
    )


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a device configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return config_from_dict(data, path.name, path.resolve().parent)


def from_local_stack(stack_dir: str | os.PathLike[str], thing: str,
                     cert_path: str | os.PathLike[str],
                     key_path: str | os.PathLike[str]) -> Config:
    """Configuration of device `thing` against the local stack in `stack_dir`.

    Broker endpoint and CA come from `stack_dir/env.json`; the device's certificate and
    key are given (e.g. from `anc-local cert THING --dir DIR`). The outbox lives under
    `stack_dir/edge/THING/`; audio uses the `sim` backend with the defaults.
    """
    stack = Path(stack_dir).resolve()
    env_path = stack / "env.json"
    try:
        env = json.loads(env_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{env_path}: cannot read: {exc.strerror} "
                          "(is the local stack up? `anc-local up`)") from None
    except ValueError as exc:
        raise ConfigError(f"{env_path}: invalid JSON: {exc}") from None
    if not isinstance(env, dict):
        raise ConfigError(f"{env_path}: expected a JSON object")
    missing = [k for k in ("mqtt_host", "mqtt_port", "ca_path") if k not in env]
    if missing:
        raise ConfigError(f"{env_path}: missing keys: {', '.join(missing)}")
    outbox_dir = stack / "edge" / thing
    if topics.THING_NAME_PATTERN.match(thing):
        outbox_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "device": {"thing": thing},
        "mqtt": {"host": env["mqtt_host"], "port": env["mqtt_port"], "ca": str(env["ca_path"]),
                 "cert": str(cert_path), "key": str(key_path)},
        "audio": {"backend": "sim"},
        "outbox": {"path": str(outbox_dir / "outbox.sqlite")},
    }
    return config_from_dict(document, env_path.name, stack)


__all__ = ["AUDIO_BACKENDS", "AlsaAudioConfig", "AudioConfig", "Config", "ConfigError",
           "EmergencyConfig", "McuConfig", "MqttConfig", "OutboxConfig", "SimAudioConfig",
           "WavAudioConfig", "config_from_dict", "from_local_stack", "load_config"]
