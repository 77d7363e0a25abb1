"""Warm-up: how many bars of history a strategy needs before its values stop depending on the start.

A rolling window of ``n`` needs exactly ``n`` bars; a recursive factor (an EMA) never forgets
its first value, so it counts as settled once a history starting later gives the same value
within ``SETTLE_RTOL`` (relative to the value, or to the column's typical size near zero).
Trading before that is warm-up bias: the backtest's early trades would depend on where the
stored history happens to begin, and a live job reading a shorter history would disagree.

The warm-up applied to trading is measured on a deterministic synthetic *probe* panel, not
on the stored data, so one config gets one number in a backtest, a sweep and every live run,
whatever history each reads, at the cost of milliseconds per process.
``qlib-local check lookahead`` measures again on the real data (:func:`settle_on`) and
reports where the data needs more.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qlib_local.errors import QlibError
from qlib_local.research.factors import FIELDS, Bars, FactorContext, FactorRegistry

SETTLE_RTOL = 1e-6
EXACT_RTOL = 1e-12  # what a rolling window gives past its window, from any start (float noise)
# A recursive factor settles after ln(rtol / start gap) / ln(decay) bars, and the start gap on
# real bars can exceed the probe's: a quarter more bars covers a gap up to ~60x the probe's for
# an EMA (measured: the demo's EMA55 on 4H needs 437 bars, the probe 424, the warm-up 530).
SETTLE_MARGIN = 1.25
PROBE_LENGTHS = (4_000, 16_000, 64_000)  # a longer probe only for factors that have not settled
PROBE_SERIES = 16  # synthetic series; more instruments reuse them
PROBE_SEED = 13

RawIntent = Callable[..., pd.DataFrame]  # (sc, bars, registry, cache) -> intents on bar-open rows


class WarmupError(QlibError):
    """A strategy whose values never stop depending on where the history starts."""


@dataclass(frozen=True)
class StrategyWarmup:
    """Bars of a strategy's own rule it needs before trading; None where nothing settles."""

    strategy: str
    bars: int | None
    factors: dict[str, int | None]
    intent: int | None
    within: int  # the longest history the probe compared


def used_factors(sc) -> list[str]:
    """Every factor name a configured strategy reads: its own list and the config's."""
    names = [*sc.strategy.factors(), *sc.factors, sc.cross_sect_factor, sc.rank_factor]
    return list(dict.fromkeys(n for n in names if n))


def as_matrix(values: pd.DataFrame | pd.Series) -> np.ndarray:
    """Factor or intent values as floats [T, C] (a market-wide Series is one column)."""
    arr = values.to_numpy(np.float64, na_value=np.nan) if isinstance(values, pd.Series) else \
        values.astype(np.float64).to_numpy()
    return arr.reshape(len(values), -1)


def agree(full: np.ndarray, other: np.ndarray, rtol: float, scale: np.ndarray) -> np.ndarray:
    """Where two computations agree: both missing, or within ``rtol`` of max(|value|, scale)."""
    both_nan = np.isnan(full) & np.isnan(other)
    with np.errstate(invalid="ignore"):
        close = np.abs(full - other) <= rtol * np.maximum(np.abs(full), scale)
    return both_nan | close


