"""Cross-sectional factors: computed across all instruments at each bar.

``bars`` is the whole panel: its rows are the union of the instruments' bars, so a
column is NaN where that instrument has no bar. Return a wide frame (per instrument)
or a Series over time (a market-wide condition, broadcast to every instrument).
"""

import pandas as pd


def _btc_column(bars) -> str:
    # OKX's BTC-USDT-SWAP / BTC-USD-SWAP, Binance's BTCUSDT / BTCUSD_PERP
    cols = [c for c in bars.close.columns if str(c).startswith("BTC-") or str(c) in ("BTCUSDT", "BTCUSD_PERP")]
    if not cols:
        raise ValueError("BtcBull needs a BTC swap (BTC-..., BTCUSDT, BTCUSD_PERP) in the universe")
    return cols[0]


def _own(frame: pd.DataFrame, fn) -> pd.DataFrame:
    """``fn`` on each column's own bars (its non-missing rows), back on the panel's rows."""
    return pd.DataFrame({c: fn(frame[c].dropna()).reindex(frame.index) for c in frame.columns}, index=frame.index)


def BtcBull(bars, fast: int, slow: int) -> pd.Series:
    """True while BTC's EMA(fast) is above its EMA(slow), on BTC's own bars (held between them)."""
    btc = bars.close[_btc_column(bars)].dropna()
    ema_f = btc.ewm(span=fast, adjust=False, min_periods=fast).mean()
    ema_s = btc.ewm(span=slow, adjust=False, min_periods=slow).mean()
    bull = ((ema_f > ema_s) & ema_s.notna()).reindex(bars.index).ffill()
    return bull.fillna(False).astype(bool)


def VolumeRank(bars, n: int) -> pd.DataFrame:
    """Percentile rank (0..1] of each instrument's quote volume over its own last ``n`` bars."""
    vol = _own(bars.quote_volume, lambda v: v.rolling(n, min_periods=n).sum())
    return vol.rank(axis=1, pct=True)
