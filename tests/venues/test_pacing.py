"""The pacer over a venue's pacing table: per-endpoint windows (OKX) and a shared weight budget with
per-order windows (Binance). Waits are asserted as lower bounds only (no wall-clock slack)."""

from __future__ import annotations

import threading
import time

from tests_support import Background

from qlib_local.live.venue import PacingTable, Window
from qlib_local.venues.binance.caps import USDM, USDM_PACING
from qlib_local.venues.okx.caps import CAPS as OKX_CAPS
from qlib_local.venues.pacing import Pacer


def fill(p: Pacer, method: str, path: str, n: int, **kw) -> None:
    for _ in range(n):
        p.done(p.acquire(method, path, **kw))


def blocked(p: Pacer, method: str, path: str, **kw) -> bool:
    """Does this request wait? (The windows here are 1000 s long: one that waited would still be waiting.)"""
    t = threading.Thread(target=lambda: p.acquire(method, path, **kw), daemon=True)
    t.start()
    t.join(0.3)
    return t.is_alive()


def test_a_shared_budget_makes_every_endpoint_wait():
    table = PacingTable({"weight": Window(10, 1000)}, {("GET", "a"): {"weight": (4, 0)}, ("GET", "b"): {"weight": (3, 0)}})
    p = Pacer(table)
    Background(lambda: fill(p, "GET", "a", 2)).join()  # 8 of 10: at once (else it would wait 1000 s)
    assert blocked(p, "GET", "b")  # 11 > 10
    assert p.acquire("GET", "unlisted") is None  # not in the table: never paced


def test_orders_count_per_order_carried():
    table = PacingTable({"orders": Window(6, 1000)}, {("POST", "batch"): {"orders": (0, 1)}})
    p = Pacer(table)
    Background(lambda: (fill(p, "POST", "batch", 1, items=5), fill(p, "POST", "batch", 1, items=1))).join()  # 6 of 6
    assert blocked(p, "POST", "batch", items=1)
    q = Pacer(table)
    Background(lambda: fill(q, "POST", "batch", 1, items=5)).join()
    assert blocked(q, "POST", "batch", items=2)  # 7 > 6


def test_a_window_frees_as_its_requests_age():
    p = Pacer(PacingTable({"w": Window(2, 0.3)}, {("GET", "a"): {"w": (1, 0)}}))
    t0 = time.monotonic()
    fill(p, "GET", "a", 3)  # the third waits for the first to leave the 0.3 s window
    assert time.monotonic() - t0 > 0.3


def test_a_request_in_flight_counts_as_now():
    p = Pacer(PacingTable({"w": Window(1, 0.3)}, {("GET", "a"): {"w": (1, 0)}}))
    slot = p.acquire("GET", "a")
    got = []
    t = threading.Thread(target=lambda: got.append(p.acquire("GET", "a")))
    t.start()
    t.join(0.6)
    assert t.is_alive() and not got  # the first has not answered: the second waits however long
    p.done(slot)
    t.join(5)
    assert got and not t.is_alive()


def test_the_venues_tables_cover_what_a_run_sends():
    okx = OKX_CAPS.pacing
    assert okx.windows["GET /api/v5/account/balance"] == Window(10, 2)
    assert okx.windows["GET /api/v5/trade/order"].per_inst
    batch = USDM["batch_orders"]
    assert USDM_PACING.costs[(batch.method, batch.path)] == {"weight": (5, 0), "orders_10s": (0, 1), "orders_1m": (0, 1)}
    assert USDM_PACING.windows["weight"] == Window(2400, 60.0)
    assert all(USDM_PACING.costs.get((e.method, e.path)) for e in USDM.endpoints.values())