def typical_size(values: np.ndarray) -> np.ndarray:
    """Per column, the median absolute finite value (0 where there is none): the scale near zero."""
    finite = np.where(np.isfinite(values), np.abs(values), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column has no median
        med = np.nanmedian(finite, axis=0) if len(finite) else np.zeros(values.shape[1])
    return np.nan_to_num(med, nan=0.0)


def settle_by_start(compute: Callable[[int], np.ndarray], starts: Sequence[int],
                    rtol: float) -> list[tuple[int, int | None, bool]]:
    """For each later start: (bars it had, bars it needed to agree with the full history or
    None when its last row still disagrees, whether it then agrees exactly).

    ``compute(k)`` gives the values of a history starting at row ``k`` ([T - k, C]); each
    start is compared with ``compute(0)`` on their common rows. A start needs its last
    disagreeing row plus one more bar (a rolling window of n: n bars, after which it agrees
    to float noise; a recursive factor only comes within ``rtol``).
    """
    full = compute(0)
    scale = typical_size(full)
    out = []
    for k in starts:
        part = compute(k)
        bad = np.flatnonzero(~agree(full[k:], part, rtol, scale).all(axis=1))
        need = 1 if len(bad) == 0 else None if bad[-1] == len(part) - 1 else int(bad[-1]) + 2
        exact = need is not None and bool(agree(full[k + need - 1:], part[need - 1:], EXACT_RTOL, scale).all())
        out.append((len(part), need, exact))
    return out


def settle_length(compute: Callable[[int], np.ndarray], starts: Sequence[int], rtol: float,
                  margin: float = 1.0) -> int | None:
    """Bars of history after which values no longer depend on the start; None if some start
    never catches up (see :func:`settle_by_start`). A start that only comes within ``rtol``
    (recursive) needs ``margin`` times its bars."""
    needs = [need if exact or need is None else math.ceil(need * margin)
             for _, need, exact in settle_by_start(compute, starts, rtol)]
    return None if any(n is None for n in needs) else max([1, *needs])  # type: ignore[type-var]


def probe_starts(length: int) -> tuple[int, ...]:
    return (length // 8, length // 4, length // 2)


def since(bars: Bars, k: int) -> Bars:
    """The panel from row ``k`` on: the history a later start would have read."""
    return Bars({name: frame.iloc[k:] for name, frame in bars.frames.items()})


def probe_panel(instruments: Sequence[str], length: int, seed: int = PROBE_SEED) -> Bars:
    """Deterministic synthetic bars under the strategy's instrument names: random-walk closes
    with clustered volatility and trending regimes (so moving averages sit away from the price,
    as they do in markets), lognormal volumes. NumPy only: cheap to make in every process."""
    rng = np.random.default_rng(seed)
    m = min(PROBE_SERIES, len(instruments))
    vol = 0.01 * np.exp(np.cumsum(rng.normal(0.0, 0.05, (length, m)), axis=0) * 0.1)
    regime = np.repeat(rng.normal(0.0, 0.002, (length // 50 + 1, m)), 50, axis=0)[:length]
    logret = regime + vol * rng.standard_t(4, (length, m)) / np.sqrt(2.0)
    close = 100.0 * np.exp(np.cumsum(logret, axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.5, (2, length, m))) * vol * close
    high, low = np.maximum(open_, close) + wick[0], np.minimum(open_, close) - wick[1]
    volume = np.exp(rng.normal(8.0, 1.0, (length, m)))
    cols = np.arange(len(instruments)) % m  # instruments beyond the synthetic series reuse them
    index = pd.date_range("2020-01-01", periods=length, freq="h", tz="UTC", name="ts")
    arrays = {"open": open_, "high": high, "low": np.maximum(low, 1e-9), "close": close, "volume": volume,
              "quote_volume": volume * close}
    return Bars({f: pd.DataFrame(arrays[f][:, cols], index=index, columns=list(instruments)) for f in FIELDS})


class Probe:
    """One probe panel and its factor contexts per history start (shared by every measurement)."""

    def __init__(self, instruments: Sequence[str], registry: FactorRegistry, length: int):
        self.length = length
        self.registry = registry
        self.bars = probe_panel(instruments, length)
        self.contexts: dict[int, FactorContext] = {}

    def context(self, k: int) -> FactorContext:
        if k not in self.contexts:
            self.contexts[k] = FactorContext(since(self.bars, k), self.registry, {})
        return self.contexts[k]

    def factor_settle(self, name: str, rtol: float) -> int | None:
        return settle_length(lambda k: as_matrix(self.context(k).factor(name)), probe_starts(self.length), rtol,
                             SETTLE_MARGIN)

    def intent_settle(self, sc, raw_intent: RawIntent, rtol: float) -> int | None:
        def compute(k: int) -> np.ndarray:
            ctx = self.context(k)
            return as_matrix(raw_intent(sc, ctx.bars, self.registry, ctx.cache))

        return settle_length(compute, probe_starts(self.length), rtol, SETTLE_MARGIN)


_PROBES: dict[tuple, Probe] = {}
_WARMUPS: dict[tuple, StrategyWarmup] = {}


def _probe(registry: FactorRegistry, instruments: tuple[str, ...], length: int) -> Probe:
    key = (frozenset(registry.functions.items()), instruments, length)
    if key not in _PROBES:
        if len(_PROBES) > 32:
            _PROBES.clear()
        _PROBES[key] = Probe(instruments, registry, length)
    return _PROBES[key]


def strategy_warmup(sc, registry: FactorRegistry, raw_intent: RawIntent, rtol: float = SETTLE_RTOL) -> StrategyWarmup:
    """The warm-up of a configured strategy: the longest of its factors' and its own intent's
    settle lengths on the probe, trying longer probes while something has not settled.
    Cached per process (the strategy, its parameters and the factor functions are the key)."""
    key = (type(sc.strategy), sc.strategy_name, sc.kind, sc.factors, sc.cross_sect_factor, sc.rank_factor,
           sc.symbol_num_limit, sc.ascending, sc.side, sc.instruments, frozenset(registry.functions.items()), rtol)
    if key in _WARMUPS:
        return _WARMUPS[key]
    names = used_factors(sc)
    for length in PROBE_LENGTHS:
        probe = _probe(registry, tuple(sc.instruments), length)
        factors = {name: probe.factor_settle(name, rtol) for name in names}
        intent = probe.intent_settle(sc, raw_intent, rtol)
        values = [*factors.values(), intent]
        if all(v is not None for v in values):
            break
    bars = None if any(v is None for v in values) else max([1, *values])  # type: ignore[type-var]
    out = StrategyWarmup(sc.id, bars, factors, intent, probe_starts(length)[-1])
    _WARMUPS[key] = out
    return out


def required_bars(sc, registry: FactorRegistry, raw_intent: RawIntent) -> int:
    """The strategy's warm-up in bars; a strategy that never settles is refused."""
    w = strategy_warmup(sc, registry, raw_intent)
    if w.bars is None:
        never = [n for n, v in w.factors.items() if v is None] or ["its signal"]
        raise WarmupError(f"strategy {sc.id}: {', '.join(never)} never stop depending on where the history "
                          f"starts (not settled within {w.within} bars), so a backtest and a live run reading "
                          f"different histories disagree; see `qlib-local check lookahead`")
    return w.bars


def settled(bars: Bars, columns: Sequence[str], warmup: int, panel_wide: bool) -> np.ndarray:
    """[T, C]: where an instrument has at least ``warmup`` bars of its own up to that row (and,
    for panel-wide work, the panel as many rows): the bars a strategy may trade on."""
    own = bars.close.reindex(columns=list(columns)).notna().to_numpy().cumsum(axis=0) >= warmup
    if panel_wide:
        own &= (np.arange(1, len(bars.index) + 1) >= warmup)[:, None]
    return own


@dataclass(frozen=True)
class DataSettle:
    """Settle length measured on real bars: ``bars`` the longest need among the starts that
    settled (None if none did), ``unsettled`` the longest history that still had not."""

    bars: int | None
    unsettled: int | None

    def short_of(self, warmup: int | None) -> bool:
        """The data needs more than ``warmup`` bars (None: no warm-up at all)."""
        w = warmup or 0
        return (self.bars is not None and self.bars > w) or (self.unsettled is not None and self.unsettled >= w)


def settle_on(bars: Bars, compute: Callable[[Bars, dict], pd.DataFrame | pd.Series], rtol: float = SETTLE_RTOL,
              caches: dict[int, tuple[Bars, dict]] | None = None) -> DataSettle:
    """Settle length of one computation on real bars, from later starts (an eighth, a quarter
    and half of the history). ``compute(bars, cache)`` gets one cache per start; pass the same
    ``caches`` to share factors between computations on one panel."""
    t_len = len(bars.index)
    starts = tuple(k for k in probe_starts(t_len) if 0 < k < t_len)
    caches = {} if caches is None else caches

    def run(k: int) -> np.ndarray:
        if k not in caches:
            caches[k] = (since(bars, k) if k else bars, {})
        b, cache = caches[k]
        return as_matrix(compute(b, cache))

    if not starts:
        return DataSettle(None, None)
    results = settle_by_start(run, starts, rtol)
    done = [need for _, need, _ in results if need is not None]
    open_ = [had for had, need, _ in results if need is None]
    return DataSettle(max(done) if done else None, max(open_) if open_ else None)
