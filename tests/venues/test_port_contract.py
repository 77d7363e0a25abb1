"""The venue port's contract, against each venue's local exchange through its real client (today OKX's;
the Binance one joins when its local exchange exists: ``tests/venue_kits.py``). Written against the port
and its capability data only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from tests_support import GUARD_S
from venue_kits import LOCAL_KITS, VenueKit

from qlib_local.live.accounts import AccountConfig, AccountSecrets, Secret
from qlib_local.live.clordid import child_id, cl_ord_id
from qlib_local.live.errors import AuthError
from qlib_local.live.planning import plan_orders
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.types import Kind, OrderRequest
from qlib_local.live.venue import Venue
from qlib_local.specs import save_specs
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate
from qlib_local.timeframes import to_ms
from qlib_local.venues.registry import open_venue

KEY, SECRET, PASS = "ck-1", "cs-secret-1", "Cp-1"
START = "2025-01-03T00:00Z"
DATA = SynthConfig(instruments=2, timeframe="1H", days=5, seed=2)


def prices() -> dict[str, float]:
    """Each coin's last close before START."""
    return {i.split("-")[0]: float(df["close"][df.index < pd.Timestamp(START)].iloc[-1])
            for i, df in generate(DATA)[0].items()}


def q(kit: VenueKit, inst: str, n: float) -> float:
    """The venue's quantity of ``n`` of the generator's contracts (Binance USDⓈ-M: the coins they are;
    COIN-M: USD contracts of about the same notional)."""
    sp = {kit.rename(i): sp for i, sp in generate(DATA)[1].items()}[inst]
    return kit.quantity(sp, prices()[sp.inst_id.split("-")[0]], n)


QUICK = RetryPolicy(attempts=3, base_s=0.01, cap_s=0.05, budget_s=GUARD_S)


@pytest.fixture(scope="module", params=LOCAL_KITS, ids=str)
def kit(request) -> VenueKit:
    return request.param


@pytest.fixture(scope="module")
def root(tmp_path_factory, kit: VenueKit) -> Path:
    r = tmp_path_factory.mktemp("contract")
    store = KlineStore(r, create=True, durable=False)
    bars, specs = generate(DATA)
    for inst, df in bars.items():
        store.upsert(kit.exchange, kit.rename(inst), "1H", df)
    px = prices()
    save_specs(r, kit.exchange, {kit.rename(i): kit.spec(sp, px[i.split("-")[0]]) for i, sp in specs.items()})
    return r


@pytest.fixture
def exchange(kit: VenueKit, root: Path) -> Iterator:
    ex = kit.open(root, START)
    ex.add_account("c", KEY, SECRET, PASS, **kit.funds(10_000, prices()))
    with ex:
        yield ex


def port(kit: VenueKit, exchange, secret: str = SECRET) -> Venue:
    acct = AccountConfig(name="c", exchange=kit.exchange, mode="paper", strategies=Path("s.yaml"), url=exchange.url)
    return open_venue(acct, AccountSecrets(Secret(KEY), Secret(secret), Secret(PASS)), timeout_s=GUARD_S, retry=QUICK,
                      reuse=False)


def test_clock_specs_and_prices(kit, exchange):
    v = port(kit, exchange)
    assert v.server_time_ms() == to_ms(START)
    specs = v.instruments()
    btc, eth = kit.inst("BTC"), kit.inst("ETH")
    assert set(specs) == {btc, eth}
    for s in specs.values():
        assert s.ct_val > 0 and s.lot_sz > 0 and s.min_sz >= s.lot_sz and s.tick_sz > 0 and s.max_lever >= 1
    last, mark = v.last_prices(), v.mark_prices()
    assert set(last) == set(mark) == {btc, eth} and all(p > 0 for p in [*last.values(), *mark.values()])


def test_account_settings_balance_and_positions(kit, exchange):
    v = port(kit, exchange)
    assert v.position_mode() == "net_mode" and v.positions() == []
    v.set_position_mode("long_short_mode")
    assert v.position_mode() == "long_short_mode"
    v.set_position_mode("net_mode")
    v.set_leverage(kit.inst("BTC"), 7, "cross")
    assert exchange.accounts["c"].leverage[kit.inst("BTC")] == 7
    ccy = kit.settle_ccy("BTC")
    funds = kit.funds(10_000, prices())
    bal = v.balance(ccy)
    assert (bal.ccy, bal.total_eq) == (ccy, funds.get("balances", {}).get(ccy, funds.get("usdt")))


