# Status LED: 16-step on/off patterns played by a periodic timer, and the rule that picks
# what the LED shows (error > critical battery > link lost > low battery > mode).
import battery
import proto

STEP_MS = 100  # one pattern step; a pattern repeats every 1.6 s

# Pattern bits, most significant first, indexed by the proto.LED_* value.
PATTERNS = (
    0x0000,  # AUTO (never played directly)
    0x0000,  # OFF
    0xFFFF,  # ON
    0xFF00,  # SLOW_BLINK
    0xAAAA,  # FAST_BLINK
    0xA000,  # DOUBLE_BLINK
    0x8000,  # HEARTBEAT
    0xCC00,  # LOW_BATTERY
    0xF0F0,  # ERROR
)
PATTERN_NAMES = (
    "auto", "off", "on", "slow_blink", "fast_blink", "double_blink", "heartbeat",
    "low_battery", "error",
)
MODE_PATTERNS = (proto.LED_OFF, proto.LED_ON, proto.LED_SLOW_BLINK, proto.LED_DOUBLE_BLINK)


def choose(mode, battery_level, link_lost, error):
    """The pattern for the device state (used while the host has not set one)."""
    if error:
        return proto.LED_ERROR
    if battery_level == battery.LEVEL_CRITICAL:
        return proto.LED_FAST_BLINK
    if link_lost:
        return proto.LED_HEARTBEAT
    if battery_level == battery.LEVEL_LOW:
        return proto.LED_LOW_BATTERY
    return MODE_PATTERNS[mode]


class LedDriver:
    def __init__(self, pin):
        self.pin = pin
        self.pattern = proto.LED_OFF
        self._bits = PATTERNS[proto.LED_OFF]
        self._step = 0

    def show(self, pattern):
        """Switch to `pattern` (restarting it); returns True if it changed."""
        if pattern == self.pattern:
            return False
        self.pattern = pattern
        self._bits = PATTERNS[pattern]
        self._step = 0
        return True

    def tick(self, _timer=None):
        """Advance one step; called from a periodic timer, so it must not allocate."""
        self.pin.value((self._bits >> (15 - self._step)) & 1)
        self._step = (self._step + 1) & 15
