"""Device-shadow sync over the raw AWS shadow topics (classic shadow, ARCHITECTURE §4).

Protocol, as the device side of AWS IoT Device Shadow expects it:

1. After every (re)connect: subscribe to the get/update response topics *first*, then to
   `update/delta`, then publish `get` — so no answer and no delta can slip past.
2. `get/accepted` carries the whole `desired` section: every key is validated and applied
   (idempotent), then the device reports its full state. `get/rejected` 404 means no shadow
   yet: the device reports its state, which creates it.
3. `update/delta` carries only the keys where desired differs from reported. Deltas are
   ordered by the shadow `version`: one not newer than the last applied document is stale
   and ignored.
4. Each desired leaf (`anc.taps`, `safety.max_output_dbfs`, …) is validated on its own
   against `protocol/schemas/shadow-desired.schema.json`, so one bad value does not block
   the others. What is invalid or cannot be applied is reported under `reported.errors`
   as `{"anc.taps": "why"}`; an error is cleared (set to null) once the field is applied or
   no longer desired.
5. Malformed documents (bad JSON, wrong shapes) are counted and logged, never raised.

`ShadowSync` does no I/O of its own: the owner passes `publish` (MQTT, QoS 1), an `apply`
callback that applies validated leaves and returns errors for those it could not apply,
and a `reported` callback for the device's current state.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from protocol import schemas, topics

log = logging.getLogger(__name__)

SCHEMA = "shadow-desired"

Publish = Callable[[str, bytes], "Future[str]"]
Apply = Callable[[dict[str, Any]], dict[str, str]]
Reported = Callable[[], dict[str, Any]]


def flatten(state: Mapping[str, Any]) -> dict[str, Any]:
    """{"anc": {"taps": 128}} -> {"anc.taps": 128} (two levels, as in the desired schema)."""
    flat: dict[str, Any] = {}
    for section, settings in state.items():
        if isinstance(settings, Mapping):
            for key, value in settings.items():
                flat[f"{section}.{key}"] = value
        else:
            flat[section] = settings
    return flat


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of `flatten`."""
    state: dict[str, Any] = {}
    for path, value in flat.items():
        section, _, key = path.partition(".")
        if key:
            state.setdefault(section, {})[key] = value
        else:
            state[section] = value
    return state


