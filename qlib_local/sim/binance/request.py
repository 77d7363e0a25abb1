"""A Binance request's parameters and its signature, read strictly.

Binance takes parameters from the query string and the form body alike; a signed call
carries ``timestamp``, ``recvWindow`` and, last, ``signature``: the lowercase hex
HMAC-SHA256 of the query string followed by the body, as the bytes arrived (ccxt sends
``batchOrders`` as raw JSON, so nothing is re-encoded before it is checked).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from qlib_local.sim.accounts import Account
from qlib_local.sim.binance.errors import BinanceError

DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"  # as Binance words its -1100 answer
INTEGER_RANGE = r"^[0-9]{1,20}$"
_DECIMAL_RE = re.compile(DECIMAL_RANGE)
_INTEGER_RE = re.compile(INTEGER_RANGE)
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
AHEAD_MS = 1_000  # a timestamp may be at most this far ahead of server time
INT64_MAX = 2**63 - 1


def sign(secret: str, payload: str | bytes) -> str:
    """Binance's ``signature`` (what a client computes; used by tests)."""
    raw = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def _parse(raw: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BinanceError(-1100, "request", "UTF-8 form parameters") from None


@dataclass
class Params:
    """The merged parameters of one request (body over query), with strict typed getters."""

    values: dict[str, str]

    @classmethod
    def read(cls, query: bytes, body: bytes) -> Params:
        values: dict[str, str] = {}
        for k, v in _parse(query) + _parse(body):
            values[k] = v
        return cls(values)

    def text(self, key: str, default: str = "") -> str:
        return self.values.get(key, default) or default

    def required(self, key: str) -> str:
        v = self.values.get(key, "")
        if not v:
            raise BinanceError(-1102, key)
        return v

    def decimal(self, key: str, required: bool = False) -> str | None:
        """A plain decimal string (Binance's own -1100 rule), or None when absent."""
        v = self.values.get(key, "")
        if not v:
            if required:
                raise BinanceError(-1102, key)
            return None
        if not _DECIMAL_RE.fullmatch(v) or not math.isfinite(float(v)):
            raise BinanceError(-1100, key, DECIMAL_RANGE)
        return v

    def integer(self, key: str, required: bool = False) -> int | None:
        v = self.values.get(key, "")
        if not v:
            if required:
                raise BinanceError(-1102, key)
            return None
        if not _INTEGER_RE.fullmatch(v) or int(v) > INT64_MAX:
            raise BinanceError(-1100, key, INTEGER_RANGE)
        return int(v)

    def boolean(self, key: str) -> bool | None:
        v = self.values.get(key, "")
        if not v:
            return None
        if v.lower() not in ("true", "false"):
            raise BinanceError(-1130, key)
        return v.lower() == "true"

    def choice(self, key: str, allowed: tuple[str, ...], code: int = -1130, default: str = "") -> str:
        v = self.values.get(key, "") or default
        if v not in allowed:
            if not v:
                raise BinanceError(-1102, key)
            raise BinanceError(code, key)
        return v


def _split_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """The bytes without their ``signature=`` item, and its value."""
    if not raw:
        return raw, None
    kept, sig = [], None
    for part in raw.split(b"&"):
        if part.startswith(b"signature="):
            sig = part[len(b"signature="):]
        else:
            kept.append(part)
    return b"&".join(kept), sig


def authenticate(headers: Mapping[str, str], query: bytes, body: bytes, params: Params,
                 accounts: Mapping[str, Account], server_now_ms: int) -> Account:
    """The account of a signed request, or the error Binance answers (in Binance's order:
    key, timestamp and recvWindow, then signature)."""
    key = headers.get("x-mbx-apikey", "")
    if not key or not _KEY_RE.fullmatch(key):
        raise BinanceError(-2014)
    acct = accounts.get(key)
    if acct is None:
        raise BinanceError(-2015)
    ts = params.integer("timestamp", required=True)
    window = params.integer("recvWindow")
    if window is None:
        window = DEFAULT_RECV_WINDOW_MS
    if not 0 < window <= MAX_RECV_WINDOW_MS:
        raise BinanceError(-1130, "recvWindow", msg="recvWindow must be less than 60000")
    assert ts is not None
    if not (ts < server_now_ms + AHEAD_MS and server_now_ms - ts <= window):
        raise BinanceError(-1021)
    q, sig_q = _split_signature(query)
    b, sig_b = _split_signature(body)
    signature = sig_b or sig_q
    if not signature:
        raise BinanceError(-1102, "signature")
    if not hmac.compare_digest(signature.lower(), sign(acct.secret, q + b).encode()):
        raise BinanceError(-1022)
    return acct
