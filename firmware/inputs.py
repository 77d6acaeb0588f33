# Debounced digital inputs and the press classifier for buttons (short, long, double).
# Pure state machines fed with (level, now_ms); the app samples the pins and feeds them.
import time

import proto


class Debouncer:
    """A level that must hold for `settle_ms` before the stable state follows it."""

    def __init__(self, settle_ms, initial=False):
        self.settle_ms = settle_ms
        self.state = initial
        self._candidate = initial
        self._since = 0

    def update(self, level, now):
        """Feed the raw level; returns True when the stable state changed."""
        level = bool(level)
        if level != self._candidate:
            self._candidate = level
            self._since = now
            return False
        if level != self.state and time.ticks_diff(now, self._since) >= self.settle_ms:
            self.state = level
            return True
        return False


_IDLE = 0
_DOWN = 1  # first press held, not yet long
_WAIT_SECOND = 2  # released after a short press; a second press makes it a double
_DOWN_SECOND = 3
_HELD_LONG = 4  # long press reported; waiting for release


class PressClassifier:
    """Turns debounced press/release edges into SHORT, LONG and DOUBLE presses.

    A short press is reported only once the double-press window has passed without a
    second press; a long press is reported while the button is still held.
    """

    def __init__(self, long_ms=800, double_ms=300):
        self.long_ms = long_ms
        self.double_ms = double_ms
        self._state = _IDLE
        self._t = 0

    def update(self, pressed, now):
        """Feed the debounced state (every sample); returns a press kind or None."""
        s = self._state
        elapsed = time.ticks_diff(now, self._t)
        if s == _IDLE:
            if pressed:
                self._state, self._t = _DOWN, now
        elif s == _DOWN:
            if not pressed:
                self._state, self._t = _WAIT_SECOND, now
            elif elapsed >= self.long_ms:
                self._state = _HELD_LONG
                return proto.PRESS_LONG
        elif s == _WAIT_SECOND:
            if pressed:
                self._state, self._t = _DOWN_SECOND, now
            elif elapsed >= self.double_ms:
                self._state = _IDLE
                return proto.PRESS_SHORT
        elif s == _DOWN_SECOND:
            if not pressed:
                self._state = _IDLE
                return proto.PRESS_DOUBLE
        elif s == _HELD_LONG and not pressed:
            self._state = _IDLE
        return None


class Button:
    """One physical button: debouncer + classifier."""

    def __init__(self, pin, active_level=0, settle_ms=30, long_ms=800, double_ms=300):
        self.pin = pin
        self.active_level = active_level
        self.debounce = Debouncer(settle_ms)
        self.classifier = PressClassifier(long_ms, double_ms)

    def sample(self, now):
        self.debounce.update(self.pin.value() == self.active_level, now)
        return self.classifier.update(self.debounce.state, now)
