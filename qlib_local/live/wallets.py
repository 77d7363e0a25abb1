"""A COIN-M account of several coins, live: one wallet per coin, the account valued in USD.

Each coin's wallet (BTC for BTCUSD_PERP, ETH for ETHUSD_PERP) margins only its own swaps. The
account's equity, what the model sizes from, is ``sum over coins of (wallet + unrealized PnL)
x the coin's price`` (the mark of the coin's swap, in USD per coin), as the backtest values it.
Per-strategy equity follows the backtest too: each strategy owns its capital share of every
wallet, plus the PnL, fees and funding of its own contracts in each coin, valued in USD.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd

from qlib_local.ledger import Ledger
from qlib_local.live.book import StepResult, attribute_equity
from qlib_local.live.errors import LiveError
from qlib_local.live.types import Balance
from qlib_local.live.venue import Venue
from qlib_local.research import Model

USD = "USD"


def pricing_instruments(model: Model) -> dict[str, str]:
    """Coin -> the swap whose price is that coin's USD price (its first inverse swap)."""
    out: dict[str, str] = {}
    for inst, k in zip(model.instruments, model.coin_of, strict=True):
        out.setdefault(model.coins[int(k)], inst)
    return out


def coin_prices(model: Model, marks: Mapping[str, float], last: Mapping[str, float]) -> dict[str, float]:
    """Coin -> USD per coin: the mark of its swap (the last price when the venue gives no mark)."""
    out = {}
    for coin, inst in pricing_instruments(model).items():
        px = marks.get(inst, last.get(inst))
        if px is None or not math.isfinite(px) or px <= 0:
            raise LiveError(f"no mark or last price of {inst} to value the {coin} wallet in USD")
        out[coin] = float(px)
    return out


def fetch_wallets(venue: Venue, coins: list[str]) -> dict[str, Balance]:
    """Each coin's balance (equity = wallet + unrealized PnL, in the coin)."""
    return {c: venue.balance(c) for c in coins}


def usd_balance(wallets: Mapping[str, Balance], usd: Mapping[str, float]) -> Balance:
    """The account's equity, available and unrealized PnL in USD at the coins' prices."""
    total = sum(b.total_eq * usd[c] for c, b in wallets.items())
    avail = sum(b.avail_eq * usd[c] for c, b in wallets.items())
    upl = sum(b.upl * usd[c] for c, b in wallets.items())
    return Balance(total, avail, upl, ccy=USD, eq_usd=total)


def strategy_wallets(model: Model, first: Mapping[str, Balance] | None, prev: Mapping[tuple[str, str], float],
                     prev_hold: pd.DataFrame | None, new_hold: pd.DataFrame, prev_px: pd.Series, px: pd.Series,
                     fees_paid: pd.Series, funding: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """(strategy, coin) -> the strategy's part of the coin's wallet after this bar.

    First bar (``first``: the wallets before trading): each strategy's capital share of every
    wallet. Later bars: the previous part plus, in the coin, the PnL of the strategy's contracts in
    the coin's swaps since the last bar, minus its share of their fees, plus its funding."""
    sids = model.strategies
    if first is not None:
        return {(s, c): first[c].total_eq * model.cfg.strategy(s).position for s in sids for c in model.coins}
    out = {}
    ct = pd.Series({i: sp.ct_val for i, sp in zip(model.instruments, model.specs, strict=True)})
    inverse = pd.Series(True, index=model.instruments)
    for k, coin in enumerate(model.coins):
        insts = [i for i, c in zip(model.instruments, model.coin_of, strict=True) if c == k]
        before = {s: prev.get((s, coin), 0.0) for s in sids}
        fund = pd.Series({s: funding.get((s, coin), 0.0) for s in sids}, dtype=float)
        held = prev_hold.reindex(columns=insts).fillna(0.0) if prev_hold is not None else new_hold[insts] * 0.0
        part = attribute_equity(before, held, new_hold[insts], prev_px.reindex(insts), px.reindex(insts),
                                ct.reindex(insts), fees_paid.reindex(insts).fillna(0.0), inverse.reindex(insts), fund)
        out.update({(s, coin): v for s, v in part.items()})
    return out


def strategy_usd(parts: Mapping[tuple[str, str], float], usd: Mapping[str, float]) -> dict[str, float]:
    """Per-strategy equity in USD: its part of each wallet at the coin's price."""
    out: dict[str, float] = {}
    for (s, coin), v in parts.items():
        out[s] = out.get(s, 0.0) + v * usd[coin]
    return out


def strategy_equity_usd(ledger: Ledger, account: str, bar_ms: int, prev: dict | None, model: Model,
                        result: StepResult, wallets_before: Mapping[str, Balance],
                        fees_paid: Callable[[], pd.Series], usd: Mapping[str, float]) -> dict[str, float]:
    """This bar's per-strategy USD equity; records each strategy's part of every wallet in the
    ledger (``strategy_wallets``), which the next bar starts from."""
    parts = ledger.strategy_wallets(account, prev["bar_ts"]) if prev is not None else {}
    if prev is None or not parts:
        new = strategy_wallets(model, wallets_before, {}, None, result.targets, result.prices, result.prices,
                               pd.Series(dtype=float), {})
    else:
        new = strategy_wallets(model, None, parts, prev["targets"], result.targets,
                               pd.Series(prev["prices"], dtype=float).reindex(model.instruments),
                               result.prices.reindex(model.instruments), fees_paid(),
                               ledger.strategy_funding_by_ccy(account, bar_ms))
    ledger.record_strategy_wallets(account, bar_ms, new)
    return strategy_usd(new, usd)
