"""Shadow documents: request parsing, merge, delta and metadata (pure; no I/O, no clock).

The rules follow the AWS IoT Device Shadow documentation:
- an update touches only the fields it names; `null` deletes a field, a `null` section
  (`"desired": null`) removes the section, `"state": null` empties the shadow;
- objects merge recursively, arrays are values (replaced whole, compared whole) and may not
  hold `null`;
- every leaf carries `{"timestamp": epoch-seconds}` in `metadata`, mirroring `state`;
- delta = the desired fields missing from, or different in, reported (recursing into objects);
- limits: desired+reported ≤ 8 KB (metadata excluded), ≤ 6 levels of nesting per section,
  clientToken ≤ 64 bytes.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from cloud.local.shadow import errors
from cloud.local.shadow.errors import ShadowError

MAX_STATE_BYTES = 8 * 1024
MAX_DEPTH = 6
MAX_CLIENT_TOKEN_BYTES = 64
# AWS IoT's MQTT message limit; larger requests are refused before parsing.
MAX_REQUEST_BYTES = 128 * 1024
SECTIONS = ("desired", "reported")

Json = Any
JsonObject = dict[str, Any]


@dataclass(frozen=True)
class ShadowRecord:
    """One stored shadow: `state` and `metadata` hold only non-empty sections."""

    state: JsonObject
    metadata: JsonObject
    version: int


@dataclass(frozen=True)
class UpdateRequest:
    """A validated `/update` request; `state` is None for `"state": null`."""

    state: JsonObject | None
    client_token: str | None
    version: int | None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def load_json(payload: bytes) -> Json:
    """Decode a request body as strict UTF-8 JSON (no NaN/Infinity) or raise ShadowError."""
    if len(payload) > MAX_REQUEST_BYTES:
        raise ShadowError(413, errors.PAYLOAD_TOO_LARGE,
                          detail=f"request is {len(payload)} bytes; limit {MAX_REQUEST_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ShadowError(415, errors.UNSUPPORTED_ENCODING, detail=str(exc)) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ShadowError(400, errors.TOO_DEEP) from None
    except ValueError as exc:
        raise ShadowError(400, errors.INVALID_JSON, detail=str(exc)) from None


def _client_token(doc: JsonObject) -> str | None:
    token = doc.get("clientToken")
    if token is None:
        return None
    if not isinstance(token, str):
        raise ShadowError(400, errors.INVALID_CLIENT_TOKEN, detail="clientToken must be a string")
    size = len(token.encode("utf-8"))
    if size > MAX_CLIENT_TOKEN_BYTES:
        raise ShadowError(400, errors.INVALID_CLIENT_TOKEN,
                          detail=f"clientToken is {size} bytes; limit {MAX_CLIENT_TOKEN_BYTES}")
    return token


def parse_token_only(payload: bytes) -> str | None:
    """The clientToken of a `/get` or `/delete` request; an empty body is allowed."""
    if not payload.strip():
        return None
    doc = load_json(payload)
    if not isinstance(doc, dict):
        raise ShadowError(400, errors.INVALID_JSON, detail="request must be a JSON object")
    return _client_token(doc)


def depth(value: Json, cap: int = MAX_DEPTH + 1) -> int:
    """Levels of nesting: a scalar is 0, `{"a": 1}` is 1, `{"a": {"b": 1}}` is 2.

    Stops counting at `cap`, so a hostile document cannot exhaust the stack."""
    if cap <= 0 or not isinstance(value, (dict, list)):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((depth(v, cap - 1) for v in children), default=0)


def _find_null_in_array(value: Json, path: str) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_null_in_array(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if item is None:
                return f"{path}[{index}]"
            found = _find_null_in_array(item, f"{path}[{index}]")
            if found:
                return found
    return None


def parse_update(payload: bytes) -> UpdateRequest:
    """Validate an `/update` body; errors echo the clientToken once it is known to be valid."""
    doc = load_json(payload)
    if not isinstance(doc, dict):
        raise ShadowError(400, errors.INVALID_JSON, detail="request must be a JSON object")
    token = _client_token(doc)
    try:
        return UpdateRequest(_parse_state(doc), token, _parse_version(doc))
    except ShadowError as exc:
        raise exc.with_client_token(token) from None


def _parse_version(doc: JsonObject) -> int | None:
    if "version" not in doc:
        return None
    version = doc["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ShadowError(400, errors.INVALID_VERSION,
                          detail=f"version must be a non-negative integer, got {version!r}")
    return version


def _parse_state(doc: JsonObject) -> JsonObject | None:
    if "state" not in doc:
        raise ShadowError(400, errors.MISSING_STATE)
    state = doc["state"]
    if state is None:
        return None
    if not isinstance(state, dict):
        raise ShadowError(400, errors.STATE_NOT_OBJECT)
    unknown = sorted(set(state) - set(SECTIONS))
    if unknown:
        raise ShadowError(400, errors.INVALID_NODE,
                          detail=f"unexpected {unknown[0]!r}; only desired and reported")
    for section, message in (("desired", errors.DESIRED_NOT_OBJECT),
                             ("reported", errors.REPORTED_NOT_OBJECT)):
        if section not in state or state[section] is None:
            continue
        value = state[section]
        if not isinstance(value, dict):
            raise ShadowError(400, message)
        levels = depth(value)
        if levels > MAX_DEPTH:
            raise ShadowError(400, errors.TOO_DEEP, detail=f"{section} has {levels} levels")
        null_at = _find_null_in_array(value, section)
        if null_at:
            raise ShadowError(400, errors.INVALID_NODE,
                              detail=f"arrays can't hold null ({null_at})")
    return state


# --- merging and metadata -------------------------------------------------------------

def leaf_metadata(value: Json, now: int) -> Json:
    """Metadata mirroring `value`: objects recurse, every other value gets a timestamp."""
    if isinstance(value, dict) and value:
        return {key: leaf_metadata(item, now) for key, item in value.items()}
    return {"timestamp": now}


def _merge(target: JsonObject, meta: JsonObject, patch: JsonObject, now: int) -> None:
    """Apply `patch` to `target` (and its metadata `meta`) in place; drop emptied objects."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
            meta.pop(key, None)
        elif isinstance(value, dict):
            if not isinstance(target.get(key), dict):
                target[key] = {}
                meta[key] = {}
            _merge(target[key], meta.setdefault(key, {}), value, now)
            if not target[key]:
                del target[key]
                meta.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
            meta[key] = {"timestamp": now}


