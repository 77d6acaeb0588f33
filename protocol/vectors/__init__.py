"""Test vectors shared by the host side (CPython) and the firmware (MicroPython)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LINK_FRAMES = Path(__file__).with_name("link_frames.json")


def load_link_frames() -> dict[str, Any]:
    """The link-frame vectors: crc, cobs, valid frames and malformed input with expected replies."""
    with LINK_FRAMES.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data
