"""Live == backtest across funding times, for a linear (USDT) and an inverse (BTC) account on OKX,
and an inverse (BTC) account on Binance COIN-M (its local exchange's /dapi through ccxt).

200 hourly bars through the local exchange's stepped clock, the live path at every close; funding
rates in the store settle at 00:00/08:00/16:00 on the exchange (bills) and in the backtest.
Contracts must be identical at every bar; account equity may differ only by price rounding
(the exchange fills on its tick grid) and the bills' rounding. The funding the ledger records
and attributes must be the backtest's funding, per strategy.
"""

from __future__ import annotations

import secrets as _secrets
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests_support import REPO
from venue_kits import BINANCE_COINM, OKX, VenueKit

from qlib_local.backtest.engine import run_backtest
from qlib_local.ledger import Ledger
from qlib_local.live.report import summary_text
from qlib_local.live.session import LiveSession
from qlib_local.notebook_runner import run_notebook
from qlib_local.ops import monitor as m
from qlib_local.research import load_config
from qlib_local.research.data import load_market_data
from qlib_local.specs import InstrumentSpec, load_specs, save_specs
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate
from qlib_local.timeframes import HOUR_MS, from_ms, to_ms

ACCOUNT = "perp"
FIRST = "2025-01-08T05:00:00Z"  # the third close after is a funding time (08:00)
N_BARS = 200  # 25 funding times
DATA = SynthConfig(instruments=2, timeframe="1H", days=20, seed=23)
BTC_USD = "BTC-USD-SWAP"


def bar(i: int) -> int:
    return to_ms(FIRST) + i * HOUR_MS


def rates(k: int) -> pd.Series:
    """Funding rates at every 8 h over the data, both signs, large enough to matter."""
    idx = pd.date_range("2025-01-01T08:00Z", "2025-01-20T16:00Z", freq="8h", name="ts")
    sign = np.where(np.arange(len(idx)) % 3 == 2, -1.5, 1.0) * (1 if k % 2 == 0 else -1)
    return pd.Series(0.0008 * sign, index=idx, dtype=float)


def make_store(root: Path, kit: VenueKit, inverse: bool) -> dict[str, InstrumentSpec]:
    store = KlineStore(root, create=True, durable=False)
    bars, specs = generate(DATA)
    if inverse:  # BTC's inverse swap: OKX's BTC-USD-SWAP, a coin-margined venue's own (BTCUSD_PERP)
        btc = next(i for i in bars if i.startswith("BTC-"))
        inv = kit.inst("BTC") if kit.inverse else BTC_USD
        bars = {inv: bars[btc]}
        specs = {inv: InstrumentSpec(inv, ct_val=100.0, lot_sz=1.0, min_sz=1.0, tick_sz=specs[btc].tick_sz,
                                     max_lever=100.0, ct_val_ccy="USD", settle_ccy="BTC", ct_type="inverse")}
    for k, (inst, df) in enumerate(bars.items()):
        store.upsert(kit.exchange, inst, DATA.timeframe, df)
        store.set_complete_up_to(kit.exchange, inst, DATA.timeframe, df.index[-1] + pd.Timedelta("1h"))
        store.upsert_funding(kit.exchange, inst, rates(k))
    save_specs(root, kit.exchange, specs)
    return specs


def strategies(kit: VenueKit, insts: list[str], equity: float) -> dict:
    """Two timing strategies sharing the instruments (so a bill is split between them)."""
    return {
        "exchange": kit.exchange, "initial_equity": equity, "fees": {"taker": 0.0005, "maker": 0.0002, "slippage": 0.0},
        "strategies": [
            {"strategy_name": "SmaCross_3_8", "kind": "timing", "instruments": insts, "rule_type": "1H",
             "offset": "0h", "position": 0.5, "leverage": 2, "volatility_ratio": 1.0},
            {"strategy_name": "SmaCross_5_13", "kind": "timing", "instruments": insts, "rule_type": "1H",
             "offset": "0h", "position": 0.4, "leverage": 3, "volatility_ratio": 1.0},
        ],
    }


