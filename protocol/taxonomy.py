"""Noise taxonomy (ARCHITECTURE §5). The classifier, the detectors and the alerting share it."""

from __future__ import annotations

AMBIENT_CLASSES: tuple[str, ...] = (
    "quiet", "speech", "babble", "traffic", "vehicle", "aircraft",
    "wind", "rain", "machinery", "office", "music",
)
# Emergency classes switch the headset to transparency locally and raise a cloud alert.
EMERGENCY_CLASSES: tuple[str, ...] = ("siren", "alarm", "horn")
ALL_CLASSES: tuple[str, ...] = AMBIENT_CLASSES + EMERGENCY_CLASSES


def is_emergency(noise_class: str) -> bool:
    if noise_class not in ALL_CLASSES:
        raise ValueError(f"unknown noise class {noise_class!r}; expected one of {ALL_CLASSES}")
    return noise_class in EMERGENCY_CLASSES
