"""OKX account and order operations in domain terms (OrderRequest in, Ack/OrderStatus/... out).

Reads are idempotent and retried by :class:`OkxHttp`; placing orders is not retried here:
the execution engine decides, because a resend is only safe once the exchange has said
the clOrdId is unknown.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qlib_local.live.errors import ApiError
from qlib_local.live.types import (
    NET,
    Ack,
    Balance,
    FillInfo,
    FundingBill,
    OrderRequest,
    OrderStatus,
    PositionInfo,
)
from qlib_local.specs import InstrumentSpec
from qlib_local.venues.okx.http import OkxHttp
from qlib_local.venues.okx.specs import live_swaps

MAX_BATCH = 20  # OKX: up to 20 orders per batch-orders request
ORDER_NOT_FOUND = "51603"
FUNDING_BILL = "8"  # account/bills type of a funding fee


def fmt(x: float) -> str:
    """A size as OKX expects it: positional, no float noise."""
    return np.format_float_positional(round(float(x), 10), trim="-")


def _f(v: Any, default: float = 0.0) -> float:
    try:
        return float(v) if v not in (None, "") else default
    except (TypeError, ValueError):
        return default


def order_body(o: OrderRequest, pos_mode: str) -> dict[str, str]:
    """The batch-orders item; ``reduceOnly`` exists in net mode only, ``posSide`` in long/short mode."""
    body = {"instId": o.inst_id, "tdMode": o.td_mode, "side": o.side, "ordType": o.ord_type, "sz": fmt(o.sz),
            "clOrdId": o.cl_ord_id}
    if pos_mode == "long_short_mode":
        body["posSide"] = o.pos_side
    elif o.reduce_only:
        body["reduceOnly"] = "true"
    return body


def status_from_row(r: dict[str, Any]) -> OrderStatus:
    acc = _f(r.get("accFillSz"))
    return OrderStatus(
        cl_ord_id=str(r.get("clOrdId") or ""), ord_id=str(r.get("ordId") or ""), inst_id=r["instId"],
        side=r["side"], pos_side=r.get("posSide") or NET, sz=_f(r.get("sz")), state=r["state"], acc_fill_sz=acc,
        avg_px=_f(r.get("avgPx")) if acc > 0 and r.get("avgPx") else None, fee=_f(r.get("fee")),
        reduce_only=str(r.get("reduceOnly")) == "true", ord_type=r.get("ordType", "market"),
        td_mode=r.get("tdMode", "cross"),
    )


def fill_from_row(r: dict[str, Any]) -> FillInfo:
    return FillInfo(
        trade_id=str(r["tradeId"]), ord_id=str(r["ordId"]), cl_ord_id=str(r.get("clOrdId") or ""),
        inst_id=r["instId"], side=r["side"], pos_side=r.get("posSide") or NET, fill_px=_f(r["fillPx"]),
        fill_sz=_f(r["fillSz"]), fee=_f(r.get("fee")), pnl=_f(r.get("fillPnl")), ts=int(_f(r.get("ts"))),
    )


class OkxVenue:
    """One OKX account through python-okx."""

    name = "okx"

    def __init__(self, http: OkxHttp):
        self.http = http

    # ------------------------------------------------------------------ public
    def server_time_ms(self) -> int:
        r = self.http.call("GET", "/api/v5/public/time", self.http.public.get_system_time, "server time")
        return int(r["data"][0]["ts"])

    def instruments(self) -> dict[str, InstrumentSpec]:
        r = self.http.call("GET", "/api/v5/public/instruments",
                           lambda: self.http.public.get_instruments("SWAP"), "instruments")
        return live_swaps(r["data"])

    def last_prices(self) -> dict[str, float]:
        """Last traded price of every swap (one ``market/tickers`` call); unusable values left out."""
        r = self.http.call("GET", "/api/v5/market/tickers", lambda: self.http.market.get_tickers("SWAP"), "tickers")
        return _prices(r["data"], "last")

    def mark_prices(self) -> dict[str, float]:
        """Mark price of every swap (one ``public/mark-price`` call); unusable values left out."""
        r = self.http.call("GET", "/api/v5/public/mark-price", lambda: self.http.public.get_mark_price("SWAP"),
                           "mark prices")
        return _prices(r["data"], "markPx")

    # ------------------------------------------------------------------ account
    def position_mode(self) -> str:
        r = self.http.call("GET", "/api/v5/account/config", self.http.account.get_account_config, "account config")
        return str(r["data"][0]["posMode"])

    def set_position_mode(self, mode: str) -> None:
        r = self.http.call("POST", "/api/v5/account/set-position-mode",
                           lambda: self.http.account.set_position_mode(mode), f"set position mode {mode}")
        _check_code(r, f"set position mode {mode}")

    def set_leverage(self, inst_id: str, lever: float, mgn_mode: str, pos_side: str = "") -> None:
        what = f"set leverage {fmt(lever)}x on {inst_id}"
        r = self.http.call("POST", "/api/v5/account/set-leverage",
                           lambda: self.http.account.set_leverage(fmt(lever), mgn_mode, instId=inst_id, posSide=pos_side),
                           what)
        _check_code(r, what)

    def balance(self, ccy: str = "USDT") -> Balance:
        """Equity in ``ccy``, the settlement currency: its own ``eq`` (an inverse account's coin);
        the USD ``totalEq`` only when the exchange lists no such currency (an unfunded USDT account)."""
        r = self.http.call("GET", "/api/v5/account/balance", self.http.account.get_account_balance, "balance")
        d = r["data"][0]
        detail = next((x for x in d.get("details", []) if x.get("ccy") == ccy), {})
        if ccy == "USDT" and "eq" not in detail:
            return Balance(_f(d.get("totalEq")), _f(d.get("availEq")), 0.0, ccy, _f(d.get("totalEq")))
        eq = _f(detail.get("eq"))
        return Balance(eq, _f(detail.get("availEq"), eq), _f(detail.get("upl")), ccy, _f(detail.get("eqUsd"), math.nan))

    def funding_bills(self, since_ms: int) -> list[FundingBill]:
        """Funding fees (bills of type 8, last seven days) at or after ``since_ms``, oldest first;
        paged by billId as OKX pages them (newest first, ``after`` = older than)."""
        out: list[FundingBill] = []
        after = ""
        while True:
            page = self.http.call("GET", "/api/v5/account/bills", lambda a=after: self.http.account.get_account_bills(
                instType="SWAP", type=FUNDING_BILL, after=a, limit="100"), "funding bills")["data"]
            for b in page:
                ts = int(_f(b.get("ts")))
                if ts < since_ms:
                    return out[::-1]
                amount = _f(b.get("balChg"), math.nan)
                if not math.isfinite(amount):
                    raise ApiError(f"funding bill {b.get('billId')}: balChg {b.get('balChg')!r} is not a number")
                out.append(FundingBill(str(b["billId"]), str(b.get("instId") or ""), str(b.get("ccy") or ""), amount, ts))
            if len(page) < 100:
                return out[::-1]
            after = str(page[-1]["billId"])

    def positions(self) -> list[PositionInfo]:
        r = self.http.call("GET", "/api/v5/account/positions",
                           lambda: self.http.account.get_positions(instType="SWAP"), "positions")
        out = []
        for p in r["data"]:
            pos = _f(p.get("pos"))
            if pos != 0:
                out.append(PositionInfo(p["instId"], p.get("posSide") or NET, pos, _f(p.get("avgPx")) or None,
                                        _f(p.get("lever")) or None))
        return out

    # ------------------------------------------------------------------ orders
    def place_batch(self, orders: list[OrderRequest], pos_mode: str) -> list[Ack]:
        """One batch-orders request (no retry). Per-order results come back as acks."""
        if not 0 < len(orders) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1..{MAX_BATCH} orders, got {len(orders)}")
        bodies = [order_body(o, pos_mode) for o in orders]
        what = f"place {len(orders)} order(s)"
        r = self.http.once("POST", "/api/v5/trade/batch-orders",
                           lambda: self.http.trade.place_multiple_orders(bodies), what)
        by_cl = {str(a.get("clOrdId") or ""): a for a in r.get("data") or []}
        acks = []
        for o in orders:
            a = by_cl.get(o.cl_ord_id)
            if a is None:
                acks.append(Ack(o.cl_ord_id, "", str(r.get("code")), str(r.get("msg") or "no answer for this order")))
            else:
                acks.append(Ack(o.cl_ord_id, str(a.get("ordId") or ""), str(a.get("sCode")), str(a.get("sMsg") or "")))
        return acks

    def order(self, inst_id: str, cl_ord_id: str) -> OrderStatus | None:
        """The order with this clOrdId, or None when the exchange does not know it (51603)."""
        what = f"order {cl_ord_id}"
        try:
            r = self.http.call("GET", "/api/v5/trade/order",
                               lambda: self.http.trade.get_order(inst_id, clOrdId=cl_ord_id), what, inst=inst_id)
        except ApiError as e:
            if e.code == ORDER_NOT_FOUND:
                return None
            raise
        if str(r["code"]) != "0":
            code = _first_code(r)
            if code == ORDER_NOT_FOUND:
                return None
            raise ApiError(f"{what}: OKX {code} {_first_msg(r)}", code)
        return status_from_row(r["data"][0])

    def pending_orders(self) -> list[OrderStatus]:
        out: list[OrderStatus] = []
        after = ""
        while True:
            r = self.http.call("GET", "/api/v5/trade/orders-pending",
                               lambda a=after: self.http.trade.get_order_list(instType="SWAP", after=a, limit="100"),
                               "pending orders")
            rows = r["data"]
            out += [status_from_row(x) for x in rows]
            if len(rows) < 100:
                return out
            after = rows[-1]["ordId"]

    def fills(self, since_ms: int) -> list[FillInfo]:
        """Fills at or after ``since_ms``, newest first, paging back by bill id."""
        out: list[FillInfo] = []
        after = ""
        while True:
            r = self.http.call("GET", "/api/v5/trade/fills",
                               lambda a=after: self.http.trade.get_fills(instType="SWAP", after=a, limit="100"), "fills")
            rows = r["data"]
            for x in rows:
                f = fill_from_row(x)
                if f.ts < since_ms:
                    return out
                out.append(f)
            if len(rows) < 100:
                return out
            after = rows[-1]["billId"]

    def cancel(self, inst_id: str, cl_ord_id: str) -> bool:
        """Cancel by clOrdId; False when it was already final (51400)."""
        what = f"cancel {cl_ord_id}"
        r = self.http.call("POST", "/api/v5/trade/cancel-order",
                           lambda: self.http.trade.cancel_order(inst_id, clOrdId=cl_ord_id), what, inst=inst_id)
        return str(r["code"]) == "0"


def _prices(rows: Any, key: str) -> dict[str, float]:
    """instId -> price for rows whose price is a finite positive number (anything else is no price)."""
    out: dict[str, float] = {}
    for r in rows if isinstance(rows, list) else []:
        if not isinstance(r, dict) or not r.get("instId"):
            continue
        v = _f(r.get(key), math.nan)
        if math.isfinite(v) and v > 0:
            out[str(r["instId"])] = v
    return out


def _first_code(r: dict[str, Any]) -> str:
    data = r.get("data") or []
    return str(data[0].get("sCode") or r.get("code")) if data and isinstance(data[0], dict) else str(r.get("code"))


def _first_msg(r: dict[str, Any]) -> str:
    data = r.get("data") or []
    return str(data[0].get("sMsg") or r.get("msg")) if data and isinstance(data[0], dict) else str(r.get("msg"))


def _check_code(r: dict[str, Any], what: str) -> None:
    if str(r["code"]) != "0":
        code = _first_code(r)
        raise ApiError(f"{what}: OKX {code} {_first_msg(r)}", code)
