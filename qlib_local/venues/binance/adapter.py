"""The venue port on Binance futures through ccxt's signed endpoints (``binanceusdm``, ``binancecoinm``).

ccxt signs, sends and paces nothing on its own here (its throttle is off: our pacer keeps
Binance's published weights); its ``handle_errors`` is replaced by :func:`parse.error_of`, so
every answer becomes a domain kind by Binance's own codes and statuses, whatever the URL.
Paper mode points every ccxt URL at the local exchange (paths kept); demo is Binance's demo
trading (``enable_demo_trading``: ccxt refuses the old futures testnet for private calls);
live is ccxt's real URLs. Placing is never retried here (the execution engine resends only
what the exchange is known not to have).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import ccxt

from qlib_local.live.errors import Ambiguous, ApiError, ConfigError, Unavailable, VenueError
from qlib_local.live.retry import RetryPolicy, call_with_retry
from qlib_local.live.types import (
    Ack,
    Balance,
    FillInfo,
    FundingInfo,
    Kind,
    OrderRequest,
    OrderStatus,
    PositionInfo,
)
from qlib_local.live.venue import LONG_SHORT_MODE, NET_MODE, VenueCaps, sane_quotes
from qlib_local.specs import InstrumentSpec
from qlib_local.venues.binance import parse
from qlib_local.venues.binance.caps import COINM, COINM_CAPS, USDM, USDM_CAPS, Family
from qlib_local.venues.binance.topup import BinanceFeeTopup
from qlib_local.venues.pacing import Pacer

if TYPE_CHECKING:
    from qlib_local.live.accounts import AccountConfig, AccountSecrets

log = logging.getLogger(__name__)
logging.getLogger("ccxt.base.exchange").setLevel(logging.INFO)  # its debug lines carry the key header
_HOST = re.compile(r"^[a-z]+://[^/]+")
PAGE = 1000  # userTrades, allOrders, income: the most rows one request returns
FILL_WORKERS = 8  # symbols listed at once by fills() (the pacer still keeps the weights)
NOT_PROCESSED = ("ConnectTimeout", "ConnectTimeoutError", "NewConnectionError")  # never reached the exchange


def local_urls(api: Any, base_url: str) -> Any:
    """Every URL of a ccxt ``urls['api']`` tree on ``base_url`` (the local exchange), paths kept."""
    if isinstance(api, dict):
        return {k: local_urls(v, base_url) for k, v in api.items()}
    if isinstance(api, str) and "://" in api:
        return _HOST.sub(base_url.rstrip("/"), api)
    return api


def client(kind: type[ccxt.Exchange], api_key: str, secret: str, mode: str, url: str, timeout_s: float,
           caps: VenueCaps) -> ccxt.Exchange:
    """A ccxt client for ``mode``: paper on ``url`` (loopback, checked at account load), demo trading,
    or the real endpoints. Errors are mapped by :func:`parse.error_of`, not ccxt's tables."""
    ex = kind({"apiKey": api_key, "secret": secret, "enableRateLimit": False, "timeout": int(timeout_s * 1000),
               "options": {"adjustForTimeDifference": False}})
    if mode == "paper":
        ex.urls["api"] = local_urls(ex.urls["api"], url)
    elif mode == "demo":
        ex.enable_demo_trading(True)

    def handle_errors(status: int, reason: str, url: str, method: str, headers: Any, body: Any, response: Any,
                      request_headers: Any, request_body: Any) -> None:
        err = parse.error_of(status, response if response is not None else body, f"{method} {_path(url)}", caps)
        if err is not None:
            raise err

    ex.handle_errors = handle_errors
    return ex


def _path(url: str) -> str:
    return _HOST.sub("", url).split("?")[0]