def price_rounding(specs: dict[str, InstrumentSpec], inst: str, px: float, contracts: float) -> float:
    """What one tick of price is worth on ``contracts`` (settlement currency)."""
    sp = specs[inst]
    per = sp.ct_val * sp.tick_sz / px ** 2 if sp.inverse else sp.ct_val * sp.tick_sz
    return abs(contracts) * per


@pytest.mark.every_kit
@pytest.mark.parametrize(("kit", "inverse"), [(OKX, False), (OKX, True), (BINANCE_COINM, True)],
                         ids=["okx-linear-usdt", "okx-inverse-btc", "binancecoinm-inverse-btc"])
def test_live_matches_backtest_across_funding(kit, inverse, tmp_path, monkeypatch):
    root = tmp_path / "store"
    specs = make_store(root, kit, inverse)
    insts = sorted(specs)
    equity0 = 1.0 if inverse else 10_000.0
    (tmp_path / "strategies.yaml").write_text(yaml.safe_dump(strategies(kit, insts, equity0)))
    store = KlineStore(root)
    cfg = load_config(tmp_path / "strategies.yaml", store)
    start, end = from_ms(bar(0) - HOUR_MS), from_ms(bar(N_BARS - 1))
    funding = {i: store.read_funding(kit.exchange, i) for i in insts}
    data = load_market_data(cfg, store, start, end, funding=funding)
    bt = run_backtest(cfg, store, start=start, end=end, data=data)
    assert bt.positions.index[0] == from_ms(bar(0)) and bt.settle_ccy == ("BTC" if inverse else "USDT")

    keys = {"API_KEY": "pk-" + _secrets.token_hex(8), "SECRET_KEY": "ps-" + _secrets.token_hex(12),
            "PASSPHRASE": "Pp-" + _secrets.token_hex(6)}
    for k, v in keys.items():
        monkeypatch.setenv(f"QLIB_LOCAL_{ACCOUNT.upper()}_{k}", v)
    ex = kit.open(root, from_ms(bar(0)).isoformat())
    ex.rate_limit = False
    acct = ex.add_account(ACCOUNT, keys["API_KEY"], keys["SECRET_KEY"], keys["PASSPHRASE"],
                          balances={"BTC": 1.0} if inverse else {"USDT": 10_000.0})
    stored = load_specs(root, kit.exchange)
    with ex:
        path = tmp_path / "accounts.yaml"
        path.write_text(yaml.safe_dump({"accounts": {ACCOUNT: {
            "exchange": kit.exchange, "mode": "paper", "url": ex.url, "strategies": "strategies.yaml", "store": str(root),
            "ledger": "ledger/perp.sqlite", "runs_dir": "runs/live", "wait_data_s": 0.5, "fetch_missing": False,
            "leverage": 5}}}))
        live_pos, bound, rounding = [], [], 0.0
        for i in range(N_BARS):
            ex.clock.set(bar(i) + 1_000)
            s = LiveSession.from_config(path, ACCOUNT, at=bar(i), pace=False)
            assert s.run() == "ok", s.error
            assert s.balance_after is not None and s.balance_after.ccy == ("BTC" if inverse else "USDT")
            if i == 3:  # a funding time: the summary shows the bills in the settlement currency
                text = summary_text(s)
                coin = "BTC (~" if kit.usd_value else "BTC\n"  # with its USD value where the venue gives it
                assert "funding this bar:" in text and (coin in text if inverse else "USDT" in text)
            if i in (3, 11):  # rerun a funding bar: nothing recorded or attributed twice
                led = Ledger(tmp_path / "ledger" / "perp.sqlite")
                before = (led.funding(ACCOUNT), led.strategy_funding(ACCOUNT), led.strategy_equity(ACCOUNT))
                again = LiveSession.from_config(path, ACCOUNT, at=bar(i), pace=False)
                assert again.run() == "ok", again.error
                after = (led.funding(ACCOUNT), led.strategy_funding(ACCOUNT), led.strategy_equity(ACCOUNT))
                assert again.funding_new == 0
                for a, b in zip(before, after, strict=True):
                    pd.testing.assert_frame_equal(a.drop(columns=["recorded_at"], errors="ignore"),
                                                  b.drop(columns=["recorded_at"], errors="ignore"))
                led.close()
            pos = {inst: acct.signed_exposure(inst) for inst in insts}
            live_pos.append(pos)
            for f in acct.fills:
                if f.ts == bar(i):
                    rounding += price_rounding(stored, f.inst_id, f.fill_px, f.fill_sz)
            held = sum(price_rounding(stored, k, float(data.close[k].iloc[0]), v) for k, v in pos.items())
            bound.append(rounding + held + 1e-9 * (1 if inverse else 1_000))

    led = Ledger(tmp_path / "ledger" / "perp.sqlite")
    live = pd.DataFrame(live_pos, index=bt.positions.index[:N_BARS])
    expected = bt.positions.iloc[:N_BARS][insts]
    assert ((live - expected).abs() <= 1e-9).all().all(), pd.concat({"live": live, "bt": expected}, axis=1).to_string()
    assert (expected.abs().sum(axis=1) > 0).mean() > 0.8 and expected.diff().abs().sum().sum() > 5

    eq = led.equity(ACCOUNT)
    before = eq[eq["kind"] == "before"].set_index("bar_ts")["total_eq"].to_numpy()[:N_BARS]
    diff = np.abs(before - bt.equity_before.to_numpy()[:N_BARS])
    assert (diff <= np.array(bound)).all(), f"max equity gap {diff.max():.3g}, bound {np.array(bound)[diff.argmax()]:.3g}"

    # funding: the exchange's bills, recorded once each, are the backtest's funding, per strategy
    bills = led.funding(ACCOUNT)
    times = sorted(set(bills["ts"]))
    assert times == [t for t in (bar(i) for i in range(N_BARS)) if t % (8 * HOUR_MS) == 0]
    assert len(times) == len(range(3, N_BARS, 8)) == 25
    assert bills["bill_id"].is_unique and (bills["ccy"] == ("BTC" if inverse else "USDT")).all()
    bt_funding = bt.funding.iloc[:N_BARS]
    assert abs(bills["amount"].sum() - bt_funding.to_numpy().sum()) <= 1e-9 * equity0 * len(bills)
    assert bt_funding.abs().to_numpy().sum() > 1e-4 * equity0  # funding moved money
    per = led.strategy_funding(ACCOUNT).pivot_table(index="bar_ts", columns="strategy", values="amount", aggfunc="sum")
    per.index = per.index.map(from_ms)
    expected_per = bt_funding.loc[(bt_funding != 0).any(axis=1)]
    pd.testing.assert_frame_equal(per.reindex_like(expected_per).fillna(0.0), expected_per, check_names=False,
                                  check_freq=False, atol=1e-9 * equity0, rtol=1e-6)
    # per-strategy equity changes (PnL on own contracts, shared fees, attributed funding) are the
    # backtest's (the live path starts each strategy at its share of equity before the first bar's fees)
    se = led.strategy_equity(ACCOUNT).pivot_table(index="bar_ts", columns="strategy", values="equity")
    se.index = se.index.map(from_ms)
    sids = list(se.columns)
    bt_se = bt.equity[sids].reindex(se.index)
    gap = ((se - se.iloc[0]) - (bt_se - bt_se.iloc[0])).abs().max(axis=1).to_numpy()
    assert (gap <= np.array(bound)[:len(gap)]).all(), f"strategy equity gap {gap.max():.3g}"

    # the monitor shows the account in its settlement currency, with the funding per strategy
    [view] = m.accounts(tmp_path / "accounts.yaml")
    assert m.settle_ccy(view) == ("BTC" if inverse else "USDT")
    shown = m.funding(m.open_ledger(view), ACCOUNT)
    assert shown.to_numpy().sum() == pytest.approx(bt_funding.to_numpy().sum(), rel=1e-6)
    if inverse:  # the notebook itself, headless, over the BTC account
        out = tmp_path / "monitor.out.ipynb"
        run_notebook(REPO / "notebooks" / "monitor.ipynb", out, {"accounts_path": str(tmp_path / "accounts.yaml"),
                                                                   "bars": 30}, cwd=tmp_path, cell_timeout=120)
        text = out.read_text()
        assert "account equity (BTC)" in text and "funding per strategy (BTC, received > 0)" in text
