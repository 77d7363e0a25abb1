"""The venue port on OKX V5 through python-okx (OrderRequest in, Ack/OrderStatus/... out).

Reads are idempotent and retried by :class:`OkxHttp`; placing orders is not retried here:
the execution engine decides, because a resend is only safe once the exchange has said
the clOrdId is unknown. ``open_okx`` is what the registry calls for ``exchange: okx``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from qlib_local.live.errors import ApiError, ConfigError
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.types import (
    NET,
    Ack,
    Balance,
    FillInfo,
    FundingInfo,
    OrderRequest,
    OrderStatus,
    PositionInfo,
)
from qlib_local.live.venue import order_flags, sane_quotes
from qlib_local.specs import InstrumentSpec
from qlib_local.venues.okx.caps import CAPS, DEFAULT_URL, kind_of
from qlib_local.venues.okx.http import OkxHttp
from qlib_local.venues.okx.specs import live_swaps

if TYPE_CHECKING:
    from qlib_local.live.accounts import AccountConfig, AccountSecrets

MAX_BATCH = CAPS.max_batch
ORDER_NOT_FOUND = "51603"
FUNDING_BILL = "8"  # account/bills type: funding fee


def endpoint(acct: AccountConfig) -> tuple[str, str]:
    """(REST domain, python-okx flag) of an account: the local exchange in paper mode, else the
    account's url or www.okx.com; flag "1" sends x-simulated-trading (paper and OKX demo)."""
    domain = acct.url if acct.mode == "paper" else (acct.url or DEFAULT_URL)
    return domain, "0" if acct.mode == "live" else "1"


def open_okx(acct: AccountConfig, secrets: AccountSecrets, *, timeout_s: float = 5.0,
             retry: RetryPolicy | None = None, pace: bool = True, reuse: bool = True) -> OkxVenue:
    """The account's OKX venue (python-okx clients are shared per credentials unless ``reuse=False``)."""
    if secrets.passphrase is None:
        raise ConfigError(f"account {acct.name}: OKX needs a passphrase")
    domain, flag = endpoint(acct)
    return OkxVenue(OkxHttp(secrets.api_key.reveal(), secrets.secret_key.reveal(), secrets.passphrase.reveal(),
                            domain, flag, timeout_s=timeout_s, retry=retry, pace=pace, reuse=reuse))


def fmt(x: float) -> str:
    """A size as OKX expects it: positional, no float noise."""
    return np.format_float_positional(round(float(x), 10), trim="-")


def _f(v: Any, default: float = 0.0) -> float:
    try:
        return float(v) if v not in (None, "") else default
    except (TypeError, ValueError):
        return default


def order_body(o: OrderRequest, pos_mode: str) -> dict[str, str]:
    """The batch-orders item; ``reduceOnly`` and ``posSide`` where the capabilities say they apply."""
    body = {"instId": o.inst_id, "tdMode": o.td_mode, "side": o.side, "ordType": o.ord_type, "sz": fmt(o.sz),
            "clOrdId": o.cl_ord_id}
    if o.ord_type != "market":
        if o.px is None:
            raise ValueError(f"{o.cl_ord_id}: a {o.ord_type} order needs a price")
        body["px"] = fmt(o.px)
    pos_side, reduce_only = order_flags(o, pos_mode, CAPS)
    if pos_side is not None:
        body["posSide"] = pos_side
    if reduce_only:
        body["reduceOnly"] = "true"
    return body


def ack_from_item(cl_ord_id: str, item: dict[str, Any] | None, envelope: dict[str, Any]) -> Ack:
    """One order's answer in a batch-orders envelope (none: the envelope's code speaks for it)."""
    if item is None:
        code = str(envelope.get("code"))
        return Ack(cl_ord_id, "", kind_of(code), code, str(envelope.get("msg") or "no answer for this order"))
    code = str(item.get("sCode"))
    return Ack(cl_ord_id, str(item.get("ordId") or ""), kind_of(code), code, str(item.get("sMsg") or ""))


def funding_from_row(r: dict[str, Any]) -> FundingInfo:
    """A funding-fee bill (``account/bills`` type 8): ``balChg`` is what the account received.
    Money is never guessed: a bill whose amount or time is not a number fails the run."""
    amount, ts = _f(r.get("balChg"), math.nan), _f(r.get("ts"), math.nan)
    if not (math.isfinite(amount) and math.isfinite(ts)):
        raise ApiError(f"funding bill {r.get('billId')}: balChg {r.get('balChg')!r} / ts {r.get('ts')!r} is not a number")
    return FundingInfo(bill_id=str(r["billId"]), inst_id=str(r.get("instId") or ""), amount=amount,
                       ccy=str(r.get("ccy") or ""), ts=int(ts))


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
    """One OKX account through python-okx: the :class:`qlib_local.live.venue.Venue` port."""

    caps = CAPS

    def __init__(self, http: OkxHttp):
        self.http = http

    @property
    def requests(self) -> int:
        return self.http.requests

    def close(self) -> None:
        self.http.close()

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

    def quotes(self) -> dict[str, tuple[float, float]]:
        """Best bid and ask of every swap (one ``market/tickers`` call); pairs that are not two finite
        positive prices with bid < ask are left out."""
        r = self.http.call("GET", "/api/v5/market/tickers", lambda: self.http.market.get_tickers("SWAP"), "tickers")
        return sane_quotes(_prices(r["data"], "bidPx"), _prices(r["data"], "askPx"))

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
        return [ack_from_item(o.cl_ord_id, by_cl.get(o.cl_ord_id), r) for o in orders]

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
            raise ApiError(f"{what}: OKX {code} {_first_msg(r)}", code, kind=kind_of(code))
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

    def fills(self, since_ms: int, inst_ids: Collection[str] = ()) -> list[FillInfo]:
        """Fills at or after ``since_ms``, newest first, paging back by bill id (every swap: one
        listing serves all instruments, so ``inst_ids`` needs no request of its own)."""
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

    def funding(self, since_ms: int, inst_ids: Collection[str] = ()) -> list[FundingInfo]:
        """Funding payments at or after ``since_ms`` (``account/bills`` type 8), newest first."""
        out: list[FundingInfo] = []
        after = ""
        while True:
            r = self.http.call("GET", "/api/v5/account/bills",
                               lambda a=after: self.http.account.get_account_bills(
                                   instType="SWAP", type=FUNDING_BILL, after=a, limit="100"), "funding bills")
            rows = r["data"]
            for x in rows:
                f = funding_from_row(x)
                if f.ts < since_ms:
                    return out
                if not inst_ids or f.inst_id in inst_ids:
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
        raise ApiError(f"{what}: OKX {code} {_first_msg(r)}", code, kind=kind_of(code))
