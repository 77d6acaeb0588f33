"""The edge agent: configuration → audio engine → MCU link → MQTT, shadow, telemetry, adaptation.

    code = run_agent(load_config("device.toml"))      # until SIGTERM/SIGINT or stop_event

Threads and who may block:
- the audio loop (inside the engine) never waits on anything here: the agent talks to it only
  through `engine.request(change)` (a bounded queue) and `engine.stats()` (a snapshot);
- the SDK's event-loop thread only hands messages and connection changes to `_inbox`;
- the outbox publisher thread drains the durable outbox to MQTT;
- the control thread (the caller of `run_agent`) does everything else: subscribes and
  re-GETs the shadow after each connect, applies desired changes, turns engine and MCU events
  into events and reports, writes telemetry every interval and a status file every second.

Emergencies: the engine switches to transparency by itself within its loop (no network in
the path) and returns to the user's mode when the sound has ended; the agent tells the MCU
(`MODE_CHANGED`, source safety), sends `emergency_detected` / `emergency_ended` events and
reports the state in the shadow.

On SIGTERM the agent stops taking new work, writes a last telemetry message, flushes the
outbox while the broker is reachable (bounded by `flush_timeout_s`), disconnects cleanly and
closes the outbox; whatever could not be sent stays in the outbox for the next start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import protocol
from edge_agent.adapt import AdaptClient, FilterUpdate, Rejection
from edge_agent.audio import api as audio
from edge_agent.config import Config
from edge_agent.mqtt import CredentialsError, MqttConnection, MqttError
from edge_agent.outbox import Outbox, OutboxLockedError
from edge_agent.shadow import ShadowSync
from edge_agent.telemetry import Channel, OutboxPublisher, TelemetrySample

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
STATUS_FILE = "status.json"
FEATURES_VERSION = int(json.loads(
    (Path(protocol.__file__).parent / "features.json").read_text())["version"])
STATUS_PERIOD_S = 1.0
APPLY_CONFIRM_S = 0.5
EXIT_OK, EXIT_AUDIO_FAILED, EXIT_ERROR = 0, 1, 2

Progress = Callable[[str], None]


class AgentError(RuntimeError):
    """The agent cannot start (the message says what to fix)."""


def status_path(config: Config) -> Path:
    """Where the agent of `config` writes its status (next to the outbox)."""
    return config.outbox.path.parent / STATUS_FILE


def read_status(config: Config) -> dict[str, Any]:
    """The last status the agent of `config` wrote, with `running` checked against its pid."""
    path = status_path(config)
    try:
        status: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return {"thing": config.thing, "running": False,
                "error": f"no status at {path}: the agent has not run with this configuration"}
    except (OSError, ValueError) as exc:
        return {"thing": config.thing, "running": False, "error": f"cannot read {path}: {exc}"}
    pid = status.get("pid")
    alive = isinstance(pid, int) and _pid_alive(pid)
    status["running"] = bool(status.get("running")) and alive
    status["age_s"] = round(time.time() - float(status.get("updated", 0)), 1)
    return status


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Agent:
    """One headset's agent; `run()` blocks until `stop_event` is set."""

    def __init__(self, config: Config, *, stop_event: threading.Event | None = None,
                 progress: Progress | None = None, engine: audio.AudioEngine | None = None,
                 flush_timeout_s: float = 5.0) -> None:
        self.config = config
        self.stop_event = stop_event or threading.Event()
        self.progress = progress or (lambda _msg: None)
        self.flush_timeout_s = flush_timeout_s
        self.interval_s = config.telemetry_interval_s
        self.safety: dict[str, Any] = {"emergency_transparency": config.emergency.enabled}
        self.controller = {"mu": config.audio.mu, "leak": config.audio.leak}
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._wanted_filter: int | None = None
        self._requested_filter: int | None = None
        self._emergency: audio.AudioEvent | None = None
        self._last_counts = (0, 0)  # deadline misses, divergence resets at last telemetry

        self.outbox = Outbox(config.outbox.path, config.outbox.capacity,
                             config.outbox.synchronous)  # type: ignore[arg-type]
        try:
            self.mqtt = MqttConnection(
                config.mqtt, config.thing, on_message=self._on_message,
                on_connected=lambda: self._inbox.put(("connected", None)),
                on_disconnected=lambda: self._inbox.put(("disconnected", None)),
                min_reconnect_ms=int(config.mqtt.reconnect_min_s * 1000),
                max_reconnect_ms=int(config.mqtt.reconnect_max_s * 1000))
        except BaseException:
            self.outbox.close()
            raise
        try:
            self._build(config, engine)
        except BaseException:
            self.outbox.close()
            raise

    def _build(self, config: Config, engine: audio.AudioEngine | None) -> None:
        self.publisher = OutboxPublisher(self.outbox, self.mqtt)
        self.channel = Channel(config.thing, self.outbox, self.publisher)
        self.shadow = ShadowSync(config.thing, publish=self.mqtt.publish,
                                 apply=self._apply_desired, reported=self._reported)
        self.adapt = AdaptClient(config.thing, load_filter=self._load_filter,
                                 current_version=lambda: self.engine.stats().filter_version)
        self.engine = engine if engine is not None else audio.create_engine(
            config.audio, config.emergency)
        self.mcu: Any = None
        if config.mcu is not None:
            from edge_agent.mcu import McuLink

            self.mcu = McuLink(config.mcu.port, config.mcu.baudrate)

    # ------------------------------------------------------------------ running

    def run(self) -> int:
        """Run until `stop_event` or the end of the audio input; 0 after a clean stop,
        1 if the audio loop died of an error."""
        try:
            self.engine.start()
        except (RuntimeError, ValueError) as exc:
            self.outbox.close()
            raise AgentError(f"audio ({self.config.audio.backend}): {exc}") from None
        code = EXIT_OK
        if self.mcu is not None:
            self.mcu.start()
        self.publisher.start()
        self.mqtt.start()
        self.progress(f"{self.config.thing}: audio running ({self.config.audio.backend}), "
                      f"connecting to {self.config.mqtt.host}:{self.config.mqtt.port}")
        next_telemetry = time.monotonic() + self.interval_s
        next_status = 0.0
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                timeout = max(0.0, min(next_telemetry, next_status, now + 0.05) - now)
                with contextlib.suppress(queue.Empty):
                    self._dispatch(*self._inbox.get(timeout=timeout))
                self._drain_engine_events()
                self._drain_mcu_events()
                self._maybe_request_filter()
                now = time.monotonic()
                if now >= next_telemetry:
                    self._send_telemetry()
                    next_telemetry = max(next_telemetry + self.interval_s, now)
                if now >= next_status:
                    self._write_status(running=True)
                    next_status = now + STATUS_PERIOD_S
                    if not self.engine.running:
                        error = getattr(self.engine, "error", lambda: None)()
                        self.progress(f"{self.config.thing}: the audio loop stopped: "
                                      + (error or "its input ended"))
                        code = EXIT_AUDIO_FAILED if error else EXIT_OK
                        break
        finally:
            self._shutdown()
        return code

    def _shutdown(self) -> None:
        self.progress(f"{self.config.thing}: stopping")
        try:
            self._send_telemetry()
        except Exception:
            log.exception("final telemetry failed")
        flushed = self.publisher.flush(self.flush_timeout_s) if self.mqtt.connected.is_set() \
            else len(self.outbox) == 0
        self.publisher.stop()
        self.mqtt.stop()
        self.engine.stop()
        if self.mcu is not None:
            self.mcu.stop()
        self._write_status(running=False)
        pending = len(self.outbox)
        self.outbox.close()
        self.progress(f"{self.config.thing}: stopped; outbox "
                      f"{'flushed' if flushed else f'keeps {pending} message(s) for next start'}")

    # ------------------------------------------------------------------ inbox

    def _on_message(self, topic: str, payload: bytes) -> None:
        """SDK thread: hand over only."""
        self._inbox.put(("message", (topic, payload)))

    def _dispatch(self, kind: str, data: Any) -> None:
        if kind == "connected":
            self._on_connected()
        elif kind == "disconnected":
            self.progress(f"{self.config.thing}: disconnected ({self.mqtt.last_error})")
        elif kind == "message":
            topic, payload = data
            if self.shadow.owns(topic):
                self.shadow.handle(topic, payload)
            elif topic == self.adapt.result_topic:
                self._on_adapt_result(payload)

    def _on_connected(self) -> None:
        try:
            for batch in self.shadow.subscription_order():
                self.mqtt.subscribe(batch)
            self.mqtt.subscribe([self.adapt.result_topic])
            self.shadow.request_get()
        except MqttError as exc:  # lost again; the next connect retries
            log.warning("after connect: %s", exc)
            return
        self.publisher.wake()
        self.progress(f"{self.config.thing}: connected (connection {self.mqtt.connections}), "
                      f"{len(self.outbox)} message(s) waiting")

    # ----------------------------------------------------------- desired state

    def _apply_desired(self, changes: dict[str, Any]) -> dict[str, str]:
        """Apply validated desired leaves; return {field: why} for those not applied."""
        errors: dict[str, str] = {}
        expect: dict[str, Any] = {}  # stats attribute -> value the loop must show

        def send(fields: list[str], change: audio.Change) -> bool:
            try:
                accepted = self.engine.request(change)
            except ValueError as exc:
                errors.update({f: str(exc) for f in fields})
                return False
            if not accepted:
                errors.update({f: "audio engine busy (change queue full); will retry on the "
                                  "next shadow update" for f in fields})
            return accepted

        if "anc.mode" in changes and send(["anc.mode"], audio.SetMode(changes["anc.mode"])):
            expect["user_mode"] = changes["anc.mode"]
            self._mcu_set_mode(changes["anc.mode"])
            self.channel.event("mode_changed", mode=changes["anc.mode"], source="shadow")
        ctl = {k.split(".")[1]: v for k, v in changes.items()
               if k in ("anc.algorithm", "anc.taps", "anc.mu", "anc.leak")}
        if ctl:
            fields = [f"anc.{k}" for k in ctl]
            try:
                change = audio.SetController(**ctl)
            except ValueError as exc:
                errors.update({f: str(exc) for f in fields})
            else:
                if send(fields, change):
                    expect.update({k: v for k, v in ctl.items() if k in ("algorithm", "taps")})
                    self.controller.update({k: v for k, v in ctl.items() if k in ("mu", "leak")})
        safety = {k.split(".")[1]: v for k, v in changes.items() if k.startswith("safety.")}
        if safety and send([f"safety.{k}" for k in safety], audio.SetSafety(**safety)):
            self.safety.update(safety)
        if "telemetry.interval_s" in changes:
            self.interval_s = float(changes["telemetry.interval_s"])
        if "filter.version" in changes:
            problem = self._want_filter(int(changes["filter.version"]))
            if problem:
                errors["filter.version"] = problem
        if expect and not self._confirm(expect):
            stats = self.engine.stats()
            for attr, value in expect.items():
                if getattr(stats, attr) != value:
                    field = "anc.mode" if attr == "user_mode" else f"anc.{attr}"
                    errors[field] = (f"the audio loop did not apply {value!r} within "
                                     f"{APPLY_CONFIRM_S * 1000:.0f} ms (it runs "
                                     f"{getattr(stats, attr)!r})")
        for key in changes:
            if key not in errors:
                self.progress(f"{self.config.thing}: applied {key} = {changes[key]!r}")
        return errors

    def _confirm(self, expect: dict[str, Any]) -> bool:
        """Wait (briefly) until the loop's statistics show every expected value."""
        deadline = time.monotonic() + APPLY_CONFIRM_S
        while True:
            stats = self.engine.stats()
            if all(getattr(stats, k) == v for k, v in expect.items()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)

    def _reported(self) -> dict[str, Any]:
        stats = self.engine.stats()
        reported: dict[str, Any] = {
            "anc": {"mode": stats.user_mode, "algorithm": stats.algorithm, "taps": stats.taps,
                    **self.controller},
            "telemetry": {"interval_s": self.interval_s},
            "safety": dict(self.safety),
            "filter": {"version": stats.filter_version},
            "device": self._device_state(),
            "status": {
                "mode": stats.mode,
                "attenuation_db": None if stats.attenuation_db is None
                else round(stats.attenuation_db, 2),
                "emergency": stats.emergency.cls if stats.emergency.active else None,
                "deadline_misses": stats.deadline_misses,
            },
        }
        return reported

    def _device_state(self) -> dict[str, Any]:
        device: dict[str, Any] = {"agent_version": AGENT_VERSION}
        if self.mcu is not None:
            from edge_agent.mcu import state_for_shadow

            device.update(state_for_shadow(self.mcu.state()))
        return device

    # ----------------------------------------------------------------- filters

    def _want_filter(self, version: int) -> str | None:
        current = self.engine.stats().filter_version
        if version == current:
            self._wanted_filter = None
            return None
        if version < current:
            return (f"version {version} is older than the running filter {current}; "
                    "filters are never downgraded")
        self._wanted_filter = version
        return None

    def _maybe_request_filter(self) -> None:
        if self._wanted_filter is None or self._requested_filter == self._wanted_filter:
            return
        statistics = self.engine.adaptation_statistics()
        if statistics is None:
            return
        try:
            body = self.adapt.request_body(statistics, algorithm=self.engine.stats().algorithm)
        except ValueError as exc:
            log.warning("adapt request not sent: %s", exc)
            return
        self.channel.adapt_request(body)
        self._requested_filter = self._wanted_filter
        self.progress(f"{self.config.thing}: requested filter {self._wanted_filter} "
                      f"({body['statistics']['samples']} samples of statistics)")

    def request_adaptation(self) -> None:
        """Ask the cloud for a filter newer than the running one."""
        self._want_filter(self.engine.stats().filter_version + 1)
        self._requested_filter = None

    def _load_filter(self, update: FilterUpdate) -> str | None:
        try:
            change = audio.LoadFilter.from_array(update.version, update.coefficients)
            if not self.engine.request(change):
                return "audio engine busy (change queue full)"
        except ValueError as exc:
            return str(exc)
        if not self._confirm({"filter_version": update.version}):
            return f"the audio loop did not load filter {update.version} in time"
        return None

    def _on_adapt_result(self, payload: bytes) -> None:
        outcome = self.adapt.handle_result(payload)
        if isinstance(outcome, Rejection):
            self.progress(f"{self.config.thing}: rejected filter {outcome.version}: "
                          f"{outcome.reason}")
            self.channel.event("filter_rejected", version=outcome.version,
                               reason=outcome.reason)
            self.shadow.report_errors({"filter.version":
                                       f"adapt result {outcome.version}: {outcome.reason}"})
        else:
            self.progress(f"{self.config.thing}: loaded filter {outcome.version}")
            if self._wanted_filter is not None and outcome.version >= self._wanted_filter:
                self._wanted_filter = None
            self.channel.event("filter_loaded", version=outcome.version,
                               request_id=outcome.request_id)
            self.shadow.report_errors({"filter.version": None})

    # ------------------------------------------------------ engine and MCU events

    def _drain_engine_events(self) -> None:
        while True:
            try:
                event = self.engine.events.get_nowait()
            except queue.Empty:
                return
            self._on_audio_event(event)

    def _on_audio_event(self, event: audio.AudioEvent) -> None:
        body: dict[str, Any] = dict(event.as_dict())
        body.pop("kind")
        if event.kind == "emergency_started":
            self._emergency = event
            # the analysis stage reports a start once the loop has switched (analysis.py)
            switched = self.engine.stats().emergency.switched_s
            if switched is not None:
                body["switched_s"] = round(switched, 3)
            self.progress(f"{self.config.thing}: EMERGENCY {event.cls} "
                          f"(confidence {event.confidence:.2f}) -> transparency")
            self._mcu_set_mode("transparency", source="safety")
            self.channel.event("emergency_detected", **body)
        else:
            self._emergency = None
            self.progress(f"{self.config.thing}: emergency over -> {event.previous_mode}")
            self._mcu_set_mode(event.previous_mode, source="safety")
            self.channel.event("emergency_ended", **body)
        self.channel.event("mode_changed", source="safety",
                           mode="transparency" if event.kind == "emergency_started"
                           else event.previous_mode)
        self.shadow.report()

    def _mcu_set_mode(self, mode: str, source: str = "host") -> None:
        if self.mcu is None:
            return
        try:
            if source == "safety":
                self.mcu.notify_mode(mode, source="safety")
            else:
                self.mcu.set_mode(mode)
        except Exception as exc:  # the link reconnects by itself; never stop the agent
            log.warning("MCU set_mode(%s) failed: %s", mode, exc)

    def _drain_mcu_events(self) -> None:
        if self.mcu is None:
            return
        while True:
            try:
                event = self.mcu.events.get_nowait()
            except queue.Empty:
                return
            if event.kind == "mode_changed" and event.data.get("source") == "button":
                mode = event.data.get("mode")
                if mode in audio.MODES and self.engine.request(audio.SetMode(mode)):
                    self._confirm({"user_mode": mode})
                    self.channel.event("mode_changed", mode=mode, source="button")
                    self.progress(f"{self.config.thing}: button -> {mode}")
                    # The user overrides the cloud: drop desired.anc.mode so a later GET
                    # does not undo the button press.
                    self.shadow.report(clear_desired=["anc.mode"])
            elif event.kind == "connected":
                # A (re)started MCU knows nothing: tell it the mode the headset runs.
                self._mcu_set_mode(self.engine.stats().mode)
                self.shadow.report()
            elif event.kind in ("disconnected", "status"):
                self.shadow.report()

    # --------------------------------------------------------------- telemetry

    def _send_telemetry(self) -> None:
        stats = self.engine.stats()
        misses, resets = stats.deadline_misses, stats.divergence_resets
        level = _feature(stats, "level_dbfs")
        sample = TelemetrySample(
            mode=stats.mode, algorithm=stats.algorithm, interval_s=self.interval_s,
            noise_level_dbfs=level,
            attenuation_db=None if stats.attenuation_db is None
            else {"broadband": stats.attenuation_db},
            block_time_us={"mean": stats.block_time_mean_us, "p50": stats.block_time_p50_us,
                           "p99": stats.block_time_p99_us, "p999": stats.block_time_p999_us,
                           "max": stats.block_time_max_us, "budget": stats.budget_us},
            deadline_misses=max(0, misses - self._last_counts[0]),
            filter_resets=max(0, resets - self._last_counts[1]),
            filter_version=stats.filter_version,
            **self._battery(),
        )
        self.channel.telemetry(sample)
        self._last_counts = (misses, resets)
        if stats.features is not None:
            self.channel.features([list(stats.features)], FEATURES_VERSION)

    def _battery(self) -> dict[str, Any]:
        if self.mcu is None:
            return {}
        state = self.mcu.state()
        found: dict[str, Any] = {}
        if getattr(state, "battery_pct", None) is not None:
            found["battery_percent"] = int(state.battery_pct)
            if getattr(state, "battery_mv", None) is not None:
                found["battery_mv"] = int(state.battery_mv)
            if getattr(state, "battery_state", None) is not None:
                found["charging"] = state.battery_state == "charging"
        if getattr(state, "worn", None) is not None:
            found["worn"] = bool(state.worn)
        return found

    # ------------------------------------------------------------------ status

    def status(self, running: bool) -> dict[str, Any]:
        stats = self.engine.stats()
        return {
            "thing": self.config.thing, "pid": os.getpid(), "running": running,
            "updated": round(time.time(), 3), "agent_version": AGENT_VERSION,
            "connected": self.mqtt.connected.is_set(), "connections": self.mqtt.connections,
            "last_error": self.mqtt.last_error,
            "mode": stats.mode, "user_mode": stats.user_mode, "algorithm": stats.algorithm,
            "taps": stats.taps, "filter_version": stats.filter_version,
            "attenuation_db": stats.attenuation_db,
            "emergency": stats.emergency.cls if stats.emergency.active else None,
            "audio": {"blocks": stats.blocks, "deadline_misses": stats.deadline_misses,
                      "block_time_p99_us": round(stats.block_time_p99_us, 1),
                      "budget_us": round(stats.budget_us, 1)},
            "outbox": {"pending": len(self.outbox), "last_seq": self.outbox.last_seq,
                       "dropped": self.outbox.dropped,
                       "published": self.publisher.stats.published,
                       "rejected": self.publisher.stats.rejected,
                       "unconsumed_retries": self.publisher.stats.unconsumed,
                       "publish_failures": self.publisher.stats.failures},
            "shadow": {"version": self.shadow.version, "errors": dict(self.shadow.errors),
                       "malformed": self.shadow.stats.malformed},
            "telemetry_interval_s": self.interval_s,
        }

    def _write_status(self, running: bool) -> None:
        path = status_path(self.config)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.status(running), indent=1))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)


def _feature(stats: audio.AudioStats, name: str) -> float | None:
    """One value of the latest noise feature vector, by its protocol/features.json name."""
    if stats.features is None or name not in stats.feature_names:
        return None
    value = float(stats.features[stats.feature_names.index(name)])
    return value if math.isfinite(value) else None


def run_agent(config: Config, *, stop_event: threading.Event | None = None,
              progress: Progress | None = None) -> int:
    """Run the agent of `config` until SIGTERM/SIGINT or `stop_event`; return the exit code.

    Problems that stop it from starting (unusable certificates, an outbox held by another
    agent, an audio backend that cannot start) are printed as one clear line on stderr and
    give exit code 2; exit code 1 means the audio loop died while running.
    """
    stop_event = stop_event or threading.Event()
    try:
        agent = Agent(config, stop_event=stop_event, progress=progress)
    except (CredentialsError, OutboxLockedError, ValueError, RuntimeError) as exc:
        print(f"anc-edge: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop_event.set())
    try:
        return agent.run()
    except AgentError as exc:
        print(f"anc-edge: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["Agent", "AgentError", "read_status", "run_agent", "status_path"]
