"""Paths and waiting helpers shared by tests.

No test may depend on wall-clock slack: a test waits for an event (a file, a ledger row, a
request the exchange has seen) with :func:`until`, and the guard only ends a deadlocked
test, so it is generous and nothing passes by waiting it out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GUARD_S = 180.0
GUARD_MS = int(GUARD_S * 1000)  # the same guard for clients that count in milliseconds (ccxt)


def until(cond: Callable[[], Any], what: str, guard_s: float = GUARD_S) -> Any:
    """Poll ``cond`` until it returns something true, and return that."""
    deadline = time.monotonic() + guard_s
    while not (got := cond()):
        assert time.monotonic() < deadline, f"deadlock guard: still not {what} after {guard_s:g}s"
        time.sleep(0.01)
    return got


class Background:
    """``fn()`` in a daemon thread (a run stuck on a held clock must not keep pytest alive)."""

    def __init__(self, fn: Callable[[], Any]):
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self.error = e

    def join(self, guard_s: float = GUARD_S) -> Any:
        self.thread.join(guard_s)
        assert not self.thread.is_alive(), f"deadlock guard: still running after {guard_s:g}s"
        if self.error is not None:
            raise self.error
        return self.result


class HeldTime:
    """A monotonic time source that moves only when told: hand it to what counts time windows."""

    def __init__(self, t: float = 1_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
