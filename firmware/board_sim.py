# Simulated board for the MicroPython Unix port.
#
# The link UART is stdin/stdout (raw bytes; the test harness puts a pty there). Stimuli for
# the inputs arrive on a side channel, one text line per stimulus, read from the file
# descriptor named by ANCFW_SIM_FD:
#     button <id> down|up   battery <mV>   wear 0|1   charging 0|1   hang adc   fail adc
# "hang adc" makes the battery ADC read block forever, like a wedged peripheral driver (the
# whole firmware stops); "fail adc" makes it raise OSError (EIO), which ends the task that
# reads it while the rest keeps running.
# Logs go to stderr. The watchdog is a thread: when it is not fed in time it writes
# "wdt: reset" to stderr and ends the process with SIGALRM (exit status -14 seen from
# CPython), which the harness treats as a reset.
import _thread
import asyncio
import os
import select
import sys
import time

from streams import PolledStream

WDT_SIGNAL = "ALRM"


class Pin:
    def __init__(self, level=0):
        self.level = level

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = 1 if level else 0
        return None


class Adc:
    """Reports the cell voltage seen through the board's 1:2 divider, in microvolts."""

    def __init__(self, divider, mv):
        self.divider = divider
        self.mv = mv
        self.hung = False
        self.failing = False

    def read_uv(self):
        while self.hung:
            time.sleep_ms(10)
        if self.failing:
            raise OSError(5)  # EIO
        return self.mv * 1000 // self.divider


class Watchdog:
    def __init__(self, timeout_ms, log):
        self.timeout_ms = timeout_ms
        self.log = log
        self._fed = time.ticks_ms()
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self._fed = time.ticks_ms()

    def _watch(self):
        while True:
            time.sleep_ms(20)
            late = time.ticks_diff(time.ticks_ms(), self._fed)
            if late > self.timeout_ms:
                self.log("wdt: reset (not fed for %d ms)" % late)
                # The shell's parent is this process: signal it like a hardware reset would.
                os.system("kill -%s $PPID" % WDT_SIGNAL)
                return


class Board:
    NAME = "sim"
    BUTTON_ACTIVE = 1  # the sim pins read 1 while pressed
    WEAR_ACTIVE = 1
    CHARGING_ACTIVE = 1
    BATTERY_DIVIDER = 2
    WDT_TIMEOUT_MS = 1000

    def __init__(self):
        self.log_stream = sys.stderr
        self.uart = PolledStream(sys.stdin.buffer, sys.stdout.buffer)
        self.buttons = (Pin(0),)
        self.led = Pin(0)
        self.wear = Pin(1)
        self.charging = Pin(0)
        self.battery_adc = Adc(self.BATTERY_DIVIDER, 3900)
        self._timers = []
        fd = os.getenv("ANCFW_SIM_FD")
        self._stimuli = open(int(fd), "rb") if fd else None

    def log(self, msg):
        self.log_stream.write(msg + "\n")

    def watchdog(self, timeout_ms):
        return Watchdog(timeout_ms, self.log)

    def start_timer(self, period_ms, callback):
        self._timers.append((period_ms, callback))

    def tasks(self):
        coros = [self._timer_task(p, cb) for p, cb in self._timers]
        if self._stimuli is not None:
            coros.append(self._stimulus_task())
        return coros

    async def _timer_task(self, period_ms, callback):
        while True:
            await asyncio.sleep_ms(period_ms)
            callback(None)

    async def _stimulus_task(self):
        poll = select.poll()
        poll.register(self._stimuli, select.POLLIN)
        while True:
            while poll.poll(0):
                line = self._stimuli.readline()
                if not line:
                    self.log("sim: stimulus channel closed")
                    return
                self.apply(line.decode().strip())
            await asyncio.sleep_ms(5)

    def apply(self, line):
        """Apply one stimulus line; bad lines are logged and ignored."""
        words = line.split()
        try:
            what = words[0]
            if what == "button":
                self.buttons[int(words[1])].value(words[2] == "down")
            elif what == "battery":
                self.battery_adc.mv = int(words[1])
            elif what in ("wear", "charging"):
                getattr(self, what).value(int(words[1]))
            elif what == "hang" and words[1] == "adc":
                self.battery_adc.hung = True
            elif what == "fail" and words[1] == "adc":
                self.battery_adc.failing = True
            else:
                raise ValueError("unknown stimulus")
        except (IndexError, ValueError) as exc:
            self.log("sim: bad stimulus %r: %s" % (line, exc))
            return
        self.log("sim: %s" % line)
