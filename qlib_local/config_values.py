"""Checks for single config values, shared by the strategies and the accounts loaders.

A number reaches the model, the exchange or a timer only after it is a real number (not a
boolean, not a string), finite (``.nan``, ``.inf`` and ``1e999`` are refused: NaN compares
false with every bound, so an unchecked ``max_late_s: .nan`` disables the lateness check)
and inside its range. Integers must be written as integers (``2.5`` is not silently 2);
booleans as ``true``/``false``. Each check raises the caller's error type, so a loader
keeps its own exit code.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any
from urllib.parse import urlsplit

from qlib_local.errors import QlibError

MAX_LEVERAGE = 125.0  # the highest leverage OKX offers on any swap; the store's specs cap each lower
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class Bounds:
    """Allowed values of a numeric field: ``lo`` (exclusive when ``lo_open``) up to ``hi``."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    integer: bool = False

    def text(self) -> str:
        """How the docs and messages write the range, e.g. ``(0, 1]`` or ``[1, 125]``."""
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return f"{'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}{')' if self.hi is None else ']'}"


def number(where: str, value: Any, bounds: Bounds, error: type[QlibError]) -> float:
    """``value`` as a finite float inside ``bounds`` (an int when ``bounds.integer``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        kind = "an integer" if bounds.integer else "a number"
        raise error(f"{where}: expected {kind}, got {value!r}")
    if bounds.integer and not isinstance(value, Integral):
        raise error(f"{where}: expected an integer, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int too large for a float
        raise error(f"{where}: must be in {bounds.text()}, got {value}") from None
    if not math.isfinite(v):
        raise error(f"{where}: must be a finite number, got {v}")
    if bounds.lo is not None and (v < bounds.lo or (bounds.lo_open and v == bounds.lo)):
        raise error(f"{where}: must be {'>' if bounds.lo_open else '>='} {bounds.lo:g}, got {v:g}")
    if bounds.hi is not None and v > bounds.hi:
        raise error(f"{where}: must be <= {bounds.hi:g}, got {v:g}")
    return v


def integer(where: str, value: Any, bounds: Bounds, error: type[QlibError]) -> int:
    """``value`` as an int inside ``bounds`` (``bounds.integer`` is implied)."""
    if not bounds.integer:
        bounds = Bounds(bounds.lo, bounds.hi, bounds.lo_open, integer=True)
    number(where, value, bounds, error)
    return int(value)


def boolean(where: str, value: Any, error: type[QlibError]) -> bool:
    """``true`` or ``false`` only: ``"no"`` is a non-empty string, which Python would call true."""
    if not isinstance(value, bool):
        raise error(f"{where}: must be true or false, got {value!r}")
    return value


def identifier(where: str, value: Any, error: type[QlibError]) -> str:
    """A name that is safe as one path component: letters, digits, ``-`` and ``_``, at most 64."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise error(f"{where}: {value!r} is not a valid name; use 1 to 64 letters, digits, '-' or '_'")
    return value


def loopback_url(where: str, value: Any, error: type[QlibError]) -> str:
    """An http(s) URL whose host is this machine (127.0.0.0/8, ::1 or localhost), any port."""
    text = value if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise error(f"{where}: expected http(s)://127.0.0.1:PORT (the local exchange), got {value!r}")
    if host.lower() not in LOOPBACK_NAMES:
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = False
        if not ok:
            raise error(f"{where}: a paper account trades on the local exchange only; {host} is not this "
                        f"machine (use 127.0.0.1, ::1 or localhost)")
    return text
