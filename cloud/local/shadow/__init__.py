"""AWS-faithful Device Shadow service for the local IoT Core emulator (see README.md)."""

from cloud.local.shadow.document import ShadowRecord, UpdateOutcome, UpdateRequest
from cloud.local.shadow.emulator import ShadowEmulator
from cloud.local.shadow.errors import ShadowError
from cloud.local.shadow.service import ShadowService
from cloud.local.shadow.store import ShadowStore

__all__ = [
    "ShadowEmulator",
    "ShadowError",
    "ShadowRecord",
    "ShadowService",
    "ShadowStore",
    "UpdateOutcome",
    "UpdateRequest",
]
