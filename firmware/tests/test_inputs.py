# Debouncing and press classification with a synthetic clock (10 ms samples).
import inputs
import proto
from testing import FakePin, eq


def _run(button, pin, levels_ms):
    """levels_ms: [(level, duration_ms)...]; returns [(t, kind)] events."""
    events = []
    t = 0
    for level, duration in levels_ms:
        pin.value(level)
        for _ in range(duration // 10):
            kind = button.sample(t)
            if kind is not None:
                events.append((t, kind))
            t += 10
    return events


def _button():
    pin = FakePin(0)
    return inputs.Button(pin, active_level=1, settle_ms=30, long_ms=800, double_ms=300), pin


def test_debouncer_needs_a_stable_level():
    d = inputs.Debouncer(30)
    eq([d.update(1, t) for t in (0, 10, 20, 30)], [False, False, False, True], "rise")
    eq(d.state, True, "state")
    eq([d.update(0, 40), d.update(1, 50), d.update(1, 90)], [False, False, False], "glitch")
    eq(d.state, True, "glitch ignored")


def test_short_press_after_double_window():
    b, pin = _button()
    events = _run(b, pin, [(1, 100), (0, 500)])
    eq([k for _, k in events], [proto.PRESS_SHORT], "kinds")
    eq(events[0][0] >= 100 + 300, True, "reported only after the double window")


def test_long_press_reported_while_held():
    b, pin = _button()
    events = _run(b, pin, [(1, 1200), (0, 500)])
    eq([k for _, k in events], [proto.PRESS_LONG], "kinds")
    eq(events[0][0] < 1200, True, "before release")


def test_double_press():
    b, pin = _button()
    events = _run(b, pin, [(1, 80), (0, 100), (1, 80), (0, 500)])
    eq([k for _, k in events], [proto.PRESS_DOUBLE], "kinds")


def test_two_presses_far_apart_are_two_shorts():
    b, pin = _button()
    events = _run(b, pin, [(1, 80), (0, 600), (1, 80), (0, 600)])
    eq([k for _, k in events], [proto.PRESS_SHORT, proto.PRESS_SHORT], "kinds")


def test_bounce_is_not_a_press():
    b, pin = _button()
    eq(_run(b, pin, [(1, 10), (0, 10), (1, 10), (0, 600)]), [], "bounce")