def validate_desired(state: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Split a desired (or delta) state into valid leaves and errors, both keyed `section.key`.

    Null leaves (deleted keys) are skipped. Errors name what is wrong, e.g.
    `{"anc.taps": "5000 is greater than the maximum of 1024"}`.
    """
    if not isinstance(state, Mapping):
        return {}, {"desired": f"expected an object of settings, got {_kind(state)}"}
    properties = schemas.load(SCHEMA)["properties"]
    valid: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for section, settings in state.items():
        if section not in properties:
            errors[str(section)] = (f"unknown setting section; expected one of "
                                    f"{', '.join(properties)}")
            continue
        if settings is None:
            continue
        if not isinstance(settings, Mapping):
            errors[section] = f"expected an object of settings, got {_kind(settings)}"
            continue
        known = properties[section]["properties"]
        for key, value in settings.items():
            path = f"{section}.{key}"
            if value is None:
                continue
            if key not in known:
                errors[path] = f"unknown setting; expected one of {', '.join(known)}"
                continue
            problems = schemas.errors(SCHEMA, {section: {key: value}})
            if problems:
                errors[path] = "; ".join(p.split(": ", 1)[-1] for p in problems)
            else:
                valid[path] = value
    return valid, errors


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@dataclass
class ShadowStats:
    gets: int = 0
    deltas: int = 0
    stale_deltas: int = 0
    reports: int = 0
    malformed: int = 0
    rejected: int = 0
    last_rejection: str | None = None
    applied: dict[str, Any] = field(default_factory=dict)


class ShadowSync:
    """Keeps the classic shadow of `thing` and the device in step (see module docstring)."""

    def __init__(self, thing: str, *, publish: Publish, apply: Apply,
                 reported: Reported) -> None:
        self.thing = topics.check_thing_name(thing)
        self._publish = publish
        self._apply = apply
        self._reported = reported
        self._lock = threading.Lock()
        self.version = 0  # version of the newest desired document applied
        self.errors: dict[str, str] = {}  # field -> why, as last reported
        self.stats = ShadowStats()
        t = lambda op, resp: topics.shadow_topic(thing, op, resp)  # noqa: E731
        self.response_topics = [t("get", "accepted"), t("get", "rejected"),
                                t("update", "accepted"), t("update", "rejected")]
        self.delta_topic = t("update", "delta")
        self._get_topic = t("get", None)
        self._update_topic = t("update", None)

    # ---------------------------------------------------------------- connection

    def subscription_order(self) -> list[list[str]]:
        """Filters to subscribe to after each connect, batch by batch, in this order."""
        return [self.response_topics, [self.delta_topic]]

    def request_get(self) -> Future[str]:
        """Ask for the whole shadow (after every (re)connect)."""
        token = uuid.uuid4().hex
        return self._publish(self._get_topic, json.dumps({"clientToken": token}).encode())

    def owns(self, topic: str) -> bool:
        return topic == self.delta_topic or topic in self.response_topics

    # ------------------------------------------------------------------ incoming

    def handle(self, topic: str, payload: bytes) -> None:
        """Process one message on a shadow topic. Never raises."""
        try:
            document = json.loads(payload)
            if not isinstance(document, dict):
                raise ValueError(f"expected a JSON object, got {_kind(document)}")
            if topic == self.delta_topic:
                self._on_delta(document)
            elif topic.endswith("/get/accepted"):
                self._on_get(document)
            elif topic.endswith("/get/rejected"):
                self._on_get_rejected(document)
            elif topic.endswith("/update/rejected"):
                self._on_update_rejected(document)
        except (ValueError, TypeError, KeyError) as exc:
            self.stats.malformed += 1
            log.warning("shadow: ignored malformed message on %s: %s", topic, exc)
        except Exception:  # an apply callback failing must not take the control plane down
            self.stats.malformed += 1
            log.exception("shadow: error while handling %s", topic)

    def _on_get(self, document: dict[str, Any]) -> None:
        version = _version(document)
        state = document.get("state", {})
        if not isinstance(state, dict):
            raise ValueError(f"state: expected an object, got {_kind(state)}")
        desired = state.get("desired", {})
        with self._lock:
            self.stats.gets += 1
            self.version = max(self.version, version)
            valid, errors = validate_desired(desired if desired is not None else {})
            self._apply_and_report(valid, errors, full=True)

    def _on_get_rejected(self, document: dict[str, Any]) -> None:
        if document.get("code") == 404:  # no shadow yet: our report creates it
            with self._lock:
                self._apply_and_report({}, {}, full=True)
        else:
            self._note_rejection("get", document)

    def _on_delta(self, document: dict[str, Any]) -> None:
        version = _version(document)
        with self._lock:
            self.stats.deltas += 1
            if version <= self.version:
                self.stats.stale_deltas += 1
                log.info("shadow: stale delta version %d (have %d) ignored", version,
                         self.version)
                return
            self.version = version
            valid, errors = validate_desired(document.get("state"))
            self._apply_and_report(valid, errors, full=False)

    def _on_update_rejected(self, document: dict[str, Any]) -> None:
        self._note_rejection("update", document)

    def _note_rejection(self, operation: str, document: dict[str, Any]) -> None:
        self.stats.rejected += 1
        self.stats.last_rejection = (f"{operation} {document.get('code')}: "
                                     f"{document.get('message')}")
        log.warning("shadow: %s rejected: %s", operation, self.stats.last_rejection)

    # ----------------------------------------------------------------- outgoing

    def _apply_and_report(self, valid: dict[str, Any], errors: dict[str, str],
                          full: bool) -> None:
        failed = self._apply(valid) if valid else {}
        errors = {**errors, **failed}
        self.stats.applied.update({k: v for k, v in valid.items() if k not in failed})
        # Clear errors of fields now applied; on a full document also of fields no longer
        # desired at all.
        cleared = [k for k in self.errors
                   if k not in errors and (full or k in valid)]
        update: dict[str, Any] = {k: None for k in cleared}
        update.update(errors)
        for key in cleared:
            del self.errors[key]
        self.errors.update(errors)
        self.report(errors=update or None)

    def report_errors(self, errors: Mapping[str, str | None]) -> Future[str]:
        """Set (or, with None, clear) errors that did not come from a desired document."""
        with self._lock:
            for key, why in errors.items():
                if why is None:
                    self.errors.pop(key, None)
                else:
                    self.errors[key] = why
            return self.report(errors=dict(errors))

    def report(self, errors: Mapping[str, Any] | None = None,
               clear_desired: list[str] | None = None) -> Future[str]:
        """Publish the device's current state as `reported` (plus error changes).

        `clear_desired` deletes those desired leaves (e.g. "anc.mode" after the user chose a
        mode on the headset), so a later GET does not undo a local decision.
        """
        reported = self._reported()
        if errors:
            reported["errors"] = dict(errors)
        state: dict[str, Any] = {"reported": reported}
        if clear_desired:
            state["desired"] = nest({path: None for path in clear_desired})
        self.stats.reports += 1
        body = {"state": state, "clientToken": uuid.uuid4().hex}
        future = self._publish(self._update_topic, json.dumps(body).encode())
        future.add_done_callback(_log_failure)
        return future


def _log_failure(future: Future[str]) -> None:
    exc = future.exception()
    if exc is not None:
        log.info("shadow: update not delivered (%s); the next connect re-reports", exc)


def _version(document: Mapping[str, Any]) -> int:
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"version: expected a non-negative integer, got {version!r}")
    return version


__all__ = ["ShadowStats", "ShadowSync", "flatten", "nest", "validate_desired"]
