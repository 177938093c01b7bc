"""Time for the engine: one injected clock, so tests can drive hours of backoff in milliseconds.

Engine logic never calls time.monotonic() or asyncio.sleep() for decisions; it asks a Clock.
MonotonicClock is the real thing; FakeClock only moves when a test calls advance().
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


async def sleep_or_wake(clock: Clock, seconds: float, wake: asyncio.Event) -> None:
    """Sleep `seconds` on `clock`, or less when `wake` is set first: the shape of every engine
    loop that waits for its next deadline but must react at once to a command or a new event."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waker = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (sleeper, waker):
            if not t.done():
                t.cancel()


class MonotonicClock:
    """The real clock: time.monotonic for intervals, time.time for timestamps people read."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that stands still until advance() moves it.

    sleep() parks the caller on a future that advance() resolves once the fake time reaches its
    deadline. The wall clock moves in step with the monotonic one from `wall_start`.
    """

    def __init__(self, start: float = 1000.0, wall_start: float = 1_767_225_600.0):  # 2026-01-01Z
        self._now = float(start)
        self._start = float(start)
        self._wall_start = float(wall_start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_start + (self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many sleep() calls are waiting (cancelled ones excluded)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def next_deadline(self) -> float | None:
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come (synchronously: the
        woken coroutines run at the loop's next turn)."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def run_for(self, seconds: float, *, turns: int = 5) -> None:
        """Advance in steps from deadline to deadline, letting woken tasks run between steps, so
        a sleep scheduled by a woken task inside the window also fires (as real time would)."""
        end = self._now + seconds
        while True:
            await _turns(turns)
            nxt = self.next_deadline()
            if nxt is None or nxt > end:
                break
            self.advance(max(0.0, nxt - self._now))
        self.advance(max(0.0, end - self._now))
        await _turns(turns)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)
