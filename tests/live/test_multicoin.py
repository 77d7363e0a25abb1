"""A COIN-M account of two coins, live on the local Binance exchange's /dapi through the real ccxt
``binancecoinm``: a BTC wallet margins BTCUSD_PERP, an ETH wallet ETHUSD_PERP (and the same on the
local OKX exchange through python-okx: BTC-USD-SWAP and ETH-USD-SWAP).

- the account's equity is USD: each wallet (with its unrealized PnL) at its swap's mark;
- live holds the backtest's contracts at every bar of a replay across funding times, and its
  USD equity and per-strategy equity follow the backtest's;
- the size guard judges each wallet: an ETH wallet too small for its orders refuses them, the
  BTC orders still go.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pandas as pd
import pytest
import yaml
from venue_kits import BINANCE_COINM, OKX, VenueKit

from qlib_local.backtest.engine import run_backtest
from qlib_local.ledger import Ledger
from qlib_local.live.report import summary_text
from qlib_local.live.session import LiveSession
from qlib_local.marketdata.sources import _rewrite_urls
from qlib_local.ops import monitor as m
from qlib_local.research import load_config
from qlib_local.research.data import load_market_data
from qlib_local.specs import InstrumentSpec, save_specs
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate
from qlib_local.timeframes import HOUR_MS, from_ms, to_ms

ACCOUNT = "coins"
FIRST = "2025-01-08T05:00:00Z"  # the third close after is a funding time (08:00)
N_BARS = 30
DATA = SynthConfig(instruments=2, timeframe="1H", days=12, seed=23)


@dataclass(frozen=True)
class Coins:
    """One venue's two inverse swaps (BTC's is 100 USD a contract, ETH's 10) and how ccxt reads its marks."""

    kit: VenueKit
    btc: str
    eth: str
    marks: Callable[[Any], dict[str, float]]  # a ccxt client -> swap id -> mark

    @property
    def venue(self) -> str:
        return self.kit.exchange

    @property
    def ct(self) -> dict[str, float]:
        return {self.btc: 100.0, self.eth: 10.0}

    def client(self, url: str, keys: dict[str, str]):
        c = getattr(ccxt, "okx" if self.kit is OKX else "binancecoinm")(
            {"apiKey": keys["API_KEY"], "secret": keys["SECRET_KEY"], "password": keys.get("PASSPHRASE", "")})
        c.urls["api"] = _rewrite_urls(c.urls["api"], url)
        return c


COINM = Coins(BINANCE_COINM, "BTCUSD_PERP", "ETHUSD_PERP",
              lambda c: {r["symbol"]: float(r["markPrice"]) for r in c.dapiPublicGetPremiumIndex()})
OKX_INVERSE = Coins(OKX, "BTC-USD-SWAP", "ETH-USD-SWAP",
                    lambda c: {r["instId"]: float(r["markPx"])
                               for r in c.publicGetPublicMarkPrice({"instType": "SWAP"})["data"]})


def bar(i: int) -> int:
    return to_ms(FIRST) + i * HOUR_MS


def make_store(root: Path, v: Coins) -> None:
    """BTC's and ETH's synthetic hourly bars as inverse swaps, with funding rates of both signs."""
    store = KlineStore(root, create=True, durable=False)
    bars, specs = generate(DATA)
    out = {}
    for coin, inst in (("BTC", v.btc), ("ETH", v.eth)):
        src = next(i for i in bars if i.startswith(coin + "-"))
        df = bars[src]
        store.upsert(v.venue, inst, DATA.timeframe, df)
        store.set_complete_up_to(v.venue, inst, DATA.timeframe, df.index[-1] + pd.Timedelta("1h"))
        idx = pd.date_range("2025-01-01T08:00Z", "2025-01-12T16:00Z", freq="8h", name="ts")
        sign = np.where(np.arange(len(idx)) % 3 == 2, -1.5, 1.0) * (1 if coin == "BTC" else -1)
        store.upsert_funding(v.venue, inst, pd.Series(0.0008 * sign, index=idx, dtype=float))
        out[inst] = InstrumentSpec(inst, ct_val=v.ct[inst], lot_sz=1.0, min_sz=1.0, tick_sz=specs[src].tick_sz,
                                   max_lever=100.0, ct_val_ccy="USD", settle_ccy=coin, ct_type="inverse")
    save_specs(root, v.venue, out)


