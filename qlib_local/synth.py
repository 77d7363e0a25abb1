"""Deterministic synthetic perpetual-swap candles, so demos and tests need no network.

Returns follow a two-speed stochastic-volatility model (volatility clusters), Student-t
shocks (fat tails), a common market factor with per-coin betas, and regime-switching
drifts (trends). Same seed, same bars, on every machine. Funding rates, mark prices and
inverse swaps come from :mod:`qlib_local.synth_perp`, tied to these prices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from qlib_local import synth_perp
from qlib_local.specs import InstrumentSpec
from qlib_local.timeframes import HOUR_MS, parse_timeframe, to_ms

MAJORS: list[tuple[str, float, float]] = [  # (base, start price, max leverage)
    ("BTC", 60_000.0, 100),
    ("ETH", 3_000.0, 100),
    ("SOL", 150.0, 75),
    ("XRP", 0.6, 75),
    ("DOGE", 0.15, 75),
    ("ADA", 0.45, 75),
    ("AVAX", 35.0, 50),
    ("LINK", 15.0, 50),
    ("DOT", 7.0, 50),
    ("TRX", 0.12, 50),
    ("TON", 5.5, 50),
    ("LTC", 80.0, 75),
    ("BCH", 400.0, 75),
    ("UNI", 8.0, 50),
    ("NEAR", 5.0, 50),
    ("APT", 9.0, 50),
    ("ARB", 1.0, 50),
    ("OP", 2.0, 50),
    ("FIL", 5.0, 50),
    ("ATOM", 8.0, 50),
    ("ETC", 25.0, 50),
    ("XLM", 0.11, 50),
    ("ICP", 10.0, 50),
    ("INJ", 25.0, 50),
    ("SUI", 1.2, 50),
    ("SEI", 0.5, 50),
    ("TIA", 8.0, 50),
    ("IMX", 2.0, 50),
    ("HBAR", 0.08, 50),
    ("AAVE", 100.0, 50),
    ("GRT", 0.2, 50),
    ("ALGO", 0.18, 50),
    ("SAND", 0.45, 50),
    ("MANA", 0.4, 50),
    ("AXS", 7.0, 50),
    ("EGLD", 40.0, 50),
    ("THETA", 1.5, 50),
    ("XTZ", 0.9, 50),
    ("EOS", 0.7, 50),
    ("CRV", 0.5, 50),
    ("SNX", 2.5, 50),
    ("COMP", 50.0, 50),
    ("DYDX", 2.0, 50),
    ("LDO", 2.0, 50),
    ("PEPE", 0.00001, 50),
    ("WIF", 2.5, 20),
    ("ORDI", 40.0, 20),
    ("JUP", 1.0, 20),
    ("PYTH", 0.5, 20),
    ("STX", 2.0, 20),
    ("MKR", 2_500.0, 50),
    ("ENS", 20.0, 20),
]


@dataclass(frozen=True)
class SynthConfig:
    instruments: int = 10
    timeframe: str = "1m"
    days: float = 30.0
    seed: int = 0
    start: str = "2025-01-01"
    gaps: int = 0  # random runs of missing bars per instrument, as real data has
    funding: bool = False  # write_synthetic also stores funding rates (``data synth`` does by default)
    mark: bool = False  # ... and mark-price candles
    inverse: bool = False  # add the coin-margined BTC-USD-SWAP (and ETH-USD-SWAP with 2+ instruments)
    funding_interval_h: float = 8.0


def instrument_names(n: int) -> list[str]:
    """OKX-style ids: real tickers first, then deterministic made-up ones."""
    bases = [b for b, _, _ in MAJORS[:n]]
    for i in range(len(bases), n):
        a, rest = divmod(i, 26 * 26)
        bases.append("Q" + chr(65 + a % 26) + chr(65 + rest // 26) + chr(65 + rest % 26))
    return [f"{b}-USDT-SWAP" for b in bases]


def _start_price(i: int, rng: np.random.Generator) -> float:
    return MAJORS[i][1] if i < len(MAJORS) else float(np.exp(rng.uniform(np.log(0.01), np.log(200))))


def contract_spec(inst_id: str, price: float, max_lever: float) -> InstrumentSpec:
    """Specs as OKX sets them: a contract worth tens of dollars, price-scaled ticks."""
    ct_val = 10.0 ** round(math.log10(100.0 / price)) if price < 100 else (0.01 if price > 10_000 else 0.1)
    ct_val = float(f"{ct_val:.10g}")
    lot = 0.1 if price * ct_val >= 50 else 1.0
    tick = float(f"{10.0 ** (math.floor(math.log10(price)) - 4):.10g}")
    return InstrumentSpec(
        inst_id=inst_id,
        ct_val=ct_val,
        lot_sz=lot,
        min_sz=lot,
        tick_sz=tick,
        max_lever=float(max_lever),
        ct_val_ccy=inst_id.split("-")[0],
        settle_ccy="USDT",
        mmr=synth_perp.first_tier_rate(max_lever),
        mm_tiers=synth_perp.margin_tiers(inst_id.split("-")[0], max_lever),
    )


def _ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    return lfilter([1.0], [1.0, -phi], shocks)


def _market(cfg: SynthConfig, n: int, bar_years: float) -> np.ndarray:
    rng = np.random.default_rng([cfg.seed, 1_000_003])
    return _returns(rng, n, bar_years, annual_vol=0.55, fat=4.0)


def _returns(rng: np.random.Generator, n: int, bar_years: float, annual_vol: float, fat: float) -> np.ndarray:
    """Log returns with clustered volatility (slow + fast log-vol AR(1)) and t shocks."""
    sigma = annual_vol * math.sqrt(bar_years)
    slow = _ar1(rng.normal(0, 0.01, n), 0.9995)
    fast = _ar1(rng.normal(0, 0.08, n), 0.97)
    vol = sigma * np.exp(slow + fast - 0.5 * (np.var(slow) + np.var(fast)))
    shocks = rng.standard_t(fat, n) / math.sqrt(fat / (fat - 2))
    return vol * shocks


def _drift(rng: np.random.Generator, n: int, bar_years: float) -> np.ndarray:
    """Trend regimes: drifts of about +-150%/year lasting days to weeks."""
    bars_per_day = max(1, int(round(1 / (bar_years * 365))))
    out = np.empty(n)
    i = 0
    while i < n:
        length = int(rng.integers(2, 30) * bars_per_day)
        out[i : i + length] = rng.normal(0, 1.5) * bar_years
        i += length
    return out


def _on_tick_grid(df: pd.DataFrame, tick: float) -> pd.DataFrame:
    """Prices on the instrument's tick grid, as every exchange's are: fills and marks land on
    the grid, so off-grid bars would make backtest and exchange disagree by a rounding."""
    for c in ("open", "high", "low", "close"):
        df[c] = np.maximum(np.round(df[c].to_numpy() / tick), 1.0) * tick
    return df


def generate(cfg: SynthConfig) -> tuple[dict[str, pd.DataFrame], dict[str, InstrumentSpec]]:
    """Bars and specs of ``cfg.instruments`` swaps (UTC open times, base-currency volume)."""
    step = parse_timeframe(cfg.timeframe)
    start_ms = to_ms(cfg.start) // step * step
    n = int(cfg.days * 86_400_000 // step)
    bar_years = step / (365.0 * 86_400_000)
    ts = start_ms + step * np.arange(n, dtype=np.int64)
    index = pd.DatetimeIndex(ts.astype("datetime64[ms]"), name="ts").tz_localize("UTC")
    market = _market(cfg, n, bar_years)
    bars, specs = {}, {}
    for i, inst in enumerate(instrument_names(cfg.instruments)):
        rng = np.random.default_rng([cfg.seed, i])
        beta = 1.0 if i == 0 else rng.uniform(0.6, 1.6)
        idio = _returns(rng, n, bar_years, annual_vol=rng.uniform(0.2, 0.9), fat=rng.uniform(3.0, 6.0))
        r = beta * market + idio + _drift(rng, n, bar_years)
        p0 = _start_price(i, rng)
        close = p0 * np.exp(np.cumsum(r))
        open_ = np.r_[p0, close[:-1]]
        spread = np.abs(rng.normal(0, 1, (2, n))) * np.abs(r).mean() * 0.8
        high = np.maximum(open_, close) * np.exp(spread[0])
        low = np.minimum(open_, close) * np.exp(-spread[1])
        usd_per_bar = 2e5 * (0.92**i) * step / 60_000 + 50.0
        activity = np.exp(rng.normal(0, 0.4, n)) * (1 + 3 * np.abs(r) / (np.abs(r).mean() + 1e-12))
        quote_volume = usd_per_bar * activity
        volume = quote_volume / ((open_ + close) / 2)
        df = pd.DataFrame(
            {
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": volume,
                "quote_volume": quote_volume,
            },
            index=index,
        )
        if cfg.gaps:
            drop = np.zeros(n, bool)
            for s in rng.integers(1, max(2, n - 1), cfg.gaps):
                drop[s : s + int(rng.integers(1, 6))] = True
            df = df[~drop]
        max_lever = MAJORS[i][2] if i < len(MAJORS) else float(rng.choice([20, 50]))
        spec = contract_spec(inst, p0, max_lever)
        bars[inst] = _on_tick_grid(df, spec.tick_sz)
        specs[inst] = spec
    if cfg.inverse:
        for sibling, inst, usd, tick, lever in synth_perp.INVERSE_SWAPS:
            if sibling in bars:
                rng = np.random.default_rng([cfg.seed, 2_000_003, len(bars)])
                bars[inst] = synth_perp.inverse_bars(bars[sibling], tick, rng)
                specs[inst] = synth_perp.inverse_spec(inst, usd, tick, lever, float(bars[sibling]["close"].iloc[0]))
    if cfg.funding_interval_h != 8.0:
        specs = {k: replace(v, funding_interval_h=cfg.funding_interval_h) for k, v in specs.items()}
    return bars, specs


def generate_perp(cfg: SynthConfig, bars: dict[str, pd.DataFrame], specs: dict[str, InstrumentSpec]
                  ) -> tuple[dict[str, pd.Series], dict[str, pd.DataFrame]]:
    """Funding rates (at each instrument's funding times) and mark candles for ``generate``'s bars."""
    step = parse_timeframe(cfg.timeframe)
    funding, mark = {}, {}
    for i, (inst, df) in enumerate(bars.items()):
        interval = int(round(specs[inst].funding_interval_h * HOUR_MS))
        funding[inst] = synth_perp.funding_rates(df, step, interval, np.random.default_rng([cfg.seed, i, 77]))
        mark[inst] = synth_perp.mark_bars(df, step, specs[inst].tick_sz, np.random.default_rng([cfg.seed, i, 78]))
    return funding, mark


def write_synthetic(store, cfg: SynthConfig, exchange: str = "okx") -> list[str]:
    """Generate and upsert into ``store`` (a KlineStore); writes the specs file too, and the
    funding rates and mark candles when ``cfg`` asks for them."""
    from qlib_local.specs import save_specs
    from qlib_local.store.funding import mark_exchange
    from qlib_local.synth_binance import rename

    bars, specs = rename(*generate(cfg), exchange, cfg.seed)
    for inst, df in bars.items():
        store.upsert(exchange, inst, cfg.timeframe, df)
    save_specs(store.root, exchange, specs)
    if cfg.funding or cfg.mark:
        funding, mark = generate_perp(cfg, bars, specs)
        for inst in bars:
            if cfg.funding:
                store.upsert_funding(exchange, inst, funding[inst])
            if cfg.mark:
                store.upsert(mark_exchange(exchange), inst, cfg.timeframe, mark[inst])
    return list(bars)
