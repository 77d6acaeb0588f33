# ESP32-S3 headset board (MicroPython >= 1.23). All hardware objects are made here.
#
# Pins (change them here for another PCB):
#   button   GPIO0   to GND, internal pull-up (the DevKit BOOT button)
#   LED      GPIO21  active high
#   battery  GPIO1   ADC1, cell voltage through a 1:2 divider
#   wear     GPIO4   proximity sensor output, low = worn
#   charging GPIO5   charger CHRG output (open drain), low = charging
#   link     UART1   TX GPIO17, RX GPIO18, 115200 8N1 (set LINK_ON_USB to use the USB port)
import sys

import machine
from machine import ADC, UART, WDT, Pin, Timer
from streams import PolledStream

LINK_ON_USB = False  # True: the link runs on the USB serial port (for tests with --port)
LINK_BAUD = 115200  # the edge agent's default ([mcu] baudrate); change both together


class Board:
    NAME = "esp32s3"
    BUTTON_ACTIVE = 0
    WEAR_ACTIVE = 0
    CHARGING_ACTIVE = 0
    BATTERY_DIVIDER = 2
    WDT_TIMEOUT_MS = 5000

    def __init__(self):
        self.buttons = (Pin(0, Pin.IN, Pin.PULL_UP),)
        self.led = Pin(21, Pin.OUT, value=0)
        self.battery_adc = ADC(Pin(1), atten=ADC.ATTN_11DB)
        self.wear = Pin(4, Pin.IN, Pin.PULL_UP)
        self.charging = Pin(5, Pin.IN, Pin.PULL_UP)
        if LINK_ON_USB:
            import micropython

            micropython.kbd_intr(-1)  # Ctrl-C (0x03) is data on the link
            self.uart = PolledStream(sys.stdin.buffer, sys.stdout.buffer)
        else:
            self.uart = UART(1, baudrate=LINK_BAUD, tx=17, rx=18, rxbuf=1024, timeout=0)
        self.log_stream = sys.stdout if not LINK_ON_USB else None
        self._timer = Timer(0)
        self.reset_cause = machine.reset_cause()

    def log(self, msg):
        # With the link on USB the console is the link: logs would corrupt it.
        if self.log_stream is not None:
            print(msg)

    def watchdog(self, timeout_ms):
        return WDT(timeout=timeout_ms)

    def start_timer(self, period_ms, callback):
        self._timer.init(mode=Timer.PERIODIC, period=period_ms, callback=callback)

    def tasks(self):
        return []