def strategies(v: Coins, wallets: dict[str, float]) -> dict:
    return {
        "exchange": v.venue, "initial_equity": dict(wallets),
        "fees": {"taker": 0.0005, "maker": 0.0002, "slippage": 0.0},
        "strategies": [
            {"strategy_name": "SmaCross_3_8", "kind": "timing", "instruments": [v.btc, v.eth], "rule_type": "1H",
             "offset": "0h", "position": 0.5, "leverage": 2},
            {"strategy_name": "SmaCross_5_13", "kind": "timing", "instruments": [v.btc, v.eth], "rule_type": "1H",
             "offset": "0h", "position": 0.4, "leverage": 1},
        ],
    }


def open_account(tmp_path: Path, root: Path, v: Coins, wallets: dict[str, float], monkeypatch):
    keys = {"API_KEY": "ck-" + _secrets.token_hex(8), "SECRET_KEY": "cs-" + _secrets.token_hex(12),
            "PASSPHRASE": "Cp-" + _secrets.token_hex(6)}
    for k, val in keys.items():
        monkeypatch.setenv(f"QLIB_LOCAL_{ACCOUNT.upper()}_{k}", val)
    (tmp_path / "strategies.yaml").write_text(yaml.safe_dump(strategies(v, wallets)))
    ex = v.kit.open(root, from_ms(bar(0)).isoformat())
    ex.rate_limit = False
    acct = ex.add_account(ACCOUNT, keys["API_KEY"], keys["SECRET_KEY"], keys["PASSPHRASE"],
                          balances={"USDT": 0.0, **wallets})
    return ex, acct, keys


def write_accounts(tmp_path: Path, root: Path, v: Coins, url: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": {ACCOUNT: {
        "exchange": v.venue, "mode": "paper", "url": url, "strategies": "strategies.yaml", "store": str(root),
        "ledger": "ledger/coins.sqlite", "runs_dir": "runs/live", "wait_data_s": 0.5, "fetch_missing": False,
        "leverage": 5}}}))
    return path


