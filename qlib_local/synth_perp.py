"""The perpetual-swap side of the synthetic data: funding rates, mark prices, inverse
contracts and maintenance tiers, each tied to the generated prices.

Funding follows the venues' formula (Binance and OKX alike): a premium ``P`` (how far the
swap trades from its index), averaged over the funding period, plus the interest rate
clamped to ``±0.05%`` of it::

    rate = P + clamp(0.01% - P, -0.05%, +0.05%)        (then capped at ±0.75%)

so the rate is exactly 0.01% per 8 h whenever the premium is small (most settlements, as in
the real XRP file), and moves with the premium when the swap runs. ``P`` is mean-reverting
noise plus a share of the instrument's own return over the period, with an extra kick when
that return is unusually large: a run up gives positive spikes, a crash negative ones.

The mark price is the last price times ``exp(basis)``, the basis a fast mean-reverting
process of a few basis points. Inverse swaps (``BTC-USD-SWAP``, ``ETH-USD-SWAP``) follow
their linear sibling's prices with a small basis of their own.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from qlib_local.specs import InstrumentSpec
from qlib_local.timeframes import HOUR_MS, MINUTE_MS

INTEREST = 0.0001  # per 8 h: the interest component of both venues' formula
CLAMP = 0.0005  # the premium within ±0.05% of the interest rate leaves the rate at the interest rate
RATE_CAP = 0.0075  # venues cap a settlement's rate (OKX/Binance: 0.375%..3% by instrument)
PREMIUM_PHI = 0.6  # premium persistence from one settlement to the next
PREMIUM_NOISE = 0.0002
RUN_SHARE = 0.01  # premium per unit of the period's log return (5% run up -> +0.05%)
SPIKE_Z = 2.5  # a period's return beyond this many of its typical size adds a spike
SPIKE_SHARE = 0.03
MARK_BASIS_SD = 0.0003  # stationary standard deviation of log(mark / last)
MARK_BASIS_TAU_MS = 30 * MINUTE_MS  # how fast the mark's basis reverts
INVERSE_BASIS_SD = 0.0005
MAJORS = ("BTC", "ETH")

# Inverse swaps as OKX lists them: (linear sibling, inverse id, USD per contract, tick, max leverage)
INVERSE_SWAPS = (("BTC-USDT-SWAP", "BTC-USD-SWAP", 100.0, 0.1, 100.0),
                 ("ETH-USDT-SWAP", "ETH-USD-SWAP", 10.0, 0.01, 100.0))
# Maintenance tiers (Binance style): notional bounds in USD and the first tier's rate by max leverage;
# each next tier's rate is the first times these factors (capped at 25%).
_TIER_BOUNDS = {"major": (50e3, 600e3, 3e6, 12e6, 50e6), "alt": (10e3, 100e3, 500e3, 2e6, 10e6),
                "small": (5e3, 25e3, 100e3, 500e3, 2e6)}
_TIER_FACTORS = (1.0, 1.25, 2.5, 5.0, 10.0, 20.0)


def first_tier_rate(max_lever: float) -> float:
    """Maintenance rate of the first tier: below half the initial margin at full leverage."""
    return 0.004 if max_lever >= 100 else 0.0065 if max_lever >= 75 else 0.01 if max_lever >= 50 else 0.025


def margin_tiers(base: str, max_lever: float, usd_per_unit: float = 1.0) -> tuple[tuple[float, float], ...]:
    """Tiers ((max notional, rate), ...) for a swap; ``usd_per_unit`` converts the USD bounds
    into the settlement currency (a coin's price for inverse swaps). BTC and ETH get the
    widest, cheapest tiers; high-leverage alts middling ones; 20x coins the narrowest."""
    kind = "major" if base in MAJORS else ("alt" if max_lever >= 50 else "small")
    r0 = first_tier_rate(max_lever)
    bounds = [float(f"{b / usd_per_unit:.6g}") for b in _TIER_BOUNDS[kind]] + [math.inf]
    return tuple((b, min(0.25, r0 * f)) for b, f in zip(bounds, _TIER_FACTORS, strict=True))


def _ou(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """AR(1) with stationary standard deviation ``sd``, started in its stationary law."""
    if n == 0:
        return np.empty(0)
    shocks = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), n)
    shocks[0] = rng.normal(0.0, sd)
    return lfilter([1.0], [1.0, -phi], shocks)


def _price_at(bars: pd.DataFrame, step_ms: int, times: np.ndarray) -> np.ndarray:
    """The last close known at each time (bars closing at or before it); NaN before the first."""
    close_ms = bars.index.as_unit("ms").asi8 + step_ms
    i = np.searchsorted(close_ms, times, "right") - 1
    out = np.full(len(times), np.nan)
    ok = i >= 0
    out[ok] = bars["close"].to_numpy(np.float64)[i[ok]]
    return out


def funding_rates(bars: pd.DataFrame, step_ms: int, interval_ms: int, rng: np.random.Generator) -> pd.Series:
    """Settled rates at every funding time the bars cover (epoch-aligned multiples of the interval)."""
    if bars.empty:
        return pd.Series(np.empty(0), index=pd.DatetimeIndex([], tz="UTC", name="ts"), name="rate")
    first = int(bars.index[0].value // 1_000_000)
    last_close = int(bars.index[-1].value // 1_000_000) + step_ms
    times = np.arange((first // interval_ms + 1) * interval_ms, last_close + 1, interval_ms, dtype=np.int64)
    now = _price_at(bars, step_ms, times)
    then = _price_at(bars, step_ms, times - interval_ms)
    then = np.where(np.isfinite(then), then, bars["open"].iloc[0])
    run = np.nan_to_num(np.log(now / then))
    typical = float(np.median(np.abs(run))) / 0.6745 + 1e-12 if len(run) else 1.0
    scale = interval_ms / (8 * HOUR_MS)  # rates are per period: a shorter period settles less each time
    spikes = np.where(np.abs(run) > SPIKE_Z * typical, SPIKE_SHARE * run, 0.0)
    premium = _ou(rng, len(times), PREMIUM_PHI, PREMIUM_NOISE * scale) + RUN_SHARE * run + spikes
    interest = INTEREST * scale
    rate = premium + np.clip(interest - premium, -CLAMP * scale, CLAMP * scale)
    rate = np.round(np.clip(rate, -RATE_CAP, RATE_CAP), 8)
    idx = pd.DatetimeIndex(times.astype("datetime64[ms]"), name="ts").tz_localize("UTC")
    return pd.Series(rate, index=idx, name="rate")


def mark_bars(bars: pd.DataFrame, step_ms: int, tick: float, rng: np.random.Generator) -> pd.DataFrame:
    """Mark-price candles: the last price times exp(basis), on the tick grid, volume 0."""
    n = len(bars)
    phi = math.exp(-step_ms / MARK_BASIS_TAU_MS)
    basis = _ou(rng, n + 1, phi, MARK_BASIS_SD)
    b_open, b_close = basis[:-1], basis[1:]
    o = bars["open"].to_numpy(np.float64) * np.exp(b_open)
    c = bars["close"].to_numpy(np.float64) * np.exp(b_close)
    mid = np.exp(0.5 * (b_open + b_close))
    h = np.maximum(np.maximum(o, c), bars["high"].to_numpy(np.float64) * mid)
    lo = np.minimum(np.minimum(o, c), bars["low"].to_numpy(np.float64) * mid)
    out = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 0.0}, index=bars.index)
    for col in ("open", "high", "low", "close"):
        out[col] = np.maximum(np.round(out[col].to_numpy() / tick), 1.0) * tick
    return out


def inverse_bars(sibling: pd.DataFrame, tick: float, rng: np.random.Generator) -> pd.DataFrame:
    """An inverse swap's candles from its linear sibling's: the same coin, its own small basis,
    volume in the coin (less of it: inverse books are thinner)."""
    n = len(sibling)
    f = np.exp(_ou(rng, n, 0.98, INVERSE_BASIS_SD))
    c = sibling["close"].to_numpy(np.float64) * f
    o = np.r_[sibling["open"].iloc[0] * f[0] if n else 0.0, c[:-1]]
    h = np.maximum(np.maximum(o, c), sibling["high"].to_numpy(np.float64) * f)
    lo = np.minimum(np.minimum(o, c), sibling["low"].to_numpy(np.float64) * f)
    vol = sibling["volume"].to_numpy(np.float64) * 0.3
    out = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": vol,
                        "quote_volume": vol * (o + c) / 2}, index=sibling.index)
    for col in ("open", "high", "low", "close"):
        out[col] = np.maximum(np.round(out[col].to_numpy() / tick), 1.0) * tick
    return out


def inverse_spec(inst_id: str, usd_per_contract: float, tick: float, max_lever: float, price: float) -> InstrumentSpec:
    base = inst_id.split("-")[0]
    return InstrumentSpec(
        inst_id=inst_id, ct_val=usd_per_contract, lot_sz=1.0, min_sz=1.0, tick_sz=tick, max_lever=max_lever,
        ct_val_ccy="USD", settle_ccy=base, ct_type="inverse", mmr=first_tier_rate(max_lever),
        mm_tiers=margin_tiers(base, max_lever, usd_per_unit=price),
    )
