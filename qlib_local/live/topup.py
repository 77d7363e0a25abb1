"""The fee top-up: keep enough of the venue's fee-discount coin (BNB on Binance USDⓈ-M) in the
futures wallet to pay the next ``days`` of fees at the discount.

After a run's ``record``: estimate the daily fee from the ledger's fills, compare ``days`` of it
with the coin already in the futures wallet, and when short buy the difference on spot
(a market buy by quote amount, clamped to ``[min_usdt, max_usdt]``), move what was bought to
the futures wallet and turn fee payment in the coin on.

Money moves twice, so each step is recorded before and after it in ``fee_topups``:
``buying`` (row written before the order is sent, with a client id fixed by account and bar)
-> ``bought`` (the exchange filled it) -> ``done`` (moved). A rerun first finishes what an
earlier run left: a ``buying`` row is looked up on the exchange by its client id (never sent
again), a ``bought`` row is moved. A bar that has a row is never bought for again.
Transfers carry no client id, so the amount moved is the smaller of what was bought and what
the spot wallet still holds: a transfer that went through unheard moves nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from qlib_local.ledger import Ledger
from qlib_local.ledger.file import now_ms
from qlib_local.live.errors import Ambiguous, VenueError
from qlib_local.live.topup_config import TopupConfig
from qlib_local.live.venue import IdRule
from qlib_local.timeframes import DAY_MS

log = logging.getLogger(__name__)
FEE_LOOKBACK_DAYS = 7  # fills read back this far for the daily fee estimate
QTY_DECIMALS = 8  # spot and transfer amounts are sent with at most 8 decimals (Binance's asset precision)


@dataclass(frozen=True)
class SpotOrder:
    """A spot market order as the exchange reports it: the coin bought (before the spot fee) and the cost."""

    cl_ord_id: str
    filled: float
    cost: float
    final: bool


class FeeTopupPort(Protocol):
    """The venue calls a top-up needs; adapters whose caps say ``fee_topup`` implement them."""

    fee_asset: str  # the coin fees are paid in at a discount ("BNB")
    fee_symbol: str  # its spot market against the quote ("BNBUSDT")
    quote_asset: str  # what buys it ("USDT")

    def fee_asset_price(self) -> float: ...
    def futures_free(self, asset: str) -> float: ...
    def spot_free(self, asset: str) -> float: ...
    def spot_order(self, cl_ord_id: str) -> SpotOrder | None: ...
    def spot_market_buy(self, quote: float, cl_ord_id: str) -> SpotOrder: ...
    def transfer_to_futures(self, asset: str, amount: float) -> str: ...
    def fee_burn(self) -> bool: ...
    def set_fee_burn(self, on: bool) -> None: ...


@dataclass
class TopupOutcome:
    """What one top-up step did: lines for the run's events, alerts for the notification."""

    spent: float = 0.0
    moved: float = 0.0
    lines: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- the decision
def daily_fee(fills: pd.DataFrame, now: int, fee_rate: float, ct_val: Mapping[str, float] | None = None,
              lookback_days: int = FEE_LOOKBACK_DAYS) -> float:
    """Estimated fees per day in the quote currency: the notional the account traded over the last
    ``lookback_days`` (fills' ``|price * size * contract value|``) per day, times ``fee_rate``.

    Notional, not the ledger's fee column: once fees are paid in the coin that column is in the
    coin, and the point is to know what fees would cost."""
    if fills.empty or fee_rate == 0:
        return 0.0
    recent = fills[(fills["ts"] > now - lookback_days * DAY_MS) & (fills["ts"] <= now)]
    ct = (ct_val or {})
    notional = sum(abs(float(r.fill_px) * float(r.fill_sz) * ct.get(str(r.inst_id), 1.0))
                   for r in recent.itertuples(index=False))
    per_day = notional * fee_rate / lookback_days
    return per_day if math.isfinite(per_day) else 0.0


def topup_quote(held: float, price: float, fee_per_day: float, cfg: TopupConfig) -> float:
    """How much quote currency to spend now: 0 when the coin held covers ``cfg.days`` of fees,
    else the shortfall clamped to ``[min_usdt, max_usdt]``. Anything not finite or negative
    (a bad balance or price) spends nothing."""
    values = (held, price, fee_per_day)
    if not all(math.isfinite(v) and v >= 0 for v in values) or price == 0:
        return 0.0
    short = cfg.days * fee_per_day - held * price
    if short <= 0:
        return 0.0
    return round(min(max(short, cfg.min_usdt), cfg.max_usdt), 2)


def topup_id(account: str, bar_ts: int, rule: IdRule) -> str:
    """The spot buy's client id: fixed by (account, bar), so a rerun can find the order."""
    cl = "qlt" + hashlib.sha256(f"{account}|{bar_ts}".encode()).hexdigest()[: rule.max_len - 3]
    if not rule.allows(cl):
        raise ValueError(f"top-up client id {cl!r} breaks the venue's id rule")
    return cl


# ---------------------------------------------------------------------- the ledger
def _rows(ledger: Ledger, sql: str, params: tuple) -> pd.DataFrame:
    return ledger.query(f"SELECT * FROM fee_topups WHERE {sql} ORDER BY created_at, cl_ord_id", params)


def topups(ledger: Ledger, account: str) -> pd.DataFrame:
    """Every top-up of ``account``, oldest first."""
    return _rows(ledger, "account=?", (account,))


def _update(ledger: Ledger, cl: str, **changes: object) -> None:
    cols = ", ".join(f"{k}=?" for k in changes)
    with ledger.tx() as c:
        c.execute(f"UPDATE fee_topups SET {cols}, updated_at=? WHERE cl_ord_id=?", (*changes.values(), now_ms(), cl))