@pytest.mark.parametrize("v", [COINM, OKX_INVERSE], ids=["binancecoinm", "okx"])
def test_two_coin_account_trades_the_backtest_in_usd(v: Coins, tmp_path, monkeypatch):
    root = tmp_path / "store"
    make_store(root, v)
    wallets = {"BTC": 1.0, "ETH": 20.0}
    ex, acct, keys = open_account(tmp_path, root, v, wallets, monkeypatch)
    store = KlineStore(root)
    cfg = load_config(tmp_path / "strategies.yaml", store)
    start, end = from_ms(bar(0) - HOUR_MS), from_ms(bar(N_BARS - 1))
    data = load_market_data(cfg, store, start, end,
                            funding={i: store.read_funding(v.venue, i) for i in (v.btc, v.eth)})
    bt = run_backtest(cfg, store, start=start, end=end, data=data)
    assert bt.settle_ccy == "USD"
    with ex:
        path = write_accounts(tmp_path, root, v, ex.url)
        live_pos = []
        for i in range(N_BARS):
            ex.clock.set(bar(i) + 1_000)
            marks = v.marks(v.client(ex.url, keys)) if i == 0 else None
            s = LiveSession.from_config(path, ACCOUNT, at=bar(i), pace=False)
            assert s.run() == "ok", s.error
            assert s.balance_before.ccy == "USD" and set(s.wallets_before) == {"BTC", "ETH"}
            if i == 0:  # USD equity: each wallet at its swap's mark, as ccxt reads the marks
                assert s.balance_before.total_eq == (1.0 * marks[v.btc] + 20.0 * marks[v.eth])
                assert s.coin_usd == {"BTC": marks[v.btc], "ETH": marks[v.eth]}
            if i == 3:  # a funding time: the summary names each wallet and each coin's bills
                text = summary_text(s)
                assert "wallets: " in text and " BTC (@ " in text and " ETH (@ " in text, text
                assert "funding this bar: " in text and " BTC, " in text.split("funding this bar: ")[1], text
                assert " USD\n" in text.split("equity: ")[1]  # per-strategy equity in USD
                led = Ledger(tmp_path / "ledger" / "coins.sqlite")  # a rerun of the bar changes nothing
                q = "SELECT * FROM strategy_wallets WHERE account=? ORDER BY bar_ts, strategy, ccy"
                before = (led.query(q, (ACCOUNT,)), led.strategy_equity(ACCOUNT), led.strategy_funding(ACCOUNT))
                again = LiveSession.from_config(path, ACCOUNT, at=bar(i), pace=False)
                assert again.run() == "ok", again.error
                after = (led.query(q, (ACCOUNT,)), led.strategy_equity(ACCOUNT), led.strategy_funding(ACCOUNT))
                for x, y in zip(before, after, strict=True):
                    pd.testing.assert_frame_equal(x, y)
                led.close()
            live_pos.append({inst: acct.signed_exposure(inst) for inst in (v.btc, v.eth)})
    live = pd.DataFrame(live_pos, index=bt.positions.index[:N_BARS])
    expected = bt.positions.iloc[:N_BARS][[v.btc, v.eth]]
    assert ((live - expected).abs() <= 1e-9).all().all(), pd.concat({"live": live, "bt": expected}, axis=1).to_string()
    assert (expected[v.btc] != 0).sum() > 5 and (expected[v.eth] != 0).sum() > 5  # both coins traded

    led = Ledger(tmp_path / "ledger" / "coins.sqlite")
    eq = led.equity(ACCOUNT)
    before = eq[eq["kind"] == "before"].set_index("bar_ts")["total_eq"].to_numpy()[:N_BARS]
    rel = np.abs(before / bt.equity_before.to_numpy()[:N_BARS] - 1.0)
    assert rel.max() < 1e-8, rel.max()  # tick rounding of fills
    bills = led.funding(ACCOUNT)
    assert set(bills["ccy"]) == {"BTC", "ETH"} and len(bills) > 0  # each coin's funding in its coin
    # per-strategy equity in USD moves as the backtest's. Live starts each strategy at its share of
    # the wallets before the first bar's fees (~1e-3 of it), which the backtest's first row holds
    # and values at the coins' moving prices: the differences agree to that fee x the price moves
    se = led.strategy_equity(ACCOUNT).pivot_table(index="bar_ts", columns="strategy", values="equity")
    se.index = se.index.map(from_ms)
    bt_se = bt.equity[list(se.columns)].reindex(se.index)
    gap = ((se - se.iloc[0]) - (bt_se - bt_se.iloc[0])).abs().to_numpy().max() / bt_se.iloc[0].min()
    assert gap < 2e-4, pd.concat({"live": se, "bt": bt_se}, axis=1).to_string()
    parts = led.query("SELECT DISTINCT ccy FROM strategy_wallets WHERE account=?", (ACCOUNT,))
    assert set(parts["ccy"]) == {"BTC", "ETH"}
    led.close()
    [view] = m.accounts(tmp_path / "accounts.yaml")
    assert m.settle_ccy(view) == "USD"  # the monitor labels the account's equity as the ledger holds it


@pytest.mark.parametrize("v", [COINM, OKX_INVERSE], ids=["binancecoinm", "okx"])
def test_the_size_guard_judges_each_coin_wallet(v: Coins, tmp_path, monkeypatch):
    """The ETH wallet holds 0.02 ETH while the model sizes ETH from the account's USD equity:
    its orders are refused against the ETH wallet's cap; BTC's are sent."""
    root = tmp_path / "store"
    make_store(root, v)
    wallets = {"BTC": 1.0, "ETH": 0.02}
    ex, acct, _ = open_account(tmp_path, root, v, wallets, monkeypatch)
    with ex:
        path = write_accounts(tmp_path, root, v, ex.url)
        for i in range(N_BARS):
            ex.clock.set(bar(i) + 1_000)
            s = LiveSession.from_config(path, ACCOUNT, at=bar(i), pace=False)
            assert s.run() == "ok", s.error
            if s.refusals:
                break
        else:
            raise AssertionError("no order was refused")
        reasons = {r.order.inst_id: r.reason for r in s.refusals}
        assert set(reasons) == {v.eth} and "the ETH wallet's cap" in reasons[v.eth] and "ETH" in reasons[v.eth]
        assert acct.signed_exposure(v.eth) == 0 and acct.signed_exposure(v.btc) != 0
        assert s.result.net[v.btc] == acct.signed_exposure(v.btc)
        assert v.eth in s.untraded
