"""MQTT topic names (ARCHITECTURE §4). Every part builds topic strings here and nowhere else."""

from __future__ import annotations

import re

THING_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PREFIX = "anc/v1"

# Device → cloud channels under anc/v1/{thing}/, and the QoS each uses.
TELEMETRY = "telemetry"
FEATURES = "features"
EVENTS = "events"
ADAPT_REQUEST = "adapt/request"
ADAPT_RESULT = "adapt/result"  # cloud → device
DEVICE_CHANNELS = (TELEMETRY, FEATURES, EVENTS, ADAPT_REQUEST, ADAPT_RESULT)
QOS = 1

SHADOW_OPERATIONS = ("update", "get", "delete")
SHADOW_RESPONSES = ("accepted", "rejected")


class TopicError(ValueError):
    """A thing name or topic that does not follow the topic contract."""


def check_thing_name(thing: str) -> str:
    """Return `thing` unchanged if it is a valid thing name, else raise TopicError."""
    if not isinstance(thing, str) or not THING_NAME_PATTERN.match(thing):
        raise TopicError(f"thing name {thing!r} must match {THING_NAME_PATTERN.pattern}")
    return thing


def device_topic(thing: str, channel: str) -> str:
    """`anc/v1/{thing}/{channel}` for one of DEVICE_CHANNELS."""
    if channel not in DEVICE_CHANNELS:
        raise TopicError(f"unknown device channel {channel!r}; expected one of {DEVICE_CHANNELS}")
    return f"{PREFIX}/{check_thing_name(thing)}/{channel}"


def device_filter(channel: str, thing: str = "+") -> str:
    """Subscription filter for a channel across all things (`+`) or one thing."""
    if channel not in DEVICE_CHANNELS:
        raise TopicError(f"unknown device channel {channel!r}; expected one of {DEVICE_CHANNELS}")
    if thing != "+":
        check_thing_name(thing)
    return f"{PREFIX}/{thing}/{channel}"


def parse_device_topic(topic: str) -> tuple[str, str]:
    """Split `anc/v1/{thing}/{channel}` into (thing, channel); raise TopicError otherwise."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != PREFIX:
        raise TopicError(f"topic {topic!r} is not under {PREFIX}/{{thing}}/")
    thing, channel = parts[2], "/".join(parts[3:])
    check_thing_name(thing)
    if channel not in DEVICE_CHANNELS:
        raise TopicError(f"topic {topic!r} has unknown channel {channel!r}")
    return thing, channel


def shadow_prefix(thing: str, shadow_name: str | None = None) -> str:
    """`$aws/things/{thing}/shadow` (classic) or `.../shadow/name/{name}` (named)."""
    base = f"$aws/things/{check_thing_name(thing)}/shadow"
    if shadow_name is None:
        return base
    if not THING_NAME_PATTERN.match(shadow_name):
        raise TopicError(f"shadow name {shadow_name!r} must match {THING_NAME_PATTERN.pattern}")
    return f"{base}/name/{shadow_name}"


def shadow_topic(thing: str, operation: str, response: str | None = None,
                 shadow_name: str | None = None) -> str:
    """Shadow request topic (`.../update`) or response topic (`.../update/accepted`).

    `operation` is update/get/delete; `response` is accepted/rejected, or for update also
    `delta` and `documents`.
    """
    if operation not in SHADOW_OPERATIONS:
        raise TopicError(f"unknown shadow operation {operation!r}")
    topic = f"{shadow_prefix(thing, shadow_name)}/{operation}"
    if response is None:
        return topic
    allowed = SHADOW_RESPONSES + (("delta", "documents") if operation == "update" else ())
    if response not in allowed:
        raise TopicError(f"shadow {operation} has no {response!r} topic; expected one of {allowed}")
    return f"{topic}/{response}"