def _insert(ledger: Ledger, cl: str, account: str, bar_ts: int, port: FeeTopupPort, quote: float) -> bool:
    with ledger.tx() as c:
        t = now_ms()
        cur = c.execute("INSERT OR IGNORE INTO fee_topups (cl_ord_id, account, bar_ts, asset, symbol, quote, state, "
                        "created_at, updated_at) VALUES (?,?,?,?,?,?,'buying',?,?)",
                        (cl, account, bar_ts, port.fee_asset, port.fee_symbol, quote, t, t))
        return cur.rowcount == 1


# ---------------------------------------------------------------------- the step
def _move(port: FeeTopupPort, ledger: Ledger, cl: str, bought: float, out: TopupOutcome) -> None:
    """Move what was bought (no more than the spot wallet holds) to the futures wallet."""
    on_spot = port.spot_free(port.fee_asset)
    amount = math.floor(min(bought, on_spot) * 10**QTY_DECIMALS) / 10**QTY_DECIMALS
    if amount <= 0:
        _update(ledger, cl, state="done", moved=0.0, note=f"no {port.fee_asset} left on spot: moved earlier")
        out.lines.append(f"top-up {cl}: nothing left on spot to move (moved earlier)")
        return
    tran = port.transfer_to_futures(port.fee_asset, amount)
    _update(ledger, cl, state="done", moved=amount, tran_id=tran)
    out.moved += amount
    out.lines.append(f"moved {amount:g} {port.fee_asset} from spot to the futures wallet (transfer {tran})")


def _resume(port: FeeTopupPort, ledger: Ledger, account: str, out: TopupOutcome) -> bool:
    """Finish top-ups an earlier run left half-done; True when there were any."""
    todo = _rows(ledger, "account=? AND state IN ('buying', 'bought')", (account,))
    for r in todo.itertuples(index=False):
        cl, qty = str(r.cl_ord_id), r.qty
        if r.state == "buying":
            o = port.spot_order(cl)
            if o is None:  # never reached the exchange: nothing was bought
                _update(ledger, cl, state="not_placed", note="the exchange does not know the order")
                out.lines.append(f"top-up {cl}: the buy never reached the exchange")
                continue
            if not o.final:
                out.alerts.append(f"top-up {cl}: spot order still open; left for the next run")
                continue
            _update(ledger, cl, state="bought", qty=o.filled, cost=o.cost)
            out.lines.append(f"top-up {cl}: found the earlier buy of {o.filled:g} {port.fee_asset} "
                             f"for {o.cost:.2f} {port.quote_asset}")
            qty = o.filled
        _move(port, ledger, cl, float(qty), out)
    return not todo.empty


def run_topup(port: FeeTopupPort, ledger: Ledger, account: str, bar_ts: int, cfg: TopupConfig, now: int,
              ct_val: Mapping[str, float] | None = None) -> TopupOutcome:
    """One top-up for ``bar_ts`` (see the module docstring). Venue errors propagate: the caller alerts."""
    out = TopupOutcome()
    if _resume(port, ledger, account, out):
        _fee_burn(port, out)
        return out  # one money move per run: the next run decides on fresh balances
    if not _rows(ledger, "account=? AND bar_ts=?", (account, bar_ts)).empty:
        out.lines.append("top-up: this bar was topped up already")
        return out
    per_day = daily_fee(ledger.fills(account), now, cfg.fee_rate, ct_val)
    held, price = port.futures_free(port.fee_asset), port.fee_asset_price()
    quote = topup_quote(held, price, per_day, cfg)
    if quote == 0:
        out.lines.append(f"top-up: {held:g} {port.fee_asset} (~{held * price:.2f} {port.quote_asset}) covers "
                         f"{cfg.days:g} day(s) of fees at ~{per_day:.2f} {port.quote_asset}/day")
        if held > 0:
            _fee_burn(port, out)  # the coin is there: pay with it
        return out
    cash = port.spot_free(port.quote_asset)
    if cash < quote:
        out.alerts.append(f"fee top-up needs {quote:.2f} {port.quote_asset} on spot, which holds {cash:.2f}: "
                          f"not buying {port.fee_asset}")
        return out
    cl = topup_id(account, bar_ts, port_rule(port))
    if not _insert(ledger, cl, account, bar_ts, port, quote):
        return out
    try:
        o = port.spot_market_buy(quote, cl)
    except Ambiguous as e:
        out.alerts.append(f"fee top-up buy {cl}: outcome unknown ({e}); the next run looks it up")
        return out
    except VenueError as e:
        _update(ledger, cl, state="failed", note=str(e)[:500])
        out.alerts.append(f"fee top-up buy {cl} refused: {e}")
        return out
    _update(ledger, cl, state="bought", qty=o.filled, cost=o.cost)
    out.spent = o.cost
    out.lines.append(f"bought {o.filled:g} {port.fee_asset} for {o.cost:.2f} {port.quote_asset} on spot "
                     f"(held {held:g}, fees ~{per_day:.2f}/day, {cfg.days:g} day(s) wanted)")
    _move(port, ledger, cl, o.filled, out)
    _fee_burn(port, out)
    return out


def _fee_burn(port: FeeTopupPort, out: TopupOutcome) -> None:
    if not port.fee_burn():
        port.set_fee_burn(True)
        out.lines.append(f"turned on paying fees in {port.fee_asset}")


def port_rule(port: FeeTopupPort) -> IdRule:
    """The id rule of the port's venue (its caps), for the client id."""
    caps = getattr(port, "caps", None)
    return caps.id_rule if caps is not None else IdRule(36, "A-Za-z0-9")
