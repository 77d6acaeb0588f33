# The ANC mode state machine: off -> anc -> transparency -> adaptive, changed by the host
# (SET_MODE), the button and the safety source (critical battery). While the safety lock
# is held only OFF is allowed.
import proto

CYCLE = (proto.MODE_OFF, proto.MODE_ANC, proto.MODE_TRANSPARENCY, proto.MODE_ADAPTIVE)


class ModeMachine:
    def __init__(self, on_change, include_adaptive=True):
        self.mode = proto.MODE_OFF
        self.locked = False
        self._before_transparency = proto.MODE_ANC
        self._cycle = CYCLE if include_adaptive else CYCLE[:3]
        self._on_change = on_change

    def request(self, mode, source):
        """Ask for `mode`; returns ACK_OK or ACK_REFUSED (safety lock). Unknown -> ValueError."""
        if mode not in CYCLE:
            raise ValueError("mode %r is not one of %r" % (mode, CYCLE))
        if self.locked and mode != proto.MODE_OFF:
            return proto.ACK_REFUSED
        self._set(mode, source)
        return proto.ACK_OK

    def on_press(self, kind):
        """Button policy: short cycles, long toggles off/anc, double toggles transparency."""
        if kind == proto.PRESS_SHORT:
            i = self._cycle.index(self.mode) if self.mode in self._cycle else 0
            target = self._cycle[(i + 1) % len(self._cycle)]
        elif kind == proto.PRESS_LONG:
            target = proto.MODE_ANC if self.mode == proto.MODE_OFF else proto.MODE_OFF
        elif self.mode == proto.MODE_TRANSPARENCY:
            target = self._before_transparency
        else:
            target = proto.MODE_TRANSPARENCY
        return self.request(target, proto.SOURCE_BUTTON)

    def force_safe(self):
        """Critical battery: lock out everything but OFF and switch off now."""
        self.locked = True
        self._set(proto.MODE_OFF, proto.SOURCE_SAFETY)

    def release_safe(self):
        self.locked = False

    def _set(self, mode, source):
        if mode == self.mode:
            return
        if mode == proto.MODE_TRANSPARENCY:
            self._before_transparency = self.mode
        self.mode = mode
        self._on_change(mode, source)