def state_size(state: JsonObject) -> int:
    """Bytes of desired+reported as compact JSON: what the 8 KB limit measures."""
    return len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


# --- delta ----------------------------------------------------------------------------

_MISSING = object()


def json_equal(a: Json, b: Json) -> bool:
    """JSON equality: `true` differs from `1`; `1` equals `1.0`; arrays compare whole."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def delta(desired: JsonObject, reported: JsonObject) -> JsonObject:
    """Desired fields missing from or different in reported, recursing into objects."""
    out: JsonObject = {}
    for key, want in desired.items():
        have = reported.get(key, _MISSING)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = delta(want, have)
            if sub:
                out[key] = sub
        elif have is _MISSING or not json_equal(want, have):
            out[key] = copy.deepcopy(want)
    return out


def metadata_for(shape: JsonObject, metadata: JsonObject) -> JsonObject:
    """The part of `metadata` that covers the fields present in `shape`."""
    out: JsonObject = {}
    for key, value in shape.items():
        meta = metadata.get(key)
        if meta is None:
            continue
        if isinstance(value, dict) and value:
            out[key] = metadata_for(value, meta)
        else:
            out[key] = meta
    return out


def shadow_delta(record: ShadowRecord) -> JsonObject:
    return delta(record.state.get("desired", {}), record.state.get("reported", {}))


# --- operations -----------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateOutcome:
    """What an accepted update produces: the new record and the three response documents."""

    record: ShadowRecord
    accepted: JsonObject
    documents: JsonObject
    delta: JsonObject | None


def _with_token(doc: JsonObject, token: str | None) -> JsonObject:
    if token is not None:
        doc["clientToken"] = token
    return doc


def apply_update(current: ShadowRecord | None, request: UpdateRequest, now: int,
                 retained_version: int = 0) -> UpdateOutcome:
    """Apply `request` to `current` (None: no shadow; `retained_version` is the version a
    recently deleted shadow reached, so a re-created one continues from it)."""
    token = request.client_token
    base_version = current.version if current is not None else retained_version
    if request.version is not None and request.version != base_version:
        raise ShadowError(409, errors.VERSION_CONFLICT, token,
                          detail=f"request has version {request.version}, "
                                 f"shadow is at {base_version}")

    state = copy.deepcopy(current.state) if current else {}
    metadata = copy.deepcopy(current.metadata) if current else {}
    patch = request.state
    if patch is None:
        state, metadata = {}, {}
    else:
        for section in SECTIONS:
            if section not in patch:
                continue
            if patch[section] is None:
                state.pop(section, None)
                metadata.pop(section, None)
                continue
            section_state = state.setdefault(section, {})
            section_meta = metadata.setdefault(section, {})
            _merge(section_state, section_meta, patch[section], now)
            if not section_state:
                del state[section]
                metadata.pop(section, None)

    size = state_size(state)
    if size > MAX_STATE_BYTES:
        raise ShadowError(413, errors.PAYLOAD_TOO_LARGE, token,
                          detail=f"desired+reported would be {size} bytes; limit {MAX_STATE_BYTES}")

    record = ShadowRecord(state, metadata, base_version + 1)
    accepted = _with_token({
        "state": copy.deepcopy(patch),
        "metadata": leaf_metadata(patch, now) if patch is not None else {},
        "version": record.version,
        "timestamp": now,
    }, token)

    documents: JsonObject = {}
    if current is not None:
        documents["previous"] = snapshot(current)
    documents["current"] = snapshot(record)
    documents["timestamp"] = now
    _with_token(documents, token)

    delta_doc = None
    if patch is not None and isinstance(patch.get("desired"), dict):
        diff = shadow_delta(record)
        if diff:
            delta_doc = _with_token({
                "version": record.version,
                "timestamp": now,
                "state": diff,
                "metadata": metadata_for(diff, metadata.get("desired", {})),
            }, token)
    return UpdateOutcome(record, accepted, documents, delta_doc)


def snapshot(record: ShadowRecord) -> JsonObject:
    """`{"state", "metadata", "version"}` as carried by `/update/documents`."""
    return {"state": copy.deepcopy(record.state), "metadata": copy.deepcopy(record.metadata),
            "version": record.version}


def get_response(record: ShadowRecord, now: int, token: str | None) -> JsonObject:
    """The `/get/accepted` document: full state with `delta` when desired ≠ reported."""
    state = copy.deepcopy(record.state)
    diff = shadow_delta(record)
    if diff:
        state["delta"] = diff
    return _with_token({
        "state": state,
        "metadata": copy.deepcopy(record.metadata),
        "version": record.version,
        "timestamp": now,
    }, token)


def delete_response(record: ShadowRecord, now: int, token: str | None) -> JsonObject:
    """The abbreviated `/delete/accepted` document."""
    return _with_token({"version": record.version, "timestamp": now}, token)
