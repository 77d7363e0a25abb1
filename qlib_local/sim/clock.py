"""Simulated time: the replay clock every visible price, bar and fill is judged against.

Running (``speed`` > 0) it maps wall time onto simulated time; stepped (``speed`` 0) it
only moves when a test calls :meth:`SimClock.set` or :meth:`SimClock.advance`, which makes
bar closes and order fills deterministic. Listeners run after every explicit move so
resting orders are matched against the bars the clock passed over.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from qlib_local.timeframes import from_ms, to_ms


def _check_speed(speed: float) -> None:
    """A NaN or infinite speed would make every later ``now`` fail: refuse it up front."""
    if not (math.isfinite(speed) and speed >= 0):
        raise ValueError(f"speed must be a finite number >= 0, got {speed}")


class SimClock:
    """Simulated UTC milliseconds, replayed at ``speed`` x real time or stepped by hand."""

    def __init__(self, start: int | str, speed: float = 0.0):
        _check_speed(speed)
        self._lock = threading.Lock()
        self._anchor_sim = to_ms(start)
        self._anchor_wall = time.monotonic()
        self._speed = float(speed)
        self._listeners: list[Callable[[int], None]] = []

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> int:
        elapsed = time.monotonic() - self._anchor_wall
        return self._anchor_sim + int(elapsed * 1000 * self._speed)

    def now(self):
        """Simulated now as a pandas Timestamp (UTC)."""
        return from_ms(self.now_ms())

    def set(self, ts: int | str) -> int:
        """Jump to ``ts`` (never backwards: an exchange's past cannot change)."""
        target = to_ms(ts)
        with self._lock:
            if target < self._now_locked():
                raise ValueError("the simulated clock cannot go backwards")
            self._anchor_sim, self._anchor_wall = target, time.monotonic()
        self._notify(target)
        return target

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` simulated milliseconds."""
        if ms < 0:
            raise ValueError("the simulated clock cannot go backwards")
        with self._lock:
            target = self._now_locked() + int(ms)
            self._anchor_sim, self._anchor_wall = target, time.monotonic()
        self._notify(target)
        return target

    def set_speed(self, speed: float) -> None:
        """Change the replay speed from now on (0 pauses)."""
        _check_speed(speed)
        with self._lock:
            self._anchor_sim, self._anchor_wall = self._now_locked(), time.monotonic()
            self._speed = float(speed)

    def subscribe(self, fn: Callable[[int], None]) -> None:
        self._listeners.append(fn)

    def _notify(self, now: int) -> None:
        for fn in list(self._listeners):
            fn(now)
