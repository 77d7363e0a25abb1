"""Fault injection, so live code can be tested against an exchange that misbehaves.

Faults attach to endpoint paths (``fnmatch`` patterns such as ``/api/v5/trade/*`` or
``*``) and fire every time or a given number of times: added latency, an HTTP 5xx, a hang
longer than the client's timeout, a response dropped after the request took effect (an
order exists but the client never hears of it), and a late bar (the bar that just closed
stays unpublished for some seconds of simulated time). A fault may wait for another
path: ``armed_by`` keeps it asleep until a request to that path arrives (hang the order
lookups only once an order placement has gone through, for example).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

KINDS = ("latency", "fail", "hang", "drop")


@dataclass
class Fault:
    kind: str
    pattern: str
    value: float = 0.0  # seconds (latency, hang) or HTTP status (fail)
    times: int | None = None  # None: every matching request
    armed_by: str | None = None  # asleep until a request to a path matching this arrives
    armed: bool = True

    def matches(self, path: str) -> bool:
        return self.armed and fnmatchcase(path, self.pattern)


@dataclass
class Plan:
    """What to do to one request."""

    latency_s: float = 0.0
    fail_status: int | None = None
    hang_s: float = 0.0
    drop: bool = False


@dataclass
class Faults:
    faults: list[Fault] = field(default_factory=list)
    late_bar_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, pattern: str = "*", value: float = 0.0, times: int | None = None,
            armed_by: str | None = None) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}: use one of {', '.join(KINDS)}")
        if not math.isfinite(value):
            raise ValueError(f"{kind} value must be a finite number, got {value}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        if kind == "fail" and not 500 <= value <= 599:
            raise ValueError(f"fail status must be a 5xx, got {value:g}")
        if kind in ("latency", "hang") and value < 0:
            raise ValueError(f"{kind} seconds must be 0 or more")
        f = Fault(kind, pattern, float(value), times, armed_by, armed_by is None)
        with self._lock:
            self.faults.append(f)
        return f

    def latency(self, pattern: str, seconds: float, times: int | None = None) -> Fault:
        """Delay matching responses by ``seconds``."""
        return self.add("latency", pattern, seconds, times)

    def fail(self, pattern: str, status: int = 503, times: int | None = None) -> Fault:
        """Answer matching requests with an HTTP 5xx before doing anything."""
        return self.add("fail", pattern, status, times)

    def hang(self, pattern: str, seconds: float = 60.0, times: int | None = None,
             armed_by: str | None = None) -> Fault:
        """Hold matching requests for ``seconds`` (longer than the client timeout) unprocessed
        (from the first request to ``armed_by`` on, when given)."""
        return self.add("hang", pattern, seconds, times, armed_by)

    def drop_response(self, pattern: str, times: int | None = 1) -> Fault:
        """Process matching requests, then cut the connection instead of answering."""
        return self.add("drop", pattern, 0, times)

    def late_bar(self, seconds: float) -> None:
        """Keep each just-closed bar off the candle endpoints for ``seconds`` of simulated time."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"late bar seconds must be a finite number >= 0, got {seconds}")
        self.late_bar_ms = int(seconds * 1000)

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.late_bar_ms = 0

    def plan(self, path: str) -> Plan:
        """The faults due for a request to ``path``; counted faults are used up. A request arms the
        faults waiting for its path after theirs are planned (it is not itself affected by them)."""
        p = Plan()
        with self._lock:
            arming = [f for f in self.faults if not f.armed and f.armed_by and fnmatchcase(path, f.armed_by)]
            for f in list(self.faults):
                if not f.matches(path):
                    continue
                if f.kind == "latency":
                    p.latency_s += f.value
                elif f.kind == "fail" and p.fail_status is None:
                    p.fail_status = int(f.value)
                elif f.kind == "hang":
                    p.hang_s = max(p.hang_s, f.value)
                elif f.kind == "drop":
                    p.drop = True
                if f.times is not None:
                    f.times -= 1
                    if f.times == 0:
                        self.faults.remove(f)
            for f in arming:
                f.armed = True
        return p


def parse_fault_flag(kind: str, text: str) -> tuple[str, float, int | None]:
    """``PATH=VALUE[:TIMES]`` (or ``PATH[:TIMES]`` for drop) -> (pattern, value, times)."""
    times: int | None = None
    body = text
    if kind == "drop":
        pattern, _, t = body.partition(":")
        if t:
            times = int(t)
        return pattern or "*", 0.0, times if t else 1
    pattern, sep, rest = body.rpartition("=")
    if not sep:
        raise ValueError(f"expected PATH=VALUE[:TIMES], got {text!r}")
    value, _, t = rest.partition(":")
    if t:
        times = int(t)
    return pattern or "*", float(value), times
