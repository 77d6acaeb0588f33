# Battery gauge: ADC microvolts -> millivolts (divider) -> percent (Li-ion discharge
# curve), with low and critical levels that need a margin to clear (hysteresis).
from micropython import const

LEVEL_OK = const(0)
LEVEL_LOW = const(1)
LEVEL_CRITICAL = const(2)
LEVEL_NAMES = ("ok", "low", "critical")

# (mV, %) of a 1-cell Li-ion at a light load, resting curve; linear between points.
CURVE = (
    (3270, 0), (3610, 5), (3690, 10), (3710, 15), (3730, 20), (3750, 25), (3770, 30),
    (3790, 35), (3800, 40), (3820, 45), (3840, 50), (3850, 55), (3870, 60), (3910, 65),
    (3950, 70), (3980, 75), (4020, 80), (4080, 85), (4110, 90), (4150, 95), (4200, 100),
)
# Readings outside this range mean a broken sensor or a missing cell, not a battery level.
PLAUSIBLE_MV = (2500, 4500)


def percent(mv):
    if mv <= CURVE[0][0]:
        return 0
    for i in range(1, len(CURVE)):
        hi_mv, hi_pct = CURVE[i]
        if mv <= hi_mv:
            lo_mv, lo_pct = CURVE[i - 1]
            return lo_pct + (hi_pct - lo_pct) * (mv - lo_mv) // (hi_mv - lo_mv)
    return 100


class BatteryMonitor:
    """Averages the last `window` readings and tracks the OK/LOW/CRITICAL level."""

    def __init__(self, adc, divider=2, window=4, low=(15, 20), critical=(5, 8)):
        self.adc = adc
        self.divider = divider
        self.low_enter, self.low_clear = low
        self.crit_enter, self.crit_clear = critical
        self._window = window
        self._samples = []
        self.mv = 0
        self.percent = 0
        self.level = LEVEL_OK
        self.fault = False

    def read_mv(self):
        return self.adc.read_uv() * self.divider // 1000

    def sample(self):
        """Take one reading; returns True when percent, level or fault changed."""
        mv = self.read_mv()
        fault = not PLAUSIBLE_MV[0] <= mv <= PLAUSIBLE_MV[1]
        if fault:
            changed = not self.fault
            self.fault = True
            return changed
        was = (self.percent, self.level, self.fault)
        self.fault = False
        samples = self._samples
        if not samples:
            samples.extend([mv] * self._window)
        samples.pop(0)
        samples.append(mv)
        self.mv = sum(samples) // len(samples)
        self.percent = percent(self.mv)
        self.level = self._next_level(self.percent)
        return was != (self.percent, self.level, self.fault)

    def _next_level(self, pct):
        level = self.level
        if pct <= self.crit_enter:
            return LEVEL_CRITICAL
        if level == LEVEL_CRITICAL and pct < self.crit_clear:
            return LEVEL_CRITICAL
        if pct <= self.low_enter:
            return LEVEL_LOW
        if level != LEVEL_OK and pct < self.low_clear:
            return LEVEL_LOW
        return LEVEL_OK