def transport_error(e: ccxt.BaseError, what: str) -> VenueError:
    """ccxt's transport failures: one that never reached the exchange was not processed; a timeout
    or a connection lost after sending may have been."""
    seen, todo = set(), [e]
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if type(x).__name__ in NOT_PROCESSED:
            return Unavailable(f"{what}: cannot connect ({type(x).__name__})")
        todo += [x.__cause__, x.__context__, getattr(x, "reason", None)]
        todo += [a for a in getattr(x, "args", ()) if isinstance(a, BaseException)]
    if isinstance(e, ccxt.RequestTimeout):
        return Ambiguous(f"{what}: no answer in time")
    return Ambiguous(f"{what}: connection failed ({type(e).__name__})")


def open_usdm(acct: AccountConfig, secrets: AccountSecrets, **kw: Any) -> BinanceVenue:
    return _open(ccxt.binanceusdm, USDM, USDM_CAPS, acct, secrets, **kw)


def open_coinm(acct: AccountConfig, secrets: AccountSecrets, **kw: Any) -> BinanceVenue:
    return _open(ccxt.binancecoinm, COINM, COINM_CAPS, acct, secrets, **kw)


def _open(kind: type[ccxt.Exchange], family: Family, caps: VenueCaps, acct: AccountConfig, secrets: AccountSecrets,
          *, timeout_s: float = 5.0, retry: RetryPolicy | None = None, pace: bool = True,
          reuse: bool = True) -> BinanceVenue:
    if acct.mode == "paper" and not acct.url:
        raise ConfigError(f"account {acct.name}: paper mode needs the local exchange's url")
    ex = client(kind, secrets.api_key.reveal(), secrets.secret_key.reveal(), acct.mode, acct.url, timeout_s, caps)
    return BinanceVenue(ex, family, caps, retry=retry, pace=pace)


