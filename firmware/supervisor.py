# Task supervision for the watchdog: every periodic task reports a heartbeat, and the main
# loop feeds the hardware watchdog only while all of them are on time. A task that hangs
# (or dies on an exception) stops its heartbeat, the feeding stops, and the WDT resets.
import time


class Supervisor:
    def __init__(self, wdt, log):
        self.wdt = wdt
        self.log = log
        self._deadline_ms = {}
        self._last = {}
        self._reported = None

    def register(self, name, max_interval_ms):
        self._deadline_ms[name] = max_interval_ms
        self._last[name] = time.ticks_ms()

    def beat(self, name, now=None):
        self._last[name] = time.ticks_ms() if now is None else now

    def stale(self, now):
        """Name of the first task that missed its deadline, or None."""
        for name, limit in self._deadline_ms.items():
            if time.ticks_diff(now, self._last[name]) > limit:
                return name
        return None

    def service(self, now=None):
        """Feed the watchdog if every task is healthy; returns the stale task's name or None."""
        name = self.stale(time.ticks_ms() if now is None else now)
        if name is None:
            self.wdt.feed()
            self._reported = None
        elif name != self._reported:
            self._reported = name
            self.log("supervisor: task %s stalled; watchdog no longer fed" % name)
        return name
