"""Price sanity against the local exchange: a bad close in the store a run reads is not traded.

The exchange replays the clean store; the run reads a copy with one bad BTC bar (the bar
being traded). Without the guard the close/4 run sells about 2x equity of BTC and the
close = 0.5 run sends an order for hundreds of thousands of contracts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qlib_local.ledger import Ledger
from qlib_local.live.session import LiveSession
from qlib_local.research import ModelState
from qlib_local.timeframes import HOUR_MS, from_ms

from .conftest import ACCOUNT, bar, open_exchange
from .stores import live_copy


def run(path: Path, exchange, close: int) -> LiveSession:
    exchange.clock.set(close + 1_000)
    s = LiveSession.from_config(path, ACCOUNT, at=close)
    assert s.run() == "ok", s.error
    return s


def price_alerts(s: LiveSession) -> list[str]:
    return [a for a in s.alerts if a.startswith("price_check")]


def test_close_divided_by_4_is_not_traded_exactly_as_if_stale(accounts_file, kit, exchange, insts, live_root,
                                                               fake_secrets, tmp_path):
    close = bar(0)
    BTC = insts.BTC
    bad = live_copy(tmp_path / "bad_store", kit, close, lambda c: c / 4)
    path = accounts_file(store=str(bad.root))
    s0 = run(path, exchange, close)
    acct = exchange.accounts[ACCOUNT]
    assert {o.inst_id for o in acct.orders.values()} == {insts.ETH, insts.XRP}  # BTC not sent, the rest traded
    assert acct.signed_exposure(BTC) == 0
    model = float(bad.read(kit.exchange, BTC, "1H", from_ms(close - HOUR_MS), from_ms(close))["close"].iloc[0])
    exchange_px = s0.last_px[BTC]
    assert s0.mark_px[BTC] == exchange_px and abs(model / exchange_px - 0.25) < 0.01
    [alert] = price_alerts(s0)  # one alert naming the instrument, both prices and the band
    assert BTC in alert and f"{model:.8g}" in alert and f"{exchange_px:.8g}" in alert and "band 4.0%" in alert
    led = Ledger(tmp_path / "ledger" / "alice.sqlite")
    committed = led.bar_state(ACCOUNT, close)
    assert BTC in committed["stale"] and (committed["targets"][BTC] == 0).all()
    state = ModelState.from_dict(committed["state"])
    j = state.instruments.index(BTC)
    assert (state.hold[:, j] == 0).all() and (state.last_signal[:, j] == 0).all()  # nothing from the bad price
    assert "price_check" in set(led.events(ACCOUNT, s0.run_id)["kind"])
    s1 = run(path, exchange, bar(1))  # the next close is clean
    assert price_alerts(s1) == [] and s1.result.net[BTC] != 0
    assert acct.signed_exposure(BTC) == pytest.approx(s1.result.net[BTC])

    # the control: a second exchange and ledger reading the same store, where BTC's bar is merely
    # late (stale) at bar 0 and complete at bar 1 (the bad bar stays in the history both read then)
    late = live_copy(tmp_path / "stale_store", kit, close, lambda c: c / 4)
    late.set_complete_up_to(kit.exchange, BTC, "1H", from_ms(close - HOUR_MS))
    with open_exchange(kit, live_root, fake_secrets) as ex2:
        path2 = accounts_file(url=ex2.url, store=str(late.root), ledger="ledger2/alice.sqlite")
        c0 = run(path2, ex2, close)
        assert list(c0.data.stale) == [BTC]
        late.set_complete_up_to(kit.exchange, BTC, "1H", from_ms(bar(30)))
        c1 = run(path2, ex2, bar(1))
    led2 = Ledger(tmp_path / "ledger2" / "alice.sqlite")
    for b in (close, bar(1)):
        mine, control = led.bar_state(ACCOUNT, b), led2.bar_state(ACCOUNT, b)
        assert mine["state"] == control["state"] and mine["targets"].equals(control["targets"])
    assert s1.net_positions() == c1.net_positions()


def test_close_of_half_a_dollar_sends_nothing_for_the_instrument(accounts_file, kit, exchange, insts, q, tmp_path):
    close = bar(0)
    BTC = insts.BTC
    path = accounts_file(store=str(live_copy(tmp_path / "bad_store", kit, close, lambda c: 0.5).root))
    s = run(path, exchange, close)
    sent = list(exchange.accounts[ACCOUNT].orders.values())
    assert sent and all(o.inst_id != BTC for o in sent) and max(o.sz / q(o.inst_id, 1.0) for o in sent) < 100
    led = Ledger(tmp_path / "ledger" / "alice.sqlite")
    assert [o for o in led.orders(ACCOUNT) if o.inst_id == BTC] == []  # not even attempted (the margin check's job)
    [alert] = price_alerts(s)
    assert BTC in alert and "model price 0.5 " in alert and "100.0% from" in alert
    assert BTC in s.untraded and "price check" in s.untraded[BTC]
    assert f"not traded: {BTC}" in led.runs(ACCOUNT)["error"].iloc[0]
