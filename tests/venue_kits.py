"""What a venue-parametrized live test needs from one venue's local exchange, as data and helpers.

The live tests are written against the venue port and the account config only; everything
venue-specific they touch lives here: the account's ``exchange`` value (also the store's
folder), instrument ids, the paths the tests put faults and rate limits on, the raw codes
the local exchange answers with (asserted beside the domain kinds, so a wrong mapping
fails), and a client a person trading by hand would use (the venue's own library, not our
adapter). ``LOCAL_KITS`` lists the venues that have a local exchange: OKX and Binance USDⓈ-M.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ccxt
import okx.Trade

from qlib_local.live.types import Kind
from qlib_local.sim import LocalExchange
from qlib_local.sim.binance import BinanceExchange
from qlib_local.sim.ratelimit import Rule
from qlib_local.specs import InstrumentSpec
from qlib_local.synth_perp import first_tier_rate, margin_tiers

USD_PER_CONTRACT = {"BTC": 100.0}  # Binance COIN-M: BTC 100 USD a contract, every other coin 10


@dataclass(frozen=True)
class VenueKit:
    exchange: str  # the account's `exchange`, the strategies' `exchange`, the store's folder
    inst: Callable[[str], str]  # coin -> the venue's swap id ("BTC" -> "BTC-USDT-SWAP")
    paths: Mapping[str, str]  # "place", "lookup" -> the request path faults attach to
    codes: Mapping[str, str]  # a Kind's value (or "unavailable": a 5xx) -> the raw code the exchange answers
    local_exchange: Callable[[Path, str], Any] | None  # (store root, start) -> a local exchange, not started
    storm: Callable[[Any, bool], None]  # refuse every order placement (rate limit), or stop refusing
    by_hand: Callable[[Any, Any], ByHand]  # (local exchange, its account) -> a manual trader
    coin_contracts: bool = False  # linear quantities are coins (Binance): one coin a contract
    ids_unique_after_final: bool = True  # as the adapter's caps: False = every id is looked up before sending
    inverse: bool = False  # coin-margined: USD contracts settling in their coin, balances per coin
    every_test: bool = True  # False: only the tests marked ``every_kit`` run on it (suite time)
    usd_value: bool = True  # a coin balance comes with its USD value (OKX's eqUsd; Binance's has none)

    def __str__(self) -> str:
        return self.exchange

    def open(self, root: Path, start: str) -> Any:
        if self.local_exchange is None:
            raise NotImplementedError(f"{self.exchange}: no local exchange yet")
        return self.local_exchange(root, start)

    def code(self, kind: Kind | str) -> str:
        return self.codes[str(kind)]

    def rename(self, synthetic_id: str) -> str:
        """The venue's id of one of the generator's swaps (``BTC-USDT-SWAP``)."""
        return self.inst(synthetic_id.split("-")[0])

    @staticmethod
    def usd_per_contract(coin: str) -> float:
        return USD_PER_CONTRACT.get(coin, 10.0)

    def spec(self, synthetic: InstrumentSpec, price: float | None = None) -> InstrumentSpec:
        """The venue's spec of one of the generator's swaps: renamed; where a linear contract is one
        coin (Binance) the same lots in coins, so an order's notional is what it is on OKX; on a
        coin-margined venue an inverse swap of USD contracts (``price``: the coin's, for its tiers)."""
        if self.inverse:
            coin = synthetic.inst_id.split("-")[0]
            if price is None:
                raise ValueError("an inverse spec needs the coin's price (its margin tiers are in the coin)")
            return InstrumentSpec(self.inst(coin), ct_val=self.usd_per_contract(coin), lot_sz=1.0, min_sz=1.0,
                                  tick_sz=synthetic.tick_sz, max_lever=synthetic.max_lever, ct_val_ccy="USD",
                                  settle_ccy=coin, ct_type="inverse", mmr=first_tier_rate(synthetic.max_lever),
                                  mm_tiers=margin_tiers(coin, synthetic.max_lever, usd_per_unit=price))
        spec = replace(synthetic, inst_id=self.rename(synthetic.inst_id))
        if self.coin_contracts and not spec.inverse:
            ct = spec.ct_val
            spec = replace(spec, ct_val=1.0, lot_sz=round(spec.lot_sz * ct, 12), min_sz=round(spec.min_sz * ct, 12))
        return spec

    def quantity(self, synthetic: InstrumentSpec, price: float, n: float) -> float:
        """The venue's quantity of ``n`` of the generator's contracts at ``price``: the same on OKX,
        coins on USDⓈ-M, whole USD contracts (at least one) of about the same notional on COIN-M."""
        if self.inverse:
            usd = n * synthetic.ct_val * price
            return float(max(1, round(usd / self.usd_per_contract(synthetic.inst_id.split("-")[0])))) if n else 0.0
        return round(n * synthetic.ct_val, 12) if self.coin_contracts else n

    def funds(self, usd: float, prices: Mapping[str, float]) -> dict[str, Any]:
        """``add_account`` keywords for ``usd`` of margin: USDT, or on a coin-margined venue ``usd``
        worth of every coin (``prices``: coin -> price)."""
        if self.inverse:
            return {"balances": {c: float(f"{usd / p:.4g}") for c, p in prices.items()}}  # off sizing's floor edges
        return {"usdt": usd}

    def settle_ccy(self, coin: str) -> str:
        """The currency a swap's balance, PnL and fees are in."""
        return coin if self.inverse else "USDT"


class ByHand:
    """Orders a person places by hand with the venue's own client (never through our adapter)."""

    def market(self, inst: str, side: str, sz: float, cl_ord_id: str | None = None, reduce_only: bool = False) -> None:
        raise NotImplementedError

    def limit(self, inst: str, side: str, sz: float, px: float, cl_ord_id: str | None = None) -> None:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------ OKX
class OkxByHand(ByHand):
    def __init__(self, exchange: LocalExchange, account: Any):
        self.t = okx.Trade.TradeAPI(account.api_key, account.secret, account.passphrase, flag="1",
                                    domain=exchange.url, debug=False)

    def market(self, inst: str, side: str, sz: float, cl_ord_id: str | None = None, reduce_only: bool = False) -> None:
        kw = {"clOrdId": cl_ord_id} if cl_ord_id else {}
        if reduce_only:
            kw["reduceOnly"] = "true"
        r = self.t.place_order(inst, "cross", side, "market", f"{sz:g}", **kw)
        assert r["code"] == "0", r

    def limit(self, inst: str, side: str, sz: float, px: float, cl_ord_id: str | None = None) -> None:
        kw = {"clOrdId": cl_ord_id} if cl_ord_id else {}
        r = self.t.place_order(inst, "cross", side, "limit", f"{sz:g}", px=f"{px:g}", **kw)
        assert r["code"] == "0", r


def _okx_storm(exchange: LocalExchange, on: bool) -> None:
    exchange.limiter.rules[("POST", "/api/v5/trade/batch-orders")] = Rule(0 if on else 300, 2, "user_inst")
    exchange.limiter.rules[("POST", "/api/v5/trade/order")] = Rule(0 if on else 60, 2, "user_inst")


OKX = VenueKit(
    exchange="okx",
    inst=lambda coin: f"{coin}-USDT-SWAP",
    paths={"place": "/api/v5/trade/batch-orders", "lookup": "/api/v5/trade/order"},
    codes={Kind.INSUFFICIENT_MARGIN.value: "51008", Kind.DUPLICATE_CLIENT_ID.value: "51016",
           Kind.RETRY_LATER.value: "50011", "unavailable": "50001"},
    local_exchange=lambda root, start: LocalExchange(root, start=start),
    storm=_okx_storm,
    by_hand=OkxByHand,
)


# ------------------------------------------------------------------------------ Binance USDⓈ-M
def _binance_storm(exchange: Any, on: bool) -> None:
    for path in ("/fapi/v1/batchOrders", "/fapi/v1/order"):
        exchange.limiter.storm("POST", path, on)


class BinanceByHand(ByHand):
    """ccxt's binanceusdm on the local exchange (every URL on it), as a manual trader would use ccxt."""

    kind = ccxt.binanceusdm
    api = "fapi"

    def __init__(self, exchange: Any, account: Any):
        from qlib_local.venues.binance.adapter import local_urls

        self.ex = self.kind({"apiKey": account.api_key, "secret": account.secret})
        self.ex.urls["api"] = local_urls(self.ex.urls["api"], exchange.url)

    def _post(self, params: dict[str, Any]) -> None:
        assert "orderId" in getattr(self.ex, f"{self.api}PrivatePostOrder")(params)

    def market(self, inst: str, side: str, sz: float, cl_ord_id: str | None = None, reduce_only: bool = False) -> None:
        params: dict[str, Any] = {"symbol": inst, "side": side.upper(), "type": "MARKET", "quantity": f"{sz:g}"}
        if cl_ord_id:
            params["newClientOrderId"] = cl_ord_id
        if reduce_only:
            params["reduceOnly"] = "true"
        self._post(params)

    def limit(self, inst: str, side: str, sz: float, px: float, cl_ord_id: str | None = None) -> None:
        params = {"symbol": inst, "side": side.upper(), "type": "LIMIT", "quantity": f"{sz:g}", "price": f"{px:g}",
                  "timeInForce": "GTC", **({"newClientOrderId": cl_ord_id} if cl_ord_id else {})}
        self._post(params)


BINANCE_USDM = VenueKit(
    exchange="binanceusdm",
    inst=lambda coin: f"{coin}USDT",
    paths={"place": "/fapi/v1/batchOrders", "lookup": "/fapi/v1/order"},
    codes={Kind.INSUFFICIENT_MARGIN.value: "-2019", Kind.DUPLICATE_CLIENT_ID.value: "-4116",
           Kind.RETRY_LATER.value: "-1003", "unavailable": "-1001"},  # a 5xx carries -1001 in its body
    local_exchange=lambda root, start: BinanceExchange(root, start=start, exchange="binanceusdm"),
    storm=_binance_storm,
    by_hand=BinanceByHand,
    coin_contracts=True,
    ids_unique_after_final=False,
    usd_value=False,
)


# ------------------------------------------------------------------------------ Binance COIN-M
class BinanceCoinmByHand(BinanceByHand):
    """ccxt's binancecoinm on the local exchange's /dapi."""

    kind = ccxt.binancecoinm
    api = "dapi"


def _coinm_storm(exchange: Any, on: bool) -> None:
    for path in ("/dapi/v1/batchOrders", "/dapi/v1/order"):
        exchange.limiter.storm("POST", path, on)


BINANCE_COINM = replace(
    BINANCE_USDM,
    exchange="binancecoinm",
    inst=lambda coin: f"{coin}USD_PERP",
    paths={"place": "/dapi/v1/batchOrders", "lookup": "/dapi/v1/order"},
    local_exchange=lambda root, start: BinanceExchange(root, start=start, exchange="binancecoinm"),
    storm=_coinm_storm,
    by_hand=BinanceCoinmByHand,
    coin_contracts=False,
    inverse=True,
    every_test=False,
)

LOCAL_KITS = [kit for kit in (OKX, BINANCE_USDM, BINANCE_COINM) if kit.local_exchange is not None]
