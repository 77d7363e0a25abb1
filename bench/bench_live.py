"""Live path speed: from a bar close to every order acknowledged, 100 instruments, 20 ms per request,
on OKX and on Binance USDⓈ-M side by side (the same strategies and data; the ratio is printed).

The local exchange replays in real time (speed 1) with the venue's rate limits enforced and 20 ms
added to every request (OKX: batches of 20; Binance: batches of 5, weights and order counts). The run starts 15 s before the close (as cron does, to hide start-up):
connect, instrument specs, leverage for 100 instruments and reconcile happen before it. A
collector thread marks the store complete at the close. Measured: the close to the last
acknowledgement, with the breakdown, and each venue's floor under it (its rate limits plus the
dependent round trips; the figure is reported as a ratio to that floor). Then one
run through papermill for its own overhead (kernel start to first cell).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench.common import Result, report

N_INST = 100
LATENCY_S = 0.020
GOAL_S = 3.0
LEAD_S = 15.0


def binance_units(price: float) -> int:
    """Coins a Binance USDⓈ-M quantity unit holds: 1000 for coins under 0.001 USDT (Binance lists
    them as ``1000PEPEUSDT``, priced per 1000, so an order stays under the 100,000,000 maxQty)."""
    return 1000 if price < 0.001 else 1


def venue_id(exchange: str, synthetic_id: str, units: int = 1) -> str:
    """The venue's name of a generated swap: OKX keeps ``BTC-USDT-SWAP``, Binance ``BTCUSDT``
    (``1000PEPEUSDT`` for a coin quoted per 1000)."""
    coin = synthetic_id.split("-")[0]
    return synthetic_id if exchange == "okx" else f"{units if units > 1 else ''}{coin}USDT"


def write_store(root: Path, n: int, exchange: str = "okx") -> list[str]:
    from dataclasses import replace

    from qlib_local.specs import save_specs
    from qlib_local.store import KlineStore
    from qlib_local.synth import SynthConfig, generate

    store = KlineStore(root, create=True, durable=False)
    bars, specs = generate(SynthConfig(instruments=n, timeframe="1H", days=20, seed=5))
    ids, out_specs = [], {}
    for inst, df in bars.items():
        sp = specs[inst]
        m = binance_units(float(df["close"].min())) if exchange != "okx" else 1
        tick = sp.tick_sz * m
        df = df.copy()
        for c in ("open", "high", "low", "close"):
            df[c] = (df[c] * m / tick).round() * tick
        if m > 1:
            df["volume"] = df["volume"] / m
        vid = venue_id(exchange, inst, m)
        store.upsert(exchange, vid, "1H", df)
        if exchange != "okx":  # Binance's linear contract is one unit (a coin, or 1000): the same lots in units
            sp = replace(sp, ct_val=1.0, lot_sz=round(sp.lot_sz * sp.ct_val / m, 12),
                         min_sz=round(sp.min_sz * sp.ct_val / m, 12), tick_sz=tick,
                         ct_val_ccy=f"{m}{inst.split('-')[0]}" if m > 1 else sp.ct_val_ccy)
        out_specs[vid] = replace(sp, inst_id=vid)
        ids.append(vid)
    save_specs(root, exchange, out_specs)
    return ids


def write_accounts(
    tmp: Path, url: str, insts: list[str], store: Path, ledger: str = "ledger/bench.sqlite", exchange: str = "okx"
) -> Path:
    cfg = {
        "exchange": exchange,
        "initial_equity": 1_000_000,
        "fees": {"taker": 0.0005, "maker": 0.0002},
        "strategies": [
            {
                "strategy_name": "SmaCross_5_10",
                "kind": "timing",
                "instruments": insts,
                "rule_type": "1H",
                "offset": "0h",
                "position": 1.0,
                "leverage": 1,
                "volatility_ratio": 1.0,
            }
        ],
    }
    (tmp / "strategies.yaml").write_text(yaml.safe_dump(cfg))
    acct = {
        "exchange": exchange,
        "mode": "paper",
        "url": url,
        "strategies": "strategies.yaml",
        "store": str(store),
        "ledger": ledger,
        "runs_dir": "runs/live",
        "wait_data_s": 5,
        "fetch_missing": False,
        "leverage": 3,
        "history_bars": 100,
    }
    path = tmp / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": {"bench": acct}}))
    return path


def rate_limit_floor(n_orders: int, n_inst: int) -> dict[str, float]:
    """Seconds OKX's limits force onto the close->ack path (0 = only latency), and onto leverage setup."""
    from qlib_local.sim.ratelimit import RULES

    def wait(requests: int, rule) -> float:
        return max(0, math.ceil(requests / rule.limit) - 1) * rule.window_s

    batch = RULES[
        ("POST", "/api/v5/trade/batch-orders")
    ]  # per user AND instrument: each instrument has 1 order
    return {
        "orders (100 orders = 5 batch requests, 1 order per instrument)": wait(1, batch),
        "balance + positions (1 each)": wait(1, RULES[("GET", "/api/v5/account/balance")]),
        f"set-leverage x{n_inst} (20 per 2 s; done before the close)": wait(
            n_inst, RULES[("POST", "/api/v5/account/set-leverage")]
        ),
        f"one order per request x{n_orders} (60 per 2 s per instrument)": wait(
            1, RULES[("POST", "/api/v5/trade/order")]
        ),
    }


