"""Execution-cost calibration: what a backtest charges for a style beside what paper runs pay.

The same strategies file runs twice over the same replayed bars: once through the backtest
(the kernel's fill model), once through the live path bar by bar against an in-process local
exchange in paper mode, the exchange's book set to the backtest's ``execution`` model by
:func:`book_for`. Each side's execution cost is reported in basis points of traded notional
(valued at the decision bar's close):

* backtest: the kernel's fee flow (fees + slippage + spread + impact, and for ``maker_first``
  and ``twap`` the move from the decision's close to each fill), over the decisions' notional;
* paper: from the ledger's fills, ``signed (fill price - the close the model traded at)`` plus
  the fees the exchange booked, over the same notional measure.

The two must agree within :data:`TOLERANCE` (``paper / backtest``). A ``maker_first`` deadline of
more than one base bar needs strategies deciding less often than that (e.g. a 3H rule on 1H base
bars, ``deadline_bars: 2``): the config refuses a deadline past the next decision, as live needs. The mapping of the models,
and why the backtest stays on the conservative side where they differ, is in :func:`book_for`; the
book quotes from the backtest's base bar (4H for a 4H rule at offset 0, however fine the replay's
bars). ``maker_first`` and ``twap`` are calibrated on base bars as fine as the replay's (a 4H rule at
offset 1h): on coarser ones paper re-prices, fills and slices on bars inside the backtest's bar,
which the backtest cannot see (docs/benchmarks.md, *4H decisions*).
This module lives in ops (not live/, which must not import the local exchange).
"""

from __future__ import annotations

import copy
import math
import secrets as _secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from qlib_local.backtest.engine import run_backtest
from qlib_local.ledger import Ledger
from qlib_local.live.accounts import AccountSecrets, Secret, load_account
from qlib_local.live.session import LiveSession
from qlib_local.perp.contracts import unit_notional, unit_value
from qlib_local.research import load_config
from qlib_local.research.config import ResearchConfig
from qlib_local.research.data import common_base
from qlib_local.research.execution import Execution
from qlib_local.research.kernels import FLOW_FEE
from qlib_local.sim import LocalExchange
from qlib_local.sim.binance import BinanceExchange
from qlib_local.sim.book import BookModel
from qlib_local.sim.matching import FeeModel
from qlib_local.specs import InstrumentSpec, load_specs, save_specs
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES, from_ms, parse_timeframe

TOLERANCE = 0.05  # |paper bps / backtest bps - 1| at most this, per style (impact 0; see book_for)
LIVE_STYLES = ("market", "maker_first", "twap")  # styles the live path trades today
ACCOUNT = "calib"
BINANCE = ("binanceusdm",)  # venues whose local exchange is the Binance front end
VENUES = ("okx", *BINANCE)
RANGE_QUANTILE = 0.99  # the bar range (share of the close) the depth mapping must hold for
LATENCY_MS = 1_000  # a run starts this long after its close; an order waited for reaches the exchange this late


@dataclass(frozen=True)
class StyleCost:
    """One style's execution cost from both sides (bps of traded notional at the decision closes)."""

    style: str
    backtest_bps: float
    paper_bps: float | None  # None: the live path cannot trade this style yet
    backtest_notional: float
    paper_notional: float

    @property
    def ratio(self) -> float:
        """paper / backtest (nan when either side is missing or zero)."""
        if self.paper_bps is None or not self.backtest_bps:
            return math.nan
        return self.paper_bps / self.backtest_bps

    def within(self, tolerance: float = TOLERANCE) -> bool:
        return math.isfinite(self.ratio) and abs(self.ratio - 1.0) <= tolerance


# --------------------------------------------------------------------------- the model mapping
def range_share(store: KlineStore, exchange: str, insts: list[str], timeframe: str,
                quantile: float = RANGE_QUANTILE) -> float:
    """A high quantile of ``(high - low) / close`` over the replay's bars (what the book's step scales with)."""
    shares = []
    for inst in insts:
        df = store.read(exchange, inst, timeframe)
        shares.append(((df["high"] - df["low"]) / df["close"]).to_numpy(float))
    x = np.concatenate(shares)
    x = x[np.isfinite(x)]
    return float(np.quantile(x, quantile)) if len(x) else 0.0


def replay_bar_ms(store: KlineStore, exchange: str, insts: Any) -> int:
    """The longest of the instruments' finest stored bars: the base bar the local exchange quotes from."""
    return max(parse_timeframe(store.timeframes(exchange, i)[0]) for i in insts)


