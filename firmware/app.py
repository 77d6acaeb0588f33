# The headset MCU application. It never constructs hardware objects: everything physical
# comes from the board (board.make()), so the same code runs on the ESP32-S3 and on the
# simulated board of the Unix port.
import asyncio
import gc
import struct
import time

import battery
import inputs
import leds
import proto
from link import Link
from modes import ModeMachine
from supervisor import Supervisor

VERSION = "1.0.0"

INPUT_PERIOD_MS = 10  # buttons and wear sensor sampling
SENSOR_PERIOD_MS = 200  # battery and charger
STATUS_PERIOD_MS = 2000  # periodic STATUS (also sent on every change)
SUPERVISE_PERIOD_MS = 100  # main loop: check heartbeats, feed the watchdog
LINK_TIMEOUT_MS = 3000  # host silent this long after HELLO -> "link lost" LED
BUTTON_SETTLE_MS = 30
WEAR_SETTLE_MS = 200
CHARGE_SETTLE_MS = 100


class App:
    def __init__(self, board):
        self.board = board
        self.log = board.log
        self.modes = ModeMachine(self._mode_changed)
        self.buttons = [
            inputs.Button(pin, board.BUTTON_ACTIVE, BUTTON_SETTLE_MS) for pin in board.buttons
        ]
        self.wear = inputs.Debouncer(WEAR_SETTLE_MS, board.wear.value() == board.WEAR_ACTIVE)
        self.charging = inputs.Debouncer(
            CHARGE_SETTLE_MS, board.charging.value() == board.CHARGING_ACTIVE
        )
        self.battery = battery.BatteryMonitor(board.battery_adc, board.BATTERY_DIVIDER)
        self.leds = leds.LedDriver(board.led)
        self.led_override = proto.LED_AUTO
        self.task_error = False
        self.link_lost = False
        self.link = Link(board.uart, self, self.log, VERSION)
        self.supervisor = Supervisor(board.watchdog(board.WDT_TIMEOUT_MS), self.log)
        self._last_status = None

    # --- state -> host ----------------------------------------------------------------------

    def status_payload(self):
        b = self.battery
        flags = (proto.FLAG_WORN if self.wear.state else 0) | (
            proto.FLAG_CHARGING if self.charging.state else 0
        )
        return struct.pack(">BBBH", b.percent, flags, self.modes.mode, b.mv)

    def send_status(self, force=False):
        """STATUS when percent, flags or mode changed (the mV alone jitters), or if forced."""
        payload = self.status_payload()
        key = payload[:3]
        if force or key != self._last_status:
            if self.link.send(proto.STATUS, payload):
                self._last_status = key

    def update_led(self):
        pattern = self.led_override or leds.choose(
            self.modes.mode, self.battery.level, self.link_lost,
            self.battery.fault or self.task_error,
        )
        if self.leds.show(pattern):
            self.log("led: %s" % leds.PATTERN_NAMES[pattern])

    def _mode_changed(self, mode, source):
        self.log("mode: %s (source %d)" % (proto.MODE_NAMES[mode], source))
        self.link.send(proto.MODE_CHANGED, bytes((mode, source)))
        self.send_status()
        self.update_led()

    # --- link callbacks ------------------------------------------------------------------

    def on_hello(self):
        self.link_lost = False
        self.send_status(force=True)
        self.update_led()

    def mode_allowed(self, mode):
        return proto.ACK_REFUSED if self.modes.locked and mode != proto.MODE_OFF else proto.ACK_OK

    def set_mode(self, mode):
        return self.modes.request(mode, proto.SOURCE_HOST)

    def set_led(self, pattern):
        self.led_override = pattern
        self.update_led()

    # --- tasks -----------------------------------------------------------------------------

    async def inputs_task(self):
        while True:
            now = time.ticks_ms()
            for i, button in enumerate(self.buttons):
                kind = button.sample(now)
                if kind is not None:
                    self.log("button: %d kind %d" % (i, kind))
                    self.link.send(proto.BUTTON, bytes((i, kind)))
                    self.modes.on_press(kind)
            if self.wear.update(self.board.wear.value() == self.board.WEAR_ACTIVE, now):
                self.log("wear: %s" % ("worn" if self.wear.state else "off"))
                self.send_status()
            self.supervisor.beat("inputs")
            await asyncio.sleep_ms(INPUT_PERIOD_MS)

    def sample_sensors(self, now):
        charging = self.board.charging.value() == self.board.CHARGING_ACTIVE
        changed = self.charging.update(charging, now)
        old_level = self.battery.level
        changed = self.battery.sample() or changed
        level = self.battery.level
        if level != old_level:
            self.log("battery: %s at %d%% (%d mV)" % (
                battery.LEVEL_NAMES[level], self.battery.percent, self.battery.mv))
            if level == battery.LEVEL_CRITICAL:
                self.modes.force_safe()
            elif old_level == battery.LEVEL_CRITICAL:
                self.modes.release_safe()
        lost = self.link.greeted and self.link.silent_ms(now) > LINK_TIMEOUT_MS
        if lost != self.link_lost:
            self.link_lost = lost
            self.log("link: %s" % ("lost" if lost else "back"))
        if changed:
            self.send_status()
        self.update_led()

    async def sensors_task(self):
        while True:
            self.sample_sensors(time.ticks_ms())
            self.supervisor.beat("sensors")
            await asyncio.sleep_ms(SENSOR_PERIOD_MS)

    async def status_task(self):
        while True:
            await asyncio.sleep_ms(STATUS_PERIOD_MS)
            self.send_status(force=True)
            self.supervisor.beat("status")

    async def _guard(self, name, coro):
        """Run a task; an exception is logged, shown on the LED, and (by the missing
        heartbeat) ends in a watchdog reset."""
        try:
            await coro
        except Exception as exc:  # noqa: BLE001 - any failure must reach the LED and log
            self.task_error = True
            self.log("task %s failed: %r" % (name, exc))
            self.update_led()

    async def main(self):
        now = time.ticks_ms()
        self.battery.sample()  # a first reading before anything is reported
        self.sample_sensors(now)
        self.supervisor.register("inputs", 500)
        self.supervisor.register("sensors", 1000)
        self.supervisor.register("status", 2 * STATUS_PERIOD_MS)
        self.board.start_timer(leds.STEP_MS, self.leds.tick)
        for name, coro in (
            ("link-reader", self.link.run_reader()),
            ("link-writer", self.link.run_writer()),
            ("inputs", self.inputs_task()),
            ("sensors", self.sensors_task()),
            ("status", self.status_task()),
        ):
            asyncio.create_task(self._guard(name, coro))
        for coro in self.board.tasks():
            asyncio.create_task(self._guard("board", coro))
        gc.collect()
        self.log("boot: firmware %s, protocol %d, board %s, heap in use %d bytes" % (
            VERSION, proto.PROTOCOL_VERSION, self.board.NAME, gc.mem_alloc()))
        while True:  # the healthy main loop: the only place the watchdog is fed
            self.supervisor.service()
            await asyncio.sleep_ms(SUPERVISE_PERIOD_MS)


def run(board):
    asyncio.run(App(board).main())
