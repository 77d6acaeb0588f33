"""Local emergency-sound detection: sirens, alarms and horns (ARCHITECTURE §5).

Emergency classes switch the headset to transparency on the device, without a cloud round
trip. `EmergencyDetector` runs inside the audio loop on 32-sample blocks; `detect` and
`detect_file` analyse recordings offline with identical decisions.
"""

from edge_agent.emergency.detector import (
    DetectorSettings,
    EmergencyDetector,
    EmergencyEvent,
    detect,
    detect_stream,
)

__all__ = ["DetectorSettings", "EmergencyDetector", "EmergencyEvent", "detect", "detect_stream"]
