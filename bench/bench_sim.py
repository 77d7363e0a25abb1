"""Local OKX exchange throughput on loopback, and the cost of OKX's candle rate limit.

Run: ``.venv/bin/python -m bench.bench_sim`` (about 25 s). Figures: sustained candles and
place-order requests per second (rate limits off), and the wall time a rate-limited
refresh of 300 instruments' latest candle takes (floor about 13-15 s at 40 per 2 s).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime

import httpx

from qlib_local.sim import LocalExchange, sign
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, write_synthetic

KEY, SECRET, PASS = "bench", "bench-secret", "Bench-1"


def _stamp() -> str:
    t = datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _rate(fn, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(n)
        n += 1
    return n / (time.perf_counter() - t0)


def run(seconds: float = 2.0, refresh: int = 300) -> list[tuple[str, float, str]]:
    out: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as root:
        store = KlineStore(root, create=True, durable=False)
        insts = write_synthetic(store, SynthConfig(instruments=10, timeframe="1m", days=2, seed=3))
        ex = LocalExchange(store, start="2025-01-02T12:00:00Z", rate_limit=False)
        ex.add_account("bench", KEY, SECRET, PASS, usdt=1e12)
        ex.market.preload()
        with ex, httpx.Client(base_url=ex.url) as c:

            def candles(i: int) -> None:
                r = c.get(
                    "/api/v5/market/candles",
                    params={"instId": insts[i % len(insts)], "bar": "1m", "limit": "100"},
                )
                assert r.json()["code"] == "0"

            out.append(("sim candles (100 x 1m) requests/s", _rate(candles, seconds), "req/s"))

            def place(i: int) -> None:
                body = json.dumps(
                    {
                        "instId": "ETH-USDT-SWAP",
                        "tdMode": "cross",
                        "side": "buy" if i % 2 else "sell",
                        "ordType": "market",
                        "sz": "1",
                    }
                )
                ts = _stamp()
                h = {
                    "OK-ACCESS-KEY": KEY,
                    "OK-ACCESS-PASSPHRASE": PASS,
                    "OK-ACCESS-TIMESTAMP": ts,
                    "OK-ACCESS-SIGN": sign(SECRET, ts, "POST", "/api/v5/trade/order", body),
                    "Content-Type": "application/json",
                }
                r = c.post("/api/v5/trade/order", content=body, headers=h)
                assert r.json()["code"] == "0", r.text

            out.append(("sim place-order (signed, market) requests/s", _rate(place, seconds), "req/s"))

            ex.rate_limit = True
            t0 = time.perf_counter()
            retries = 0
            for i in range(refresh):
                while True:
                    r = c.get(
                        "/api/v5/market/candles",
                        params={"instId": insts[i % len(insts)], "bar": "1m", "limit": "1"},
                    )
                    if r.status_code != 429:
                        break
                    retries += 1
                    time.sleep(0.05)
            took = time.perf_counter() - t0
            floor = max(0.0, (refresh - 40) / 20)  # a burst of 40, then 20 per second
            out.append((f"rate-limited latest-candle refresh of {refresh} instruments", took, "s"))
            out.append(("  OKX rate-limit floor for it", floor, "s"))
            out.append(("  measured / floor", took / floor if floor else float("nan"), "x"))
            out.append(("  50011 answers retried", float(retries), "count"))
    return out


def main() -> None:
    for name, value, unit in run():
        print(f"{name:<58} {value:>10.2f} {unit}")


if __name__ == "__main__":
    main()