def binance_floor(n_orders: int, family: str = "usdm") -> dict[str, float]:
    """Seconds Binance's published limits force onto the close->ack path: every id looked up first
    (weight 1 each), then batches of 5 (weight 5 each, one order count per order), against the
    weight budget and order-count windows of the adapter's pacing table."""
    from qlib_local.venues.binance.caps import COINM, COINM_PACING, USDM, USDM_PACING

    fam, pacing = (USDM, USDM_PACING) if family == "usdm" else (COINM, COINM_PACING)
    cost = lambda name: pacing.costs[(fam[name].method, fam[name].path)]["weight"][0]  # noqa: E731
    batches = math.ceil(n_orders / 5)
    weight = cost("account") + cost("position_risk") + n_orders * cost("order") + batches * cost("batch_orders")
    out = {f"weight {weight} (balance, positions, {n_orders} lookups, {batches} batches) against "
           f"{pacing.windows['weight'].limit}/min": 0.0 if weight <= pacing.windows["weight"].limit else 60.0}
    for name, w in pacing.windows.items():
        if name != "weight":
            out[f"{n_orders} orders against {name} ({w.limit} per {w.window_s:g} s)"] = \
                max(0, math.ceil(n_orders / w.limit) - 1) * w.window_s
    return out


def close_to_ack(exchange: str, tmp: Path) -> tuple[float, int]:
    """One live run on ``exchange``'s local exchange: seconds from the bar close to the last
    acknowledgement, and the orders acknowledged."""
    from qlib_local.live.accounts import AccountSecrets, Secret, load_account
    from qlib_local.live.session import LiveSession
    from qlib_local.sim import LocalExchange
    from qlib_local.sim.binance import BinanceExchange
    from qlib_local.store import KlineStore
    from qlib_local.timeframes import HOUR_MS, from_ms, to_ms

    tmp = tmp / exchange
    root = tmp / "data"
    insts = write_store(root, N_INST, exchange)
    store = KlineStore(root)
    close = to_ms("2025-01-12T00:00Z")
    for i in insts:  # the collector has everything up to the bar before the close
        store.set_complete_up_to(exchange, i, "1H", from_ms(close - HOUR_MS))
    start = close - int(LEAD_S * 1000)
    if exchange == "okx":
        ex = LocalExchange(root, start=start, speed=1.0)
        ex.add_account("bench", "bk", "bs-secret", "Bp-1", usdt=1_000_000)
        secrets = AccountSecrets(Secret("bk"), Secret("bs-secret"), Secret("Bp-1"))
    else:
        ex = BinanceExchange(root, start=start, speed=1.0, exchange=exchange)
        ex.add_account("bench", "bk", "bs-secret", usdt=1_000_000)
        secrets = AccountSecrets(Secret("bk"), Secret("bs-secret"), None)
    ex.market.preload()
    ex.faults.latency("*", LATENCY_S)
    with ex:
        path = write_accounts(tmp, ex.url, insts, root, exchange=exchange)
        acct = load_account(path, "bench")
        s = LiveSession(acct, secrets, repo=tmp, wait_close_s=LEAD_S + 10)
        close_mono = time.monotonic() + (close - ex.clock.now_ms()) / 1000

        def collector() -> None:
            time.sleep(max(0.0, close_mono - time.monotonic()))
            for i in insts:
                store.set_complete_up_to(exchange, i, "1H", from_ms(close))

        threading.Thread(target=collector, daemon=True).start()
        status = s.run()
        rep = s.report
        n_orders = len(rep.acks) if rep else 0
        acked = s.marks.get("all_acked", float("nan")) - close_mono
        pre = s.timings.get("connect", 0) + s.timings.get("reconcile", 0)
        print(
            f"\n{exchange}: run {status}; {n_orders} orders acknowledged; {len(ex.accounts['bench'].fills)} fills; "
            f"requests {s.venue.requests if s.venue else 0}"
        )
        print(f"before the close: connect (specs, leverage x{N_INST}) + reconcile took {pre:.2f}s")
        print(
            "after the close (s): "
            + ", ".join(f"{k} {s.timings.get(k, 0):.3f}" for k in ("wait_data", "compute", "plan", "execute"))
        )
        print(
            f"  close seen {s.marks.get('close_seen', 0) - close_mono:+.3f}s, first send "
            f"{s.marks.get('send', 0) - close_mono:+.3f}s, last ack {acked:+.3f}s"
        )
    return acked, n_orders


