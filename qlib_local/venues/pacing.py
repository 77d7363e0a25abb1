"""Client-side pacing against a venue's published limits, so a client waits instead of drawing
rate-limit refusals. The limits are data (:class:`qlib_local.live.venue.PacingTable`); this is
the one mechanism every adapter uses.

A request counts from when its answer arrives, not from when it was sent: the exchange counts
it on arrival, which can be any time in between, so only the answer's time is never earlier
than the exchange's (a send time can undercut it by the request's latency). In flight, a
request counts as now.
"""

from __future__ import annotations

import math
import threading
import time

from qlib_local.live.venue import PacingTable

SAFETY_S = 0.05  # wall-clock slack so our window never undercuts the server's

Slot = list[list[float]]  # the [time, units] entries one request holds, one per window


class Pacer:
    """Sliding windows over a :class:`PacingTable`; ``acquire`` waits for room in every window a
    request draws on, ``done`` stamps its entries with the answer's time."""

    def __init__(self, table: PacingTable, enabled: bool = True):
        self.table = table
        self.enabled = enabled
        self._hits: dict[tuple[str, str], list[list[float]]] = {}
        self._lock = threading.Lock()

    def acquire(self, method: str, path: str, inst: str = "", items: int = 1) -> Slot | None:
        """Wait for room, then hold it; pass the slot to :meth:`done` when the answer (or failure) is in."""
        costs = self.table.costs.get((method, path))
        if not self.enabled or not costs:
            return None
        need = []
        for name, (fixed, per_item) in costs.items():
            w = self.table.windows[name]
            units = min(fixed + per_item * items, w.limit)  # a request larger than a window waits for it empty
            need.append((name, inst if w.per_inst else "", units, w))
        while True:
            with self._lock:
                now = time.monotonic()
                wait = 0.0
                for name, key, units, w in need:
                    q = self._hits.setdefault((name, key), [])
                    q[:] = [h for h in q if h[0] > now - w.window_s - SAFETY_S]  # in flight: inf, kept
                    used = sum(h[1] for h in q)
                    if used + units > w.limit:
                        wait = max(wait, self._free_at(q, used + units - w.limit, w.window_s) - now)
                if wait <= 0:
                    slot = []
                    for name, key, units, _ in need:
                        entry = [math.inf, float(units)]
                        self._hits[(name, key)].append(entry)
                        slot.append(entry)
                    return slot
            time.sleep(0.01 if math.isinf(wait) else max(wait, 0.001))

    @staticmethod
    def _free_at(q: list[list[float]], excess: float, window_s: float) -> float:
        """When enough of the oldest entries have left the window to free ``excess`` units (inf: in flight)."""
        freed = 0.0
        for t, units in sorted(q):
            freed += units
            if freed >= excess:
                return t + window_s + SAFETY_S
        return math.inf

    @staticmethod
    def done(slot: Slot | None) -> None:
        if slot is not None:
            now = time.monotonic()
            for entry in slot:
                entry[0] = now