class BinanceVenue(BinanceFeeTopup):
    """One Binance futures account through ccxt: the :class:`qlib_local.live.venue.Venue` port (and, where
    the caps say ``fee_topup``, the BNB top-up port)."""

    def __init__(self, ex: ccxt.Exchange, family: Family, caps: VenueCaps, retry: RetryPolicy | None = None,
                 pace: bool = True):
        self.ex, self.family, self.caps = ex, family, caps
        self.retry = retry or RetryPolicy()
        self.pacer = Pacer(caps.pacing, enabled=pace)
        self.requests = 0
        self._lock = threading.Lock()
        self._cl_of: dict[str, str] = {}  # orderId -> our client id, from orders looked up or listed

    def close(self) -> None:
        session = getattr(self.ex, "session", None)
        if session is not None:
            session.close()

    # ------------------------------------------------------------------ transport
    def once(self, name: str, params: dict[str, Any], what: str, inst: str = "", items: int = 1) -> Any:
        """One signed request through ccxt, no retry: the decoded answer or a mapped VenueError."""
        e = self.family[name]
        slot = self.pacer.acquire(e.method, e.path, inst, items)
        with self._lock:
            self.requests += 1
        try:
            return getattr(self.ex, e.ccxt)(params)
        except VenueError as err:  # mapped by parse.error_of in ccxt's handle_errors; name what it was
            raise type(err)(f"{what}: {err}", err.code, err.status, err.kind) from None
        except ccxt.BaseError as err:
            raise transport_error(err, what) from None
        finally:
            self.pacer.done(slot)

    def call(self, name: str, params: dict[str, Any], what: str, inst: str = "") -> Any:
        """An idempotent request, retried on rate limits, outages, clock skew and unknown outcomes."""
        return call_with_retry(lambda: self.once(name, dict(params), what, inst), what, self.retry)

    # ------------------------------------------------------------------ public
    def server_time_ms(self) -> int:
        return int(parse.num(self.call("time", {}, "server time").get("serverTime"), 0.0))

    def instruments(self) -> dict[str, InstrumentSpec]:
        info = self.call("exchange_info", {}, "instruments")
        brackets = self.call("leverage_bracket", {}, "leverage brackets")
        funding = self.call("funding_info", {}, "funding intervals")
        return parse.specs_from(info, brackets, funding, self.family.inverse)

    def last_prices(self) -> dict[str, float]:
        return parse.prices(self.call("ticker_price", {}, "last prices"), "price")

    def quotes(self) -> dict[str, tuple[float, float]]:
        """Best bid and ask of every symbol (one ``ticker/bookTicker`` call); insane pairs left out."""
        rows = self.call("book_ticker", {}, "best bid and ask")
        return sane_quotes(parse.prices(rows, "bidPrice"), parse.prices(rows, "askPrice"))

    def mark_prices(self) -> dict[str, float]:
        return parse.prices(self.call("premium_index", {}, "mark prices"), "markPrice")

    # ------------------------------------------------------------------ account
    def position_mode(self) -> str:
        r = self.call("position_mode", {}, "position mode")
        return LONG_SHORT_MODE if r.get("dualSidePosition") in (True, "true") else NET_MODE

    def set_position_mode(self, mode: str) -> None:
        if mode not in self.caps.position_modes:
            raise ValueError(f"position mode must be one of {sorted(self.caps.position_modes)}, got {mode!r}")
        self._setting("set_position_mode", {"dualSidePosition": "true" if mode == LONG_SHORT_MODE else "false"},
                      f"set position mode {mode}")

    def set_leverage(self, inst_id: str, lever: float, mgn_mode: str, pos_side: str = "") -> None:
        """Margin type, then leverage (a whole number on Binance) for the symbol; both sides share it."""
        if lever != int(lever) or lever < 1:
            raise ValueError(f"{inst_id}: Binance leverage is a whole number >= 1, got {lever}")
        margin = {"cross": "CROSSED", "isolated": "ISOLATED"}[mgn_mode]
        self._setting("set_margin_type", {"symbol": inst_id, "marginType": margin}, f"set {mgn_mode} margin on {inst_id}",
                      inst_id)
        self._setting("set_leverage", {"symbol": inst_id, "leverage": int(lever)},
                      f"set leverage {int(lever)}x on {inst_id}", inst_id)

    def _setting(self, name: str, params: dict[str, Any], what: str, inst: str = "") -> None:
        """A setting change; "no need to change" is success (idempotent by construction)."""
        try:
            self.call(name, params, what, inst)
        except ApiError as e:
            if e.kind != Kind.NO_CHANGE:
                raise

    def balance(self, ccy: str | None = None) -> Balance:
        ccy = ccy or self.caps.settle_ccy
        if not ccy:
            raise ValueError(f"{self.caps.name}: balances are per coin; name the coin")
        return parse.balance_from_account(self.call("account", {}, "balance"), ccy)

    def positions(self) -> list[PositionInfo]:
        rows = self.call("position_risk", {}, "positions")
        return [p for p in (parse.position_from_risk(r) for r in rows if isinstance(r, dict)) if p is not None]

    def funding(self, since_ms: int, inst_ids: Collection[str] = ()) -> list[FundingInfo]:
        """Funding payments at or after ``since_ms`` (``income``, FUNDING_FEE), oldest first."""
        out: dict[str, FundingInfo] = {}
        start = since_ms
        while True:
            rows = self.call("income", {"incomeType": "FUNDING_FEE", "startTime": start, "limit": PAGE}, "funding")
            for r in rows:
                f = parse.funding_from_income(r)
                if not inst_ids or f.inst_id in inst_ids:
                    out[f.bill_id] = f
            if len(rows) < PAGE:
                return sorted(out.values(), key=lambda f: f.ts)
            start = max(int(parse.num(r.get("time"), 0.0)) for r in rows)

    # ------------------------------------------------------------------ orders
    def place_batch(self, orders: list[OrderRequest], pos_mode: str) -> list[Ack]:
        """One batchOrders request (no retry); answers come back in the order sent."""
        if not 0 < len(orders) <= self.caps.max_batch:
            raise ValueError(f"a batch holds 1..{self.caps.max_batch} orders, got {len(orders)}")
        items = [parse.order_item(o, pos_mode, self.caps) for o in orders]
        answer = self.once("batch_orders", {"batchOrders": items}, f"place {len(orders)} order(s)",
                           orders[0].inst_id, items=len(orders))
        rows = answer if isinstance(answer, list) else []
        return [parse.ack_from_item(o.cl_ord_id, rows[i] if i < len(rows) else None, self.caps)
                for i, o in enumerate(orders)]

    def order(self, inst_id: str, cl_ord_id: str) -> OrderStatus | None:
        """The order with this client id, or None when the exchange does not know it (-2013)."""
        try:
            r = self.call("order", {"symbol": inst_id, "origClientOrderId": cl_ord_id}, f"order {cl_ord_id}", inst_id)
        except ApiError as e:
            if e.kind == Kind.UNKNOWN_ORDER:
                return None
            raise
        return self._known(parse.status_from_order(r))

    def pending_orders(self) -> list[OrderStatus]:
        return [self._known(parse.status_from_order(r)) for r in self.call("open_orders", {}, "pending orders")]

    def _known(self, st: OrderStatus) -> OrderStatus:
        """Remember an order's client id by its exchange id (trades name only the latter)."""
        if st.ord_id and st.cl_ord_id:
            with self._lock:
                self._cl_of[st.ord_id] = st.cl_ord_id
        return st

    def cancel(self, inst_id: str, cl_ord_id: str) -> bool:
        """Cancel by client id; False when it was already final or unknown (-2011)."""
        try:
            self.call("cancel", {"symbol": inst_id, "origClientOrderId": cl_ord_id}, f"cancel {cl_ord_id}", inst_id)
        except ApiError as e:
            if e.kind == Kind.UNKNOWN_ORDER:
                return False
            raise
        return True

    def fills(self, since_ms: int, inst_ids: Collection[str] = ()) -> list[FillInfo]:
        """Fills at or after ``since_ms`` of ``inst_ids``. Binance lists trades per symbol, without the
        client id: the orders this adapter looked up name them, and a symbol's orders since then are
        listed only when a trade's order is not one of those. Symbols are listed a few at a time."""
        insts = sorted(set(inst_ids))
        if not insts:
            return []
        with ThreadPoolExecutor(min(FILL_WORKERS, len(insts))) as pool:
            out = [f for fs in pool.map(lambda inst: self._fills_of(inst, since_ms), insts) for f in fs]
        return sorted(out, key=lambda f: f.ts, reverse=True)

    def _fills_of(self, inst: str, since_ms: int) -> list[FillInfo]:
        trades = self._paged("user_trades", inst, since_ms, "id")
        with self._lock:
            cl_of = dict(self._cl_of)
        if any(str(t.get("orderId")) not in cl_of for t in trades):
            listed = {str(r["orderId"]): str(r.get("clientOrderId") or "")
                      for r in self._paged("all_orders", inst, since_ms, "orderId")}
            cl_of.update(listed)
            with self._lock:
                self._cl_of.update({k: v for k, v in listed.items() if v})
        return [parse.fill_from_trade(t, cl_of) for t in trades]

    def _paged(self, name: str, inst: str, since_ms: int, id_key: str) -> list[dict[str, Any]]:
        """Every row of a per-symbol listing from ``since_ms``, paging forward by id."""
        params: dict[str, Any] = {"symbol": inst, "startTime": since_ms, "limit": PAGE}
        rows: list[dict[str, Any]] = []
        while True:
            page = self.call(name, params, f"{name.replace('_', ' ')} of {inst}", inst)
            rows += [r for r in page if isinstance(r, dict)]
            if len(page) < PAGE:
                return rows
            params = {"symbol": inst, "fromId" if name == "user_trades" else "orderId":
                      int(parse.num(page[-1][id_key], 0.0)) + 1, "limit": PAGE}

    def __repr__(self) -> str:
        return f"BinanceVenue({self.caps.name})"