def book_for(execution: Execution, range_frac: float, min_tick_frac: float = 0.0, bar_ms: int = 0) -> BookModel:
    """The local exchange's book that charges what the backtest's ``execution`` models, at most.

    * ``spread`` IS the book's ``spread_k`` (the same half-spread ``max(tick, spread x range)``
      of the last closed bar; the book rounds it up to the tick, so paper pays at most a tick more);
    * "the bar" is the backtest's base bar: ``bar_ms`` (the book's ``range_ms``) when that is
      longer than the replay's stored bars (a 4H rule at offset 0 runs on 4H base bars, whose
      range is about twice a 1H bar's: quoting from the exchange's 1H bars, paper paid about half
      the backtest's spread); 0 or the replay's own bar length: the exchange's base bar;
    * ``impact`` (square root: ``impact x sqrt(share)`` of the price) has no level walk that equals
      it at every size. The walk's average price beyond the half-spread, for an order of ``share``
      of the bar's volume with levels ``step = max(tick, half-spread)`` apart holding
      ``depth_share`` of it, is at most ``step x share / (2 depth_share)``. With
      ``depth_share = step / (2 x impact x price)`` that is at most ``impact x share`` <=
      ``impact x sqrt(share)`` for any order up to the whole bar: the backtest never charges less
      impact than paper pays (the conservative side). ``step / price`` is taken at the replay's
      ``RANGE_QUANTILE`` bar range (``range_frac``), or ``min_tick_frac`` (the largest tick as a
      share of the price) when that is larger. ``impact = 0`` is unlimited depth (no walk).
    * ``maker_first``'s trade-through edge of one tick is ``through_ticks = 1``.
    """
    depth = 0.0
    if execution.impact > 0:
        step = max(min_tick_frac, execution.spread * range_frac)
        depth = min(1.0, step / (2.0 * execution.impact)) if step > 0 else 1.0
    return BookModel(spread_k=execution.spread, depth_share=depth, through_ticks=1, range_ms=bar_ms)


# --------------------------------------------------------------------------- the replay
def venue_spec(spec: InstrumentSpec, exchange: str) -> InstrumentSpec:
    """The generator's OKX-style swap as ``exchange`` lists it: Binance USDⓈ-M names it ``BTCUSDT``
    and counts a linear contract in coins (the same lots, so an order is the same money)."""
    if exchange not in BINANCE:
        return spec
    ct = spec.ct_val
    return replace(spec, inst_id=spec.inst_id.split("-")[0] + "USDT", ct_val=1.0, lot_sz=round(spec.lot_sz * ct, 12),
                   min_sz=round(spec.min_sz * ct, 12))


def write_replay(root: Path, data: SynthConfig, exchange: str = "okx") -> list[str]:
    """Synthetic bars on the tick grid, every series marked complete, with the venue's specs; the ids."""
    if exchange not in VENUES:
        raise ValueError(f"exchange must be one of {', '.join(VENUES)}, got {exchange!r}")
    store = KlineStore(root, create=True, durable=False)
    bars, specs = generate(data)
    out = {}
    for synthetic, df in bars.items():
        spec = venue_spec(specs[synthetic], exchange)
        store.upsert(exchange, spec.inst_id, data.timeframe, df)
        store.set_complete_up_to(exchange, spec.inst_id, data.timeframe,
                                 df.index[-1] + pd.Timedelta(data.timeframe.lower()))
        out[spec.inst_id] = spec
    save_specs(store.root, exchange, out)
    return list(out)


def demo_strategies(insts: list[str], exchange: str = "okx", rule_type: str = "1H", offset: str = "0h") -> dict[str, Any]:
    """A timing strategy on two swaps and an event one rolling two tranches over all, hourly (or every
    ``rule_type`` at ``offset``: a twap window longer than a base bar needs decisions that far apart;
    4H at offset 1h keeps 1H base bars, 4H at offset 0 runs on 4H ones)."""
    return {
        "exchange": exchange, "initial_equity": 10_000,
        "fees": {"taker": 0.0005, "maker": 0.0002, "slippage": 0.0},
        "strategies": [
            {"strategy_name": "SmaCross_5_10", "kind": "timing", "instruments": insts[:2], "rule_type": rule_type,
             "offset": offset, "position": 0.5, "leverage": 2, "volatility_ratio": 1.0},
            {"strategy_name": "RankOnly", "kind": "event", "universe": insts, "rule_type": rule_type,
             "offset": offset, "position": 0.4, "leverage": 1, "hold_period": 2, "max_cap_num": 2, "symbol_num_limit": 2,
             "rank_factor": "QuoteVolumeMean_3", "side": "long"},
        ],
    }


