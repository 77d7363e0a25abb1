"""Hand-made stores for the account-side tests: bars whose prices a test can compute by hand.

Prices are flat between steps, and every bar opens at the previous close, so the last price,
the mark and the close at any time are one number; wicks are set bar by bar.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from qlib_local.sim import LocalExchange
from qlib_local.specs import InstrumentSpec, save_specs
from qlib_local.store import KlineStore
from qlib_local.timeframes import MINUTE_MS, to_ms

DAY = "2025-03-03"  # a Monday; funding at 00:00, 08:00, 16:00 UTC
START, END = f"{DAY}T06:00Z", "2025-03-04T06:00Z"


def at(hhmm: str, day: str = DAY) -> int:
    """Milliseconds of ``hh:mm[:ss]`` UTC on ``day``."""
    return to_ms(f"{day}T{hhmm}Z")


def stepped_bars(levels: Mapping[str, float], wicks: Mapping[str, tuple[float, float]] = (),
                 start: str = START, end: str = END) -> pd.DataFrame:
    """1m bars from ``start`` to ``end``: the close steps to ``levels[t]`` in the bar opening at
    ``t`` (ISO), each bar opens at the previous close; ``wicks[t] = (high, low)`` widens bar ``t``."""
    ts = np.arange(to_ms(start), to_ms(end), MINUTE_MS, dtype=np.int64)
    close = np.full(len(ts), np.nan)
    for t, px in sorted(levels.items(), key=lambda kv: to_ms(kv[0])):
        close[ts >= to_ms(t)] = px
    assert np.isfinite(close).all(), "the first level must start at or before the first bar"
    open_ = np.r_[close[0], close[:-1]]
    high, low = np.maximum(open_, close), np.minimum(open_, close)
    for t, (h, lo) in dict(wicks).items():
        i = int(np.searchsorted(ts, to_ms(t)))
        high[i], low[i] = max(h, high[i]), min(lo, low[i])
    idx = pd.DatetimeIndex(ts.astype("datetime64[ms]"), name="ts").tz_localize("UTC")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": 1.0, "quote_volume": close}, index=idx)


def make_store(root: Path, bars: Mapping[str, pd.DataFrame], specs: Mapping[str, InstrumentSpec],
               funding: Mapping[str, Mapping[str, float]] = ()) -> KlineStore:
    """A store of 1m bars, specs and funding rates (``{inst: {iso time: rate}}``)."""
    store = KlineStore(root, create=True, durable=False)
    for inst, df in bars.items():
        store.upsert("okx", inst, "1m", df)
    save_specs(root, "okx", dict(specs))
    for inst, rates in dict(funding).items():
        idx = pd.DatetimeIndex([pd.Timestamp(t) for t in rates], name="ts")
        store.upsert_funding("okx", inst, pd.Series(list(rates.values()), index=idx, dtype=float))
    return store


def linear(inst: str, ct_val: float, tick: float, **kw) -> InstrumentSpec:
    return InstrumentSpec(inst, ct_val=ct_val, lot_sz=1.0, min_sz=1.0, tick_sz=tick, max_lever=100.0,
                          ct_val_ccy=inst.split("-")[0], **kw)


def inverse(inst: str, ct_val: float = 100.0, tick: float = 0.1, **kw) -> InstrumentSpec:
    coin = inst.split("-")[0]
    return InstrumentSpec(inst, ct_val=ct_val, lot_sz=1.0, min_sz=1.0, tick_sz=tick, max_lever=100.0,
                          ct_val_ccy="USD", settle_ccy=coin, ct_type="inverse", **kw)


@contextmanager
def serving(root: Path, start: str, **kw) -> Iterator[LocalExchange]:
    """The local exchange on ``root`` from ``start`` (clock stepped by the test), rate limits off."""
    ex = LocalExchange(root, start=start, rate_limit=False, **kw)
    with ex:
        yield ex


def okx_clients(ex: LocalExchange, key: str, secret: str, passphrase: str) -> dict:
    """python-okx trade, account and public clients of one account."""
    import okx.Account
    import okx.PublicData
    import okx.Trade

    kw = dict(flag="1", domain=ex.url, debug=False)
    return {"trade": okx.Trade.TradeAPI(key, secret, passphrase, **kw),
            "account": okx.Account.AccountAPI(key, secret, passphrase, **kw),
            "public": okx.PublicData.PublicAPI(**kw)}


def ccxt_client(ex: LocalExchange, key: str, secret: str, passphrase: str):
    import ccxt
    from tests_support import GUARD_MS

    c = ccxt.okx({"apiKey": key, "secret": secret, "password": passphrase,
                  "options": {"fetchMarkets": {"types": ["swap"]}}, "timeout": GUARD_MS})
    c.urls["api"]["rest"] = ex.url
    return c


def ok(r: dict) -> list[dict]:
    """The data of a python-okx answer that must have succeeded (per order too)."""
    assert r["code"] == "0", r
    for d in r["data"]:
        assert d.get("sCode", "0") == "0", r
    return r["data"]