def test_orders_by_our_client_ids(kit, exchange):
    v = port(kit, exchange)
    btc, eth = kit.inst("BTC"), kit.inst("ETH")
    exchange.clock.set(to_ms(START))
    plan = plan_orders("c", to_ms(START), {btc: q(kit, btc, 2.0), eth: -q(kit, eth, 3.0)}, [], v.instruments(), id_rule=v.caps.id_rule)
    assert all(v.caps.id_rule.allows(o.cl_ord_id) for o in plan.orders)
    acks = v.place_batch(plan.orders, "net_mode")
    assert [a.kind for a in acks] == [Kind.ACCEPTED] * 2 and all(a.ord_id for a in acks)
    got = {o.cl_ord_id: v.order(o.inst_id, o.cl_ord_id) for o in plan.orders}
    assert {cl: (st.inst_id, st.state, st.acc_fill_sz) for cl, st in got.items()} == {
        plan.orders[0].cl_ord_id: (btc, "filled", q(kit, btc, 2.0)), plan.orders[1].cl_ord_id: (eth, "filled", q(kit, eth, 3.0))}
    assert {(p.inst_id, p.contracts) for p in v.positions()} == {(btc, q(kit, btc, 2.0)), (eth, -q(kit, eth, 3.0))}
    fills = v.fills(to_ms(START) - 60_000, {btc, eth})
    assert {f.cl_ord_id: f.fill_sz for f in fills} == {plan.orders[0].cl_ord_id: q(kit, btc, 2.0),
                                                         plan.orders[1].cl_ord_id: q(kit, eth, 3.0)}
    # a filled order's id again: refused as a duplicate, or (venues unique among open orders only) accepted
    [again] = v.place_batch(plan.orders[:1], "net_mode")
    assert again.kind == (Kind.DUPLICATE_CLIENT_ID if v.caps.ids_unique_after_final else Kind.ACCEPTED)
    if again.kind == Kind.DUPLICATE_CLIENT_ID:
        assert again.code == kit.code(Kind.DUPLICATE_CLIENT_ID)
    assert v.order(btc, "nosuchorder1") is None


def test_insufficient_margin_is_its_kind_with_the_venue_code(kit, exchange):
    v = port(kit, exchange)
    cl = cl_ord_id("c", to_ms(START), kit.inst("BTC"), "net", "open", 1, v.caps.id_rule)
    [ack] = v.place_batch([OrderRequest(cl, kit.inst("BTC"), "buy", 4000.0)], "net_mode")
    assert (ack.kind, ack.code) == (Kind.INSUFFICIENT_MARGIN, kit.code(Kind.INSUFFICIENT_MARGIN)) and ack.msg


def test_resting_orders_are_listed_and_canceled_by_client_id(kit, exchange):
    v = port(kit, exchange)
    btc = kit.inst("BTC")
    cl = cl_ord_id("c", to_ms(START), btc, "net", "open", 1, v.caps.id_rule)
    by_hand = kit.by_hand(exchange, exchange.accounts["c"])
    spec, last = v.instruments()[btc], v.last_prices()[btc]
    sz = max(spec.min_sz, spec.lot_sz)
    below = [round(last * f / spec.tick_sz) * spec.tick_sz for f in (0.5, 0.6)]  # resting, over minimum notionals
    by_hand.limit(btc, "buy", sz, px=below[0], cl_ord_id=cl)
    by_hand.limit(btc, "buy", sz, px=below[1])  # a manual order without our id
    pending = v.pending_orders()
    assert len(pending) == 2 and {o.state for o in pending} == {"live"} and cl in {o.cl_ord_id for o in pending}
    assert v.cancel(btc, cl) is True and v.order(btc, cl).state == "canceled"
    assert v.cancel(btc, cl) is False  # already final
    assert [o.cl_ord_id for o in v.pending_orders()] == [next(o.cl_ord_id for o in pending if o.cl_ord_id != cl)]


def test_quotes_and_post_only_children_rest_or_are_refused_as_takers(kit, exchange):
    v = port(kit, exchange)
    btc = kit.inst("BTC")
    spec, last = v.instruments()[btc], v.last_prices()[btc]
    quotes = v.quotes()
    bid, ask = quotes[btc]
    assert set(quotes) == {btc, kit.inst("ETH")} and bid < last < ask  # the local book: a tick or more each side
    assert (bid, ask) == exchange.engine.quote(btc, exchange.clock.now_ms())
    parent = cl_ord_id("c", to_ms(START), btc, "net", "open", 1, v.caps.id_rule)
    rest, take = child_id(parent, 0, "maker"), child_id(parent, 1, "maker")
    sz = max(spec.min_sz, spec.lot_sz)
    [ok] = v.place_batch([OrderRequest(rest, btc, "buy", sz, ord_type="post_only", px=bid, parent=parent)], "net_mode")
    assert ok.kind == Kind.ACCEPTED
    st = v.order(btc, rest)
    assert (st.state, st.acc_fill_sz, st.ord_type) == ("live", 0.0, "post_only")  # it rests at the bid
    # at the ask a buy would take: refused (Binance -5022) or cancelled at once (OKX cancelSource 31); never filled
    [ack] = v.place_batch([OrderRequest(take, btc, "buy", sz, ord_type="post_only", px=ask, parent=parent)], "net_mode")
    st = v.order(btc, take)
    assert ack.kind == Kind.WOULD_TAKE or (ack.kind == Kind.ACCEPTED and st.state == "canceled")
    assert st is None or st.acc_fill_sz == 0
    assert v.positions() == []


def test_a_bad_signature_is_an_auth_error_not_retried(kit, exchange):
    v = port(kit, exchange, secret="wrong-secret")
    with pytest.raises(AuthError) as e:
        v.balance(kit.settle_ccy("BTC"))
    assert e.value.kind == Kind.AUTH and v.requests == 1
