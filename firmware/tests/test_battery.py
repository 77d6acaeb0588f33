import battery
from testing import eq


class _Adc:
    def __init__(self, mv):
        self.mv = mv

    def read_uv(self):
        return self.mv * 1000 // 2


def test_curve_end_points_and_interpolation():
    eq(battery.percent(3000), 0, "below")
    eq(battery.percent(4300), 100, "above")
    eq(battery.percent(3840), 50, "point")
    eq(battery.percent(3700), 12, "between 10 and 15")


def test_curve_is_monotonic():
    last = -1
    for mv in range(3200, 4300, 5):
        p = battery.percent(mv)
        eq(p >= last, True, "monotonic at %d" % mv)
        last = p


def _settle(mon, adc, mv):
    adc.mv = mv
    for _ in range(4):
        mon.sample()
    return mon.level


def test_levels_with_hysteresis():
    adc = _Adc(3900)
    mon = battery.BatteryMonitor(adc)
    eq(_settle(mon, adc, 3900), battery.LEVEL_OK, "full")
    eq(_settle(mon, adc, 3700), battery.LEVEL_LOW, "12%")
    eq(_settle(mon, adc, 3718), battery.LEVEL_LOW, "17% keeps low")
    eq(_settle(mon, adc, 3600), battery.LEVEL_CRITICAL, "4%")
    eq(_settle(mon, adc, 3650), battery.LEVEL_CRITICAL, "7% keeps critical")
    eq(_settle(mon, adc, 3690), battery.LEVEL_LOW, "10% clears critical")
    eq(_settle(mon, adc, 3760), battery.LEVEL_OK, "27% clears low")


def test_average_of_four_readings():
    adc = _Adc(4000)
    mon = battery.BatteryMonitor(adc)
    mon.sample()
    adc.mv = 3600
    mon.sample()
    eq(mon.mv, 3900, "one new reading of four")


def test_implausible_reading_is_a_fault_not_a_level():
    adc = _Adc(3900)
    mon = battery.BatteryMonitor(adc)
    mon.sample()
    adc.mv = 1000
    eq(mon.sample(), True, "fault is a change")
    eq((mon.fault, mon.level, mon.mv), (True, battery.LEVEL_OK, 3900), "kept last good")
    adc.mv = 3900
    mon.sample()
    eq(mon.fault, False, "fault cleared")
