"""Live == backtest: 200 bars through the local exchange's stepped clock, the live path at every bar
(and 60 with `rebalance: keep` and `min_trade`, 24 with maker_first and with mixed order styles).

Most bars run the session in-process; a few go through papermill and the real notebook.
Contract positions must be identical at every bar; account equity may differ only by
price rounding (the exchange fills and marks on its tick grid, the backtest at raw closes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from qlib_local.backtest.engine import order_style_index, run_backtest
from qlib_local.cli.main import main
from qlib_local.ledger import Ledger
from qlib_local.live.maker import PARENT_TYPE
from qlib_local.live.session import LiveSession
from qlib_local.research import load_config
from qlib_local.sim.book import BookModel
from qlib_local.specs import load_specs
from qlib_local.store import KlineStore
from qlib_local.timeframes import from_ms, to_ms

from .conftest import ACCOUNT, bar
from .test_maker import DrivenClock

N_BARS = 200
PAPERMILL_BARS = {120}


def test_live_matches_backtest_over_200_bars(accounts_file, kit, exchange, live_root, tmp_path, capsys):
    path = accounts_file()
    exchange.rate_limit = False  # 200 runs back to back; rate limits have their own tests
    store = KlineStore(live_root)
    cfg = load_config(tmp_path / "strategies.yaml", store)
    bt = run_backtest(cfg, store, start=from_ms(bar(0) - 3_600_000), end=from_ms(bar(N_BARS - 1)))
    assert bt.positions.index[0] == from_ms(bar(0)) and len(bt.positions) >= N_BARS
    specs = load_specs(live_root, kit.exchange)
    acct = exchange.accounts[ACCOUNT]
    live_pos, bound = [], []
    rounding = 0.0
    for i in range(N_BARS):
        exchange.clock.set(bar(i) + 1_000)  # one second after the close
        if i in PAPERMILL_BARS:
            rc = main(["live", "run", ACCOUNT, "--accounts", str(path), "--at", from_ms(bar(i)).isoformat()])
            assert rc == 0, capsys.readouterr().err
        else:
            s = LiveSession.from_config(path, ACCOUNT, at=bar(i), pace=False)
            assert s.run() == "ok", s.error
        pos = {inst: acct.signed_exposure(inst) for inst in bt.positions.columns}
        live_pos.append(pos)
        for f in acct.fills:
            if f.ts == bar(i):
                rounding += f.fill_sz * specs[f.inst_id].ct_val * specs[f.inst_id].tick_sz
        held = sum(abs(v) * specs[k].ct_val * specs[k].tick_sz for k, v in pos.items())
        bound.append(rounding + held + 1e-6)
    led = Ledger(tmp_path / "ledger" / "alice.sqlite")
    eq = led.equity(ACCOUNT)
    before = eq[eq["kind"] == "before"].set_index("bar_ts")["total_eq"]
    live = pd.DataFrame(live_pos, index=bt.positions.index[:N_BARS])
    expected = bt.positions.iloc[:N_BARS]
    mismatch = (live - expected).abs() > 1e-9
    if mismatch.any().any():  # diagnostics: both sides around the first difference
        k = int(np.argmax(mismatch.any(axis=1).to_numpy()))
        print(live.iloc[max(0, k - 2):k + 2].to_string(), expected.iloc[max(0, k - 2):k + 2].to_string(), sep="\n")
        print(before.iloc[max(0, k - 2):k + 2].to_numpy(), bt.equity_before.iloc[max(0, k - 2):k + 2].to_numpy())
    assert not mismatch.any().any(), f"first mismatch at {live.index[mismatch.any(axis=1)][0]}"
    assert (expected.abs().sum(axis=1) > 0).mean() > 0.9  # the strategies actually hold positions
    assert expected.diff().abs().sum().sum() > 50  # ... and trade them
    diff = np.abs(before.to_numpy()[:N_BARS] - bt.equity_before.to_numpy()[:N_BARS])
    assert (diff <= np.array(bound)).all(), f"max equity gap {diff.max():.6f} > bound"
    runs = led.runs(ACCOUNT)
    assert len(runs) == N_BARS and (runs["status"] == "ok").all()
    from qlib_local.live import index

    idx = index.read(tmp_path / "runs" / "live")
    assert list(idx["status"]) == ["ok"] * len(PAPERMILL_BARS) and idx["notebook"].str.endswith(".ipynb").all()


KEEP_BARS = 60


@pytest.mark.every_kit
def test_live_matches_backtest_with_keep_and_min_trade(accounts_file, kit, exchange, live_root, tmp_path):
    """``rebalance: keep`` (event) and ``resize`` with ``min_trade`` (timing) through the live path:
    the slots' members travel in the ledger's bar state, so contracts are identical at every bar."""
    path = accounts_file()
    raw = yaml.safe_load((tmp_path / "strategies.yaml").read_text())
    resize_cfg = load_config(tmp_path / "strategies.yaml", KlineStore(live_root))
    raw["strategies"][0].update(rebalance="resize", min_trade=0.1)
    raw["strategies"][1].update(rebalance="keep")
    (tmp_path / "strategies.yaml").write_text(yaml.safe_dump(raw))
    exchange.rate_limit = False
    store = KlineStore(live_root)
    cfg = load_config(tmp_path / "strategies.yaml", store)
    window = dict(start=from_ms(bar(0) - 3_600_000), end=from_ms(bar(KEEP_BARS - 1)))
    bt = run_backtest(cfg, store, **window)
    acct = exchange.accounts[ACCOUNT]
    live_pos = []
    for i in range(KEEP_BARS):
        exchange.clock.set(bar(i) + 1_000)
        s = LiveSession.from_config(path, ACCOUNT, at=bar(i), pace=False)
        assert s.run() == "ok", s.error
        live_pos.append({inst: acct.signed_exposure(inst) for inst in bt.positions.columns})
    live = pd.DataFrame(live_pos, index=bt.positions.index[:KEEP_BARS])
    expected = bt.positions.iloc[:KEEP_BARS]
    mismatch = (live - expected).abs() > 1e-9
    assert not mismatch.any().any(), f"first mismatch at {live.index[mismatch.any(axis=1)][0]}"
    assert expected.diff().abs().sum().sum() > 20  # it trades
    moves = lambda p: int((p.diff().fillna(p).abs() > 1e-12).sum().sum())  # noqa: E731
    before = run_backtest(resize_cfg, store, **window).positions.iloc[:KEEP_BARS]
    assert moves(expected) < moves(before)  # keep and min_trade send fewer orders than resizing every bar


STYLE_BARS = 24
# The book's half-spread as a share of the bar's range, the config's and the local exchange's: so small that
# the half-spread is the one-tick floor of both (the exchange rounds a larger one UP to the tick, so paper
# pays up to a tick more per fill, the calibration's tolerance; its drift in equity would re-size positions).
SPREAD = 1e-6
MAKER = {"style": "maker_first", "spread": SPREAD, "reprice_s": 600}  # a look every 10 exchange minutes, deadline 1H


@pytest.mark.parametrize("case", [pytest.param("maker_first", marks=pytest.mark.every_kit), "mixed"])
def test_live_matches_backtest_with_order_styles(accounts_file, kit, exchange, live_root, tmp_path, case):
    """``maker_first`` for the account, and a mixed account (the timing strategy market, the event one
    maker_first, sharing instruments): post-only children rest on the exchange's clock, the rest goes
    to market at the deadline. Contracts identical at every bar; equity within price rounding, as
    the market case: the backtest's fill models are the local exchange's book (both with its spread).
    The mixed case has no spread at all: market orders fill at the last price on both sides, and
    makers rest a tick from it on both (a post-only order may not rest at the last price)."""
    spread = SPREAD if case == "maker_first" else 0.0
    path = accounts_file()
    raw = yaml.safe_load((tmp_path / "strategies.yaml").read_text())
    if case == "maker_first":
        raw["execution"] = MAKER
    else:
        raw["execution"] = {"spread": spread}  # the account: market, and the event strategy's own block
        raw["strategies"][1]["execution"] = {"style": "maker_first", "reprice_s": 600}
    exchange.engine.book = BookModel(spread_k=spread)
    (tmp_path / "strategies.yaml").write_text(yaml.safe_dump(raw))
    exchange.rate_limit = False
    store = KlineStore(live_root)
    cfg = load_config(tmp_path / "strategies.yaml", store)
    assert [e.style for e in cfg.styles] == (["maker_first"] if case == "maker_first" else ["market", "maker_first"])
    bt = run_backtest(cfg, store, start=from_ms(bar(0) - 3_600_000), end=from_ms(bar(STYLE_BARS)))
    specs = load_specs(live_root, kit.exchange)
    ticks = np.array([specs[i].tick_sz for i in bt.data.close.columns])
    assert (spread * (bt.data.high - bt.data.low).to_numpy() < ticks).all()  # a one-tick half-spread, both sides
    acct = exchange.accounts[ACCOUNT]
    live_pos, bound, rounding = [], [], 0.0
    clock = DrivenClock(exchange)
    for i in range(STYLE_BARS):
        if exchange.clock.now_ms() < bar(i) + 1_000:
            exchange.clock.set(bar(i) + 1_000)  # one second after the close (a maker run already waited to it)
        n_fills = len(acct.fills)
        s = LiveSession.from_config(path, ACCOUNT, at=bar(i), pace=False, exchange_clock=lambda venue: clock)
        assert s.run() == "ok", s.error
        pos = {inst: acct.signed_exposure(inst) for inst in bt.positions.columns}
        live_pos.append(pos)
        rounding += sum(f.fill_sz * specs[f.inst_id].ct_val * specs[f.inst_id].tick_sz for f in acct.fills[n_fills:])
        held = sum(abs(v) * specs[k].ct_val * specs[k].tick_sz for k, v in pos.items())
        bound.append(rounding + held + 1e-6)
    live = pd.DataFrame(live_pos, index=bt.positions.index[:STYLE_BARS])
    expected = bt.positions.iloc[:STYLE_BARS]
    mismatch = (live - expected).abs() > 1e-9
    led = Ledger(tmp_path / "ledger" / "alice.sqlite")
    eq = led.equity(ACCOUNT)
    before = eq[eq["kind"] == "before"].set_index("bar_ts")["total_eq"].to_numpy()[:STYLE_BARS]
    if mismatch.any().any():  # diagnostics: both sides around the first difference, and the equity gaps
        k = int(np.argmax(mismatch.any(axis=1).to_numpy()))
        print(live.iloc[max(0, k - 2):k + 2].to_string(), expected.iloc[max(0, k - 2):k + 2].to_string(), sep="\n")
        print(before[:k + 2] - bt.equity_before.iloc[:k + 2].to_numpy(), bound[:k + 2])
    assert not mismatch.any().any(), f"first mismatch at {live.index[mismatch.any(axis=1)][0]}"
    assert expected.diff().abs().sum().sum() > 10  # it trades
    orders = led.orders(ACCOUNT)
    makers = {o.cl_ord_id for o in orders if o.ord_type == "post_only"}
    assert led.fills(ACCOUNT)["cl_ord_id"].isin(makers).any(), "no post-only child filled"
    # each instrument's order took the style the backtest's rule gave it (research.styles.order_styles)
    o = bt.orders[bt.orders["timestamp"] < from_ms(bar(STYLE_BARS))]
    t_idx = bt.positions.index.get_indexer(o["timestamp"])
    i_idx = np.array([bt.model.instruments.index(x) for x in o["instrument"]])
    want = {(to_ms(ts), inst): cfg.styles[k].style
            for ts, inst, k in zip(o["timestamp"], o["instrument"], order_style_index(bt, t_idx, i_idx), strict=True)}
    got = {(r.bar_ts, r.inst_id): "maker_first" if r.ord_type == PARENT_TYPE else "market"
           for r in orders if not r.parent and r.attempt == 1}
    assert got == want
    assert set(want.values()) == ({"maker_first"} if case == "maker_first" else {"market", "maker_first"})
    # closes are reduce-only on the exchange, market orders and maker children alike; opens never
    leg = {r.cl_ord_id: r.leg for r in orders if r.ord_type != PARENT_TYPE}
    sent = [o for o in acct.orders.values() if o.cl_ord_id in leg]
    assert len(sent) == len(leg) and {o.reduce_only for o in sent if leg[o.cl_ord_id] == "close"} == {True}
    assert not any(o.reduce_only for o in sent if leg[o.cl_ord_id] == "open")
    assert {o.ord_type for o in sent if leg[o.cl_ord_id] == "close"} >= {"post_only"}
    moved = np.abs(np.diff(bt.strategy_positions[:STYLE_BARS], axis=0)) > 0
    assert moved.all(axis=1).any()  # some orders net both strategies' moves: the rule decides between them
    diff = np.abs(before - bt.equity_before.to_numpy()[:STYLE_BARS])
    assert (diff <= np.array(bound)).all(), f"max equity gap {diff.max():.6f} at bar {int(np.argmax(diff - bound))}"
