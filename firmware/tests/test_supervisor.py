import asyncio
import time

from supervisor import Supervisor
from testing import FakeWdt, eq


def test_feeds_only_while_every_task_is_on_time():
    wdt = FakeWdt()
    logs = []
    s = Supervisor(wdt, logs.append)
    s.register("a", 100)
    s.register("b", 100)
    now = time.ticks_ms()
    eq(s.service(now), None, "fresh")
    s.beat("a", time.ticks_add(now, 120))
    eq(s.service(time.ticks_add(now, 150)), "b", "b is late")
    eq(s.service(time.ticks_add(now, 160)), "b", "still late")
    eq(wdt.feeds, 1, "fed once")
    eq(len(logs), 1, "reported once")


def test_a_task_stuck_on_an_await_stops_the_feeding():
    wdt = FakeWdt()
    s = Supervisor(wdt, lambda msg: None)
    stuck = asyncio.Event()

    async def worker(name, hang_after):
        n = 0
        while True:
            s.beat(name)
            n += 1
            if n == hang_after:
                await stuck.wait()  # never set: the task hangs here
            await asyncio.sleep_ms(10)

    async def main():
        s.register("healthy", 50)
        s.register("hangs", 50)
        asyncio.create_task(worker("healthy", -1))
        asyncio.create_task(worker("hangs", 5))
        stale = []
        for _ in range(30):
            await asyncio.sleep_ms(10)
            stale.append(s.service())
        return stale

    stale = asyncio.run(main())
    eq(stale[0], None, "healthy at first")
    eq(stale[-1], "hangs", "the hung task is named")
    eq(0 < wdt.feeds < 30, True, "feeding stopped")
