"""Live == backtest: 200 bars through the local exchange's stepped clock, the live path at every bar
(and 60 with `rebalance: keep` and `min_trade`).

Most bars run the session in-process; a few go through papermill and the real notebook.
Contract positions must be identical at every bar; account equity may differ only by
price rounding (the exchange fills and marks on its tick grid, the backtest at raw closes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from qlib_local.backtest.engine import run_backtest
from qlib_local.cli.main import main
from qlib_local.ledger import Ledger
from qlib_local.live.session import LiveSession
from qlib_local.research import load_config
from qlib_local.specs import load_specs
from qlib_local.store import KlineStore
from qlib_local.timeframes import from_ms

from .conftest import ACCOUNT, bar

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