class DrivenClock:
    """The local exchange's stepped clock, moved forward to each moment the maker and twap styles wait
    for; a moment on the open of one of the exchange's bars (``bar_ms``) is reached :data:`LATENCY_MS`
    late, as live's orders reach a venue. A twap slice is due at ``close + k x window / slices``: a
    whole number of bars on, an order placed at the very instant the bar opened would rest through
    that whole bar, its low included, on the local exchange, where the backtest (as live, whose order
    comes after the bar opened) counts that bar by its close only."""

    def __init__(self, exchange: LocalExchange, bar_ms: int):
        self.exchange, self.bar_ms = exchange, bar_ms

    def now_ms(self) -> int:
        return self.exchange.clock.now_ms()

    def wait_until(self, t_ms: int) -> None:
        if t_ms > self.now_ms():
            self.exchange.clock.set(t_ms + (LATENCY_MS if t_ms % self.bar_ms == 0 else 0))


# --------------------------------------------------------------------------- the two sides
def backtest_cost(cfg: ResearchConfig, store: KlineStore, start_ms: int, end_ms: int,
                  run_to_ms: int | None = None) -> tuple[float, float, Any]:
    """(cost, traded notional at the decision closes, result) of the backtest's decisions up to the
    close ``end_ms``; the bars up to ``run_to_ms`` are there for a maker order's deadline (as live waits)."""
    res = run_backtest(cfg, store, start=from_ms(start_ms), end=from_ms(max(end_ms, run_to_ms or end_ms)))
    n = int(res.positions.index.searchsorted(from_ms(end_ms), "right"))
    cost = -float(res.flows[:n, :, FLOW_FEE].sum())
    net = res.positions.to_numpy()[:n]
    delta = np.diff(net, axis=0, prepend=np.zeros((1, net.shape[1])))
    close = res.data.close.reindex(index=res.positions.index, columns=res.model.instruments).to_numpy()
    t_idx, i_idx = np.nonzero(np.abs(delta) > 1e-12)
    value = sum(unit_notional(close[t, i], res.model.ct_val[i], res.model.ct_type[i]) * abs(delta[t, i])
                for t, i in zip(t_idx, i_idx, strict=True))
    return cost, float(value), res


def paper_cost(ledger: Ledger, account: str, closes: pd.DataFrame, specs: dict) -> tuple[float, float]:
    """(cost, traded notional at the decision closes) from the ledger's fills: each fill against the
    close of the bar its (parent) order was decided at, signed, plus the fee the exchange booked."""
    fills = ledger.fills(account)
    if fills.empty:
        return 0.0, 0.0
    decided = {o.cl_ord_id: o.bar_ts for o in ledger.orders(account)}
    cost = value = 0.0
    for f in fills.itertuples():
        bar_ts = decided[f.cl_ord_id]
        p = float(closes.at[from_ms(bar_ts), f.inst_id])
        sp = specs[f.inst_id]
        ct, ct_type = sp.ct_val, (1 if sp.inverse else 0)
        d = f.fill_sz if f.side == "buy" else -f.fill_sz
        cost += d * (unit_value(f.fill_px, ct, ct_type) - unit_value(p, ct, ct_type)) - f.fee
        value += f.fill_sz * unit_notional(p, ct, ct_type)
    return cost, value


def open_local_exchange(root: Path, exchange: str, start_ms: int, book: BookModel, fees: FeeModel) -> LocalExchange:
    """The venue's local exchange (not started) with ``book``; both front ends share the engine's book."""
    if exchange in BINANCE:
        ex: LocalExchange = BinanceExchange(root, start=start_ms, rate_limit=False, fees=fees, exchange=exchange)
        ex.engine.book = book  # its constructor takes no book: the engine's is the one both venues use
        return ex
    return LocalExchange(root, start=start_ms, rate_limit=False, fees=fees, exchange=exchange, book=book)


@contextmanager
def paper_exchange(root: Path, exchange: str, start_ms: int, book: BookModel, fees: FeeModel, usdt: float,
                   work: Path) -> Iterator[tuple[LocalExchange, Path, AccountSecrets]]:
    """An in-process local exchange with one paper account, and that account's accounts file."""
    keys = ("k" + _secrets.token_hex(16), "s" + _secrets.token_hex(16), "P-" + _secrets.token_hex(6))
    with open_local_exchange(root, exchange, start_ms, book, fees) as ex:
        ex.add_account(ACCOUNT, *keys, usdt=usdt)
        acct = {"exchange": exchange, "mode": "paper", "url": ex.url, "strategies": "strategies.yaml",
                "store": str(root), "ledger": f"ledger/{ACCOUNT}.sqlite", "runs_dir": "runs/live",
                "wait_data_s": 0.5, "fetch_missing": False, "leverage": 5}
        path = work / "accounts.yaml"
        path.write_text(yaml.safe_dump({"accounts": {ACCOUNT: acct}}))
        phrase = None if exchange in BINANCE else Secret(keys[2])
        yield ex, path, AccountSecrets(Secret(keys[0]), Secret(keys[1]), phrase)


