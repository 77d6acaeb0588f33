"""The edge agent's audio plane: the real-time block loop through the C core.

`create_engine(config.audio, config.emergency)` gives an `AudioEngine` (api.py); the
design, and why the real-time loop runs in its own process, is in README.md.
"""

from edge_agent.audio.api import (
    AdaptationStatistics,
    AudioEngine,
    AudioEvent,
    AudioStats,
    Change,
    DeadlineMiss,
    EmergencyOverride,
    EmergencyState,
    InjectSound,
    LoadFilter,
    SetController,
    SetMode,
    SetSafety,
    create_engine,
)

__all__ = ["AdaptationStatistics", "AudioEngine", "AudioEvent", "AudioStats", "Change",
           "DeadlineMiss", "EmergencyOverride", "EmergencyState", "InjectSound", "LoadFilter",
           "SetController", "SetMode", "SetSafety", "create_engine"]
