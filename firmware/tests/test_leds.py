import battery
import leds
import proto
from testing import FakePin, eq


def test_priorities():
    eq(leds.choose(1, battery.LEVEL_OK, False, False), proto.LED_ON, "anc")
    eq(leds.choose(2, battery.LEVEL_OK, False, False), proto.LED_SLOW_BLINK, "transparency")
    eq(leds.choose(1, battery.LEVEL_LOW, False, False), proto.LED_LOW_BATTERY, "low")
    eq(leds.choose(1, battery.LEVEL_LOW, True, False), proto.LED_HEARTBEAT, "link lost")
    eq(leds.choose(1, battery.LEVEL_CRITICAL, True, False), proto.LED_FAST_BLINK, "critical")
    eq(leds.choose(1, battery.LEVEL_CRITICAL, True, True), proto.LED_ERROR, "error")


def test_every_pattern_has_bits_and_a_name():
    eq(len(leds.PATTERNS), proto.LED_PATTERN_COUNT, "patterns")
    eq(len(leds.PATTERN_NAMES), proto.LED_PATTERN_COUNT, "names")


def test_driver_plays_the_pattern_bits():
    pin = FakePin()
    d = leds.LedDriver(pin)
    d.show(proto.LED_DOUBLE_BLINK)
    for _ in range(16):
        d.tick()
    eq(pin.history, [1, 0, 1] + [0] * 13, "0xA000")
    eq(d.show(proto.LED_DOUBLE_BLINK), False, "same pattern is no change")