def calibrate(root: Path, strategies: dict[str, Any], start_ms: int, n_bars: int, work: Path,
              book: BookModel | None = None, bar_ms: int | None = None) -> StyleCost:
    """Cost of the strategies' ``execution`` style from the backtest and from paper runs at the
    ``n_bars`` closes ``bar_ms`` apart from ``start_ms`` (default: the config's base bar, the step
    the backtest decides on); ``book`` overrides :func:`book_for` (to test a wrong mapping)."""
    work.mkdir(parents=True, exist_ok=True)
    strategies_path = work / "strategies.yaml"
    strategies_path.write_text(yaml.safe_dump(copy.deepcopy(strategies)))
    store = KlineStore(root)
    cfg = load_config(strategies_path, store)
    if len(cfg.styles) > 1:  # a per-style measure: one style, whoever trades
        raise ValueError(f"calibration measures one style at a time; {cfg.path} has {len(cfg.styles)} "
                         "(strategies with their own execution blocks)")
    if cfg.multi_coin:  # costs are summed in one currency; a wallet per coin has several
        raise ValueError(f"calibration measures an account of one wallet; {cfg.path} has a wallet per coin "
                         f"({', '.join(c for c, _ in cfg.initial_wallets)}): calibrate one coin's swaps at a time")
    ex_cfg = cfg.styles[0]
    base_ms = EXCHANGE_TIMEFRAMES[common_base(cfg)]
    bar_ms = base_ms if bar_ms is None else bar_ms
    if not (isinstance(bar_ms, int) and bar_ms > 0 and bar_ms % base_ms == 0):
        raise ValueError(f"bar_ms must be a positive multiple of the config's base bar ({base_ms} ms), got {bar_ms!r}")
    end_ms = start_ms + (n_bars - 1) * bar_ms
    tail = ex_cfg.deadline_bars + (ex_cfg.twap_window_bars if ex_cfg.style == "twap" else 0)  # bars a fill may take
    bt_cost, bt_value, res = backtest_cost(cfg, store, start_ms - base_ms, end_ms, end_ms + tail * base_ms)
    bt_bps = 1e4 * bt_cost / bt_value if bt_value else math.nan
    if ex_cfg.style not in LIVE_STYLES:
        return StyleCost(ex_cfg.style, bt_bps, None, bt_value, 0.0)
    specs = load_specs(root, cfg.exchange)
    replay_ms = replay_bar_ms(store, cfg.exchange, res.model.instruments)
    if book is None:
        bt_bar = EXCHANGE_TIMEFRAMES[res.data.base_tf]  # the bar the backtest's spread is a share of
        tick_frac = max(sp.tick_sz / float(res.data.close[i].dropna().min()) for i, sp in specs.items()
                        if i in res.model.instruments)
        book = book_for(ex_cfg, range_share(store, cfg.exchange, list(res.model.instruments), res.data.base_tf),
                        tick_frac, bt_bar if bt_bar > replay_ms else 0)
    fees = FeeModel(maker=cfg.fees.maker, taker=cfg.fees.taker, slippage_bps=cfg.fees.slippage * 1e4)
    with paper_exchange(root, cfg.exchange, start_ms, book, fees, float(strategies.get("initial_equity", 10_000)), work) as (
            ex, path, keys):
        acct = load_account(path, ACCOUNT)
        clock = DrivenClock(ex, replay_ms)
        for k in range(n_bars):
            at = start_ms + k * bar_ms
            if ex.clock.now_ms() > at + LATENCY_MS:  # the last run's makers rested past this close (deadline_bars > 1)
                if res.model.due(from_ms(at)):
                    raise RuntimeError(f"paper run at {from_ms(at)}: makers of an earlier close still rest")
                continue  # no strategy is due: nothing to decide here
            ex.clock.set(at + LATENCY_MS)
            s = LiveSession(acct, keys, at=at, repo=work, pace=False, exchange_clock=lambda venue: clock)
            if s.run() != "ok":
                raise RuntimeError(f"paper run at {from_ms(at)} failed: {s.error}")
        led = Ledger(work / "ledger" / f"{ACCOUNT}.sqlite")
        pp_cost, pp_value = paper_cost(led, ACCOUNT, res.data.close, specs)
    pp_bps = 1e4 * pp_cost / pp_value if pp_value else math.nan
    return StyleCost(ex_cfg.style, bt_bps, pp_bps, bt_value, pp_value)