def main() -> None:
    from qlib_local.sim import LocalExchange
    from qlib_local.specs import load_specs
    from qlib_local.store import KlineStore
    from qlib_local.timeframes import HOUR_MS, from_ms, to_ms

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    results: list[Result] = []
    acked, n_orders = close_to_ack("okx", tmp)
    results.append(
        Result(
            f"okx: bar close -> {n_orders} orders acked (20 ms/request, limits on)",
            acked,
            goal=f"< {GOAL_S:g} s",
            met=acked < GOAL_S,
        )
    )
    floor = rate_limit_floor(n_orders, N_INST)
    print("rate-limit floor on the close->ack path (okx):")
    for k, v in floor.items():
        print(f"  {k:<66} {v:5.1f}s")
    latency_floor = 3 * LATENCY_S  # clock check -> balance/positions -> batches, each one round trip
    print(
        f"  latency floor (3 dependent round trips x {LATENCY_S * 1000:.0f} ms)                        "
        f"{latency_floor:5.3f}s"
    )
    b_acked, b_orders = close_to_ack("binanceusdm", tmp)
    results.append(
        Result(
            f"binanceusdm: bar close -> {b_orders} orders acked (batches of 5, limits on)",
            b_acked,
            goal=f"< {GOAL_S:g} s",
            met=b_acked < GOAL_S,
        )
    )
    b_floor = binance_floor(b_orders)
    print("rate-limit floor on the close->ack path (binanceusdm):")
    for k, v in b_floor.items():
        print(f"  {k:<66} {v:5.1f}s")
    b_latency = 4 * LATENCY_S  # clock check -> balance/positions -> id lookups -> batches
    results.append(Result("okx: close -> all acked / its floor (limits + 3 round trips)",
                          acked / (sum(v for k, v in floor.items() if "before the close" not in k) + latency_floor),
                          goal="reported"))
    results.append(Result("binanceusdm: close -> all acked / its floor (limits + 4 round trips)",
                          b_acked / (sum(b_floor.values()) + b_latency), goal="reported"))
    results.append(Result("binanceusdm / okx (close -> all acked)", b_acked / acked, goal="reported"))
    root = tmp / "okx" / "data"
    insts = sorted(load_specs(root, "okx"))
    store = KlineStore(root)
    close = to_ms("2025-01-12T00:00Z")
    tmp = tmp / "okx"
    # papermill's own overhead, one run, no added latency
    ex2 = LocalExchange(root, start=close + 2 * HOUR_MS + 1000)
    ex2.add_account("bench", "bk", "bs-secret", "Bp-1", usdt=1_000_000)
    with ex2:
        for i in insts:
            store.set_complete_up_to("okx", i, "1H", from_ms(close + 2 * HOUR_MS))
        path = write_accounts(tmp, ex2.url, insts, root, ledger="ledger/bench-papermill.sqlite")
        from qlib_local.ledger import Ledger

        led = Ledger(tmp / "ledger" / "bench-papermill.sqlite")  # leverage persists on an exchange account:
        for i, spec in load_specs(root, "okx").items():  # set once, long ago
            lev = min(3.0, spec.max_lever)
            ex2.accounts["bench"].leverage[i] = lev
            led.set_leverage("bench", i, "cross", "net", lev)
        led.close()
        env = {
            "QLIB_LOCAL_BENCH_API_KEY": "bk",
            "QLIB_LOCAL_BENCH_SECRET_KEY": "bs-secret",
            "QLIB_LOCAL_BENCH_PASSPHRASE": "Bp-1",
        }
        os.environ.update(env)
        from qlib_local.live.runner import run_live

        t0 = time.perf_counter()
        out = run_live(path, "bench", at=from_ms(close + 2 * HOUR_MS).isoformat())
        wall = time.perf_counter() - t0
        for k in env:
            os.environ.pop(k, None)
    print(
        f"\npapermill run {out.status} {out.error or ''}: wall {wall:.2f}s, kernel start -> first cell "
        f"{out.kernel_overhead_s or float('nan'):.2f}s"
    )
    results.append(
        Result(
            "papermill: kernel start -> first cell",
            out.kernel_overhead_s or float("nan"),
            goal="reported apart",
        )
    )
    results.append(Result("papermill: whole run (100 instruments)", wall, goal="reported apart"))
    report("live", results)


if __name__ == "__main__":
    main()
