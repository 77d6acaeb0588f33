import proto
from modes import ModeMachine
from testing import eq, raises


def _machine():
    changes = []
    return ModeMachine(lambda mode, source: changes.append((mode, source))), changes


def test_short_press_cycles_through_all_modes():
    m, changes = _machine()
    for _ in range(4):
        m.on_press(proto.PRESS_SHORT)
    eq([c[0] for c in changes], [1, 2, 3, 0], "cycle")
    eq({c[1] for c in changes}, {proto.SOURCE_BUTTON}, "source")


def test_cycle_without_adaptive():
    changes = []
    m = ModeMachine(lambda mode, source: changes.append(mode), include_adaptive=False)
    for _ in range(3):
        m.on_press(proto.PRESS_SHORT)
    eq(changes, [1, 2, 0], "cycle")


def test_long_press_toggles_off_and_anc():
    m, changes = _machine()
    m.on_press(proto.PRESS_LONG)
    m.request(proto.MODE_ADAPTIVE, proto.SOURCE_HOST)
    m.on_press(proto.PRESS_LONG)
    eq([c[0] for c in changes], [1, 3, 0], "modes")


def test_double_press_returns_to_the_previous_mode():
    m, changes = _machine()
    m.request(proto.MODE_ADAPTIVE, proto.SOURCE_HOST)
    m.on_press(proto.PRESS_DOUBLE)
    m.on_press(proto.PRESS_DOUBLE)
    eq([c[0] for c in changes], [3, 2, 3], "modes")


def test_same_mode_is_not_a_change():
    m, changes = _machine()
    eq(m.request(proto.MODE_OFF, proto.SOURCE_HOST), proto.ACK_OK, "status")
    eq(changes, [], "no change")


def test_safety_lock_allows_only_off():
    m, changes = _machine()
    m.request(proto.MODE_ANC, proto.SOURCE_HOST)
    m.force_safe()
    eq(changes[-1], (proto.MODE_OFF, proto.SOURCE_SAFETY), "forced off")
    eq(m.request(proto.MODE_ANC, proto.SOURCE_HOST), proto.ACK_REFUSED, "refused")
    eq(m.on_press(proto.PRESS_SHORT), proto.ACK_REFUSED, "button refused")
    eq(m.mode, proto.MODE_OFF, "still off")
    m.release_safe()
    eq(m.request(proto.MODE_ANC, proto.SOURCE_HOST), proto.ACK_OK, "released")


def test_unknown_mode_is_a_value_error():
    m, _ = _machine()
    raises(ValueError, m.request, 7, proto.SOURCE_HOST)
