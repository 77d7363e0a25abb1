"""Strict parsing of request bodies and fields: what OKX refuses is refused here, with its code.

Python's own parsers are lenient where an exchange is not: ``float`` takes "nan", "inf",
"1e309", " 1 ", "1_000" and Arabic-Indic digits, ``json.loads`` takes ``NaN`` and
``Infinity`` and turns ``1e400`` into inf. A lenient parse once let ``lever: "nan"``
disable the margin check, so every number that reaches the domain core is a plain,
finite, in-range decimal, or the request is answered 50002 / 50014 / 51000 before it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from qlib_local.sim.accounts import LONG, LONG_SHORT_MODE, NET, NET_MODE, SHORT
from qlib_local.sim.protocol import ParamError

# Plain ASCII decimals as OKX prints them: no sign, exponent, blanks, separators or
# non-ASCII digits; 20 + 20 digits are far beyond any real size, price or leverage.
DECIMAL_RE = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")
INTEGER_RE = re.compile(r"[0-9]{1,19}")  # timestamps, ids, limits: non-negative int64
INT64_MAX = 2**63 - 1

CL_ORD_ID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
ORD_TYPES = frozenset({"market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc"})
PRICELESS = frozenset({"market", "optimal_limit_ioc"})  # order types that take no px


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_body(raw: bytes) -> Any:
    """The request's JSON (``{}`` when empty); 50002 for anything that is not strict JSON.

    ``NaN``/``Infinity`` tokens, bad UTF-8, over-long integers and nesting deep enough to
    exhaust the parser's recursion are all syntax errors, not server errors.
    """
    if not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ParamError("50002") from None


def text(obj: dict[str, Any], key: str) -> str:
    """A string field: "" when absent or null; integers and booleans as OKX reads them; else 51000."""
    v = obj.get(key)
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):  # before int: bool is an int
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    raise ParamError("51000", key)


def decimal(v: Any, key: str) -> float | None:
    """A finite number from a plain decimal string or a JSON number; None when absent or ""."""
    if v is None or v == "":
        return None
    if isinstance(v, str):
        if not DECIMAL_RE.fullmatch(v):
            raise ParamError("51000", key)
        x = float(v)
    elif isinstance(v, int | float) and not isinstance(v, bool):
        try:
            x = float(v)
        except OverflowError:
            raise ParamError("51000", key) from None
    else:
        raise ParamError("51000", key)
    if not math.isfinite(x):
        raise ParamError("51000", key)
    return x


def positive(v: Any, key: str, required: bool = True) -> float | None:
    """A number above zero: 50014 when a required one is missing, 51000 when malformed or <= 0."""
    x = decimal(v, key)
    if x is None:
        if required:
            raise ParamError("50014", key)
        return None
    if not x > 0:
        raise ParamError("51000", key)
    return x


def integer(v: str, key: str) -> int | None:
    """A non-negative int64 query parameter (``after``, ``before``, ``limit``); None when empty."""
    if not v:
        return None
    if not INTEGER_RE.fullmatch(v) or int(v) > INT64_MAX:
        raise ParamError("51000", key)
    return int(v)


@dataclass(frozen=True)
class OrderRequest:
    """One order's fields, typed and checked for form (the engine checks them against the market)."""

    inst_id: str
    td_mode: str
    side: str
    ord_type: str
    sz: float
    px: float | None
    cl_ord_id: str
    tag: str
    pos_side: str
    reduce_only: bool

    @property
    def priceless(self) -> bool:
        return self.ord_type in PRICELESS


def order_request(req: Any, pos_mode: str, cl_ord_id_re: re.Pattern[str] = CL_ORD_ID_RE) -> OrderRequest:
    """Parameter checks OKX answers at the top level for a single order (50002 / 50014 / 51000).

    ``cl_ord_id_re`` is the venue's client order id rule (Binance allows ``-_.:/``)."""
    if not isinstance(req, dict):
        raise ParamError("50002")
    f = {k: text(req, k) for k in ("instId", "tdMode", "side", "ordType", "clOrdId", "tag", "posSide",
                                   "reduceOnly")}
    for key in ("instId", "tdMode", "side", "ordType"):
        if not f[key]:
            raise ParamError("50014", key)
    if req.get("sz") in (None, ""):
        raise ParamError("50014", "sz")
    if f["side"] not in ("buy", "sell"):
        raise ParamError("51000", "side")
    if f["ordType"] not in ORD_TYPES:
        raise ParamError("51000", "ordType")
    if f["tdMode"] not in ("cross", "isolated"):
        raise ParamError("51000", "tdMode")
    sz = positive(req.get("sz"), "sz")
    px = None if f["ordType"] in PRICELESS else positive(req.get("px"), "px")
    if f["clOrdId"] and not cl_ord_id_re.fullmatch(f["clOrdId"]):
        raise ParamError("51000", "clOrdId")
    reduce = f["reduceOnly"].lower()
    if reduce not in ("", "true", "false"):
        raise ParamError("51000", "reduceOnly")
    ps = f["posSide"]
    if pos_mode == NET_MODE and ps not in ("", NET):
        raise ParamError("51000", "posSide")
    if pos_mode == LONG_SHORT_MODE and ps not in (LONG, SHORT):
        raise ParamError("51000", "posSide")
    assert sz is not None
    return OrderRequest(f["instId"], f["tdMode"], f["side"], f["ordType"], sz, px, f["clOrdId"], f["tag"],
                        ps if pos_mode == LONG_SHORT_MODE else NET, reduce == "true")
