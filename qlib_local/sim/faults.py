"""Fault injection, so live code can be tested against an exchange that misbehaves.

Faults attach to endpoint paths (``fnmatch`` patterns such as ``/api/v5/trade/*`` or
``*``) and fire every time or a given number of times: added latency, an HTTP 5xx, a hang
longer than the client's timeout, a response dropped after the request took effect (an
order exists but the client never hears of it), and a late bar (the bar that just closed
stays unpublished for some seconds of simulated time). A fault given ``after`` (a pattern)
sleeps until a request matching it has been processed: "hang every lookup once an order
placement has gone through" is how a test kills a run after the exchange has its orders
but before it records the acks, on a venue whose client looks every id up before sending.
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
    after: str | None = None  # dormant until a request matching this pattern was processed

    def matches(self, path: str) -> bool:
        return fnmatchcase(path, self.pattern)


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
            after: str | None = None) -> Fault:
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
        if after is not None and not after:
            raise ValueError("after must be a path pattern")
        f = Fault(kind, pattern, float(value), times, after)
        with self._lock:
            self.faults.append(f)
        return f

    def latency(self, pattern: str, seconds: float, times: int | None = None) -> Fault:
        """Delay matching responses by ``seconds``."""
        return self.add("latency", pattern, seconds, times)

    def fail(self, pattern: str, status: int = 503, times: int | None = None) -> Fault:
        """Answer matching requests with an HTTP 5xx before doing anything."""
        return self.add("fail", pattern, status, times)

    def hang(self, pattern: str, seconds: float = 60.0, times: int | None = None, after: str | None = None) -> Fault:
        """Hold matching requests for ``seconds`` (longer than the client timeout) unprocessed;
        with ``after``, only once a request matching that pattern was processed."""
        return self.add("hang", pattern, seconds, times, after)

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

    def processed(self, path: str) -> None:
        """A request to ``path`` was processed (answered or dropped): wake the faults waiting for it."""
        with self._lock:
            for f in self.faults:
                if f.after is not None and fnmatchcase(path, f.after):
                    f.after = None

    def plan(self, path: str) -> Plan:
        """The faults due for a request to ``path``; counted faults are used up, dormant ones wait."""
        p = Plan()
        with self._lock:
            for f in list(self.faults):
                if f.after is not None or not f.matches(path):
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
