"""Per-strategy order styles in a live run: each instrument's order takes the style the netting rule
gives it; market orders go first, then each group of maker_first orders with its own policy, on
the exchange's clock (driven by the test)."""

from __future__ import annotations

import numpy as np
import yaml

from qlib_local.ledger import Ledger
from qlib_local.live import report
from qlib_local.live.maker import PARENT_TYPE, MakerPolicy
from qlib_local.live.styles import group_orders, instrument_styles
from qlib_local.live.types import OrderRequest
from qlib_local.research.execution import Execution

from .conftest import ACCOUNT, bar
from .test_maker import session


def test_orders_are_grouped_by_style_and_maker_policy():
    styles = (Execution(), Execution(style="maker_first", reprice_s=60), Execution(style="maker_first", deadline_s=90),
              Execution(style="maker_first", reprice_s=60, spread=0.3))  # spread: backtest only, same live policy
    orders = [OrderRequest(f"c{k}", inst, "buy", 1.0, leg=leg)
              for k, (inst, leg) in enumerate([("A", "close"), ("A", "open"), ("B", "open"), ("C", "open"),
                                               ("D", "open"), ("E", "open")])]
    g = group_orders(orders, {"A": 1, "B": 0, "C": 2, "D": 3}, styles, base_ms=3_600_000)  # E: not listed -> 0
    assert [o.cl_ord_id for o in g.market] == ["c2", "c5"]
    assert list(g.maker) == [MakerPolicy(60_000, 3_600_000), MakerPolicy(5_000, 90_000)]
    assert [o.cl_ord_id for o in g.maker[MakerPolicy(60_000, 3_600_000)]] == ["c0", "c1", "c4"]  # a flip's legs together
    by_inst = instrument_styles(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[3.0, 0.0], [0.5, -1.0]]), ["X", "Y"],
                                np.array([1, 2], np.int64))
    assert by_inst == {"X": 1, "Y": 2}  # X: +2 vs +0.5; Y: only the second moved (-3)


def test_two_maker_policies_rest_side_by_side_after_the_market_orders(accounts_file, exchange, insts):
    """The timing strategy (BTC, ETH) trades maker_first looking every 10 minutes for a bar; the event
    one maker_first looking every 5 minutes for half an hour; the account's style is market. Both
    groups start at once (as the backtest places every order at the close), each on its own clock."""
    path = accounts_file()
    strategies = path.parent / "strategies.yaml"
    raw = yaml.safe_load(strategies.read_text())
    raw["strategies"][0]["execution"] = {"style": "maker_first", "reprice_s": 600}
    raw["strategies"][1]["execution"] = {"style": "maker_first", "reprice_s": 300, "deadline_s": 1800}
    strategies.write_text(yaml.safe_dump(raw))
    start = bar(0) + 1_000
    exchange.clock.set(start)
    s, clock = session(path, exchange, bar(0))
    assert s.run() == "ok", s.error
    style = {i: s.book.cfg.styles[k] for i, k in s.order_style.items()}
    planned = {o.inst_id for o in s.plan_.orders}
    first = {i for i in planned if style[i].reprice_s == 600}
    assert first and planned - first, style  # both policies have orders this bar
    # looks every 5 minutes to the half-hour deadline (the 10-minute ones fall on them), then every 10 to the bar
    assert clock.waits == [start + k * 300_000 for k in range(1, 7)] + [start + k * 600_000 for k in range(4, 7)]
    led = Ledger(path.parent / "ledger" / "alice.sqlite")
    rows = led.orders(ACCOUNT, bar_ts=bar(0))
    parents = {o.cl_ord_id: o for o in rows if o.ord_type == PARENT_TYPE}
    assert {o.inst_id for o in parents.values()} == planned and all(o.state == "filled" for o in parents.values())
    assert not [o for o in rows if not o.parent and o.ord_type != PARENT_TYPE]  # no order went out as market directly
    sent = {o.cl_ord_id: o for o in exchange.accounts[ACCOUNT].orders.values()}
    for o in rows:  # the second group's children (their market fallback too) sent and done in its half hour
        if o.parent and parents[o.parent].inst_id not in first:
            assert start <= sent[o.cl_ord_id].c_time <= start + 1_800_000
            assert sent[o.cl_ord_id].u_time <= start + 1_800_000
    assert s.net_positions() == {k: v for k, v in s.result.net.items() if v != 0}
    assert set(report.execution_table(s)["style"]) == {"maker_first"}  # what the run's notebook shows
