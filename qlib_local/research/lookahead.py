"""Lookahead and warm-up checks of a config's factors and strategies on the stored bars.

Lookahead: every factor and strategy intent is recomputed on histories cut at sampled bars
(what a live job would have seen at that bar's close) and compared with the full-history
value at that bar. A value that changes when later bars are removed read the future: the
report names it, the first bar it differs at and by how much. The bars are spread over the
history (one drawn per stratum, seeded) plus the last; the first failing sample is then
narrowed down to the first differing bar after the last agreeing one.

Warm-up: each strategy's warm-up (what trading waits for, :mod:`qlib_local.research.warmup`)
is set beside its factors' and intent's settle lengths measured on the stored bars; where the
data needs more, the report says so.

    report = check(load_config("strategies/example.yaml", store), store)
    report.ok, report.findings, report.warmup          # DataFrames; report.to_dict() for JSON
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qlib_local.research.config import ResearchConfig, StrategyConfig
from qlib_local.research.data import load_strategy_bars
from qlib_local.research.factors import Bars, FactorContext
from qlib_local.research.intents import raw_intent, strategy_intent
from qlib_local.research.warmup import (
    SETTLE_RTOL,
    agree,
    as_matrix,
    settle_on,
    strategy_warmup,
    typical_size,
    used_factors,
)

SAMPLES = 30
EXACT_RTOL = 1e-9  # deterministic code gives identical values; this only absorbs float noise

FINDING_COLUMNS = ["strategies", "name", "kind", "first_bar", "instrument", "full", "truncated", "max_abs_diff",
                   "instruments", "bars_checked"]
WARMUP_COLUMNS = ["strategy", "name", "kind", "warmup", "probe_settle", "data_settle", "data_unsettled", "status"]


@dataclass(frozen=True)
class Item:
    """One computation checked on a panel: a factor, or a strategy's intent."""

    name: str
    kind: str  # factor, signal (timing intent) or selection (event intent)
    strategies: tuple[str, ...]
    compute: Callable[[Bars, dict], pd.DataFrame | pd.Series]


@dataclass
class LookaheadReport:
    """What :func:`check` found; ``ok`` when nothing reads the future and every warm-up holds."""

    findings: pd.DataFrame
    warmup: pd.DataFrame
    checked: dict[str, list[pd.Timestamp]] = field(default_factory=dict)  # strategy id -> bars compared
    samples: int = SAMPLES
    seed: int = 0

    @property
    def ok(self) -> bool:
        return self.findings.empty and not self.warmup["status"].isin(["short", "never"]).any()

    def to_dict(self) -> dict:
        def rows(df: pd.DataFrame) -> list[dict]:
            return [{k: _plain(v) for k, v in r.items()} for r in df.to_dict("records")]

        return {"ok": self.ok, "lookahead": rows(self.findings), "warmup": rows(self.warmup),
                "samples": self.samples, "seed": self.seed,
                "checked": {k: [t.isoformat() for t in v] for k, v in self.checked.items()}}

    def text(self) -> str:
        lines = []
        if self.findings.empty:
            n = max((len(v) for v in self.checked.values()), default=0)
            lines.append(f"lookahead: none ({n} bars checked per panel, seed {self.seed})")
        else:
            lines.append(f"LOOKAHEAD in {len(self.findings)} computation(s): values change when later bars are removed")
            lines.append(self.findings.to_string(index=False))
        lines.append("")
        lines.append("warm-up (bars of the strategy's rule; trading waits for 'warmup'):")
        lines.append(self.warmup.to_string(index=False))
        bad = self.warmup[self.warmup["status"].isin(["short", "never"])]
        for r in bad.itertuples():
            what = ("never settles" if r.status == "never" else
                    f"needs more than the warm-up of {r.warmup} bars on this data")
            lines.append(f"WARM-UP: {r.strategy} {r.name} {what}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "<b>no lookahead</b>" if self.findings.empty else "<b>LOOKAHEAD</b>" + self.findings.to_html(index=False)
        return head + "<br><b>warm-up</b>" + self.warmup.to_html(index=False)


def _plain(v: object) -> object:
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _gap(full: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """|full - cut|; a value present on one side only (it appears or vanishes) counts its own size."""
    return np.abs(np.nan_to_num(full, nan=0.0) - np.nan_to_num(cut, nan=0.0))


def sample_rows(n_rows: int, samples: int, seed: int) -> list[int]:
    """One row drawn in each of ``samples`` equal strata of the history, plus the last row."""
    rng = np.random.default_rng(seed)
    k = max(1, min(samples, n_rows))
    edges = np.linspace(0, n_rows, k + 1).astype(int)
    rows = {int(rng.integers(lo, hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True) if hi > lo}
    return sorted(rows | {n_rows - 1})


def _factor(reg, name: str) -> Callable[[Bars, dict], pd.DataFrame | pd.Series]:
    """A factor on a panel's rows (a cross-sectional factor may return other rows)."""
    return lambda b, c: FactorContext(b, reg, c).factor(name).reindex(b.index)


def _intent(reg, sc: StrategyConfig, warm: bool = True) -> Callable[[Bars, dict], pd.DataFrame]:
    """A strategy's intents on its panel's rows (bar open times, as the factors)."""
    def compute(b: Bars, c: dict) -> pd.DataFrame:
        return strategy_intent(sc, b, reg, c).set_axis(b.index) if warm else raw_intent(sc, b, reg, c)
    return compute


def _items(strategies: list[StrategyConfig], cfg: ResearchConfig) -> list[Item]:
    reg = cfg.factors
    users: dict[str, list[str]] = {}
    for sc in strategies:
        for name in used_factors(sc):
            users.setdefault(name, []).append(sc.id)
    items = [Item(name, "factor", tuple(ids), _factor(reg, name)) for name, ids in users.items()]
    # the intent as traded (warm-up applied), or raw where the warm-up never ends (reported apart)
    items += [Item(sc.id, "signal" if sc.kind == "timing" else "selection", (sc.id,),
                   _intent(reg, sc, warm=strategy_warmup(sc, reg, raw_intent).bars is not None))
              for sc in strategies]
    return items


def _columns(values: pd.DataFrame | pd.Series) -> list[str]:
    return ["(market)"] if isinstance(values, pd.Series) else [str(c) for c in values.columns]


def _row(values: pd.DataFrame | pd.Series, columns: list[str], i: int) -> np.ndarray:
    """Row ``i`` in the full history's columns."""
    if isinstance(values, pd.DataFrame):
        values = values.set_axis([str(c) for c in values.columns], axis=1).reindex(columns=columns)
    return as_matrix(values.iloc[[i]])[0]


def _lookahead(panel: Bars, items: list[Item], rows: list[int]) -> list[dict]:
    """Items whose value at a sampled bar changes when the bars after it are removed."""
    full = {it.name: it.compute(panel, {}) for it in items}
    cols = {n: _columns(v) for n, v in full.items()}
    mats = {n: as_matrix(v) for n, v in full.items()}
    scale = {n: typical_size(m) for n, m in mats.items()}

    def differs(it: Item, t: int, cache: dict) -> tuple[np.ndarray, np.ndarray]:
        """(columns that differ at row ``t``, the cut history's values there)."""
        got = _row(it.compute(panel.upto(t + 1), cache), cols[it.name], t)
        return ~agree(mats[it.name][t], got, EXACT_RTOL, scale[it.name]), got

    seen: dict[str, dict] = {}
    for t in rows:
        cache: dict = {}  # the cut panel's factors, shared by the items at this bar
        for it in items:
            bad, got = differs(it, t, cache)
            if not bad.any():
                continue
            rec = seen.setdefault(it.name, {"first": t, "cols": set(), "max": np.nan})
            rec["cols"] |= set(np.flatnonzero(bad).tolist())
            diff = _gap(mats[it.name][t], got)[bad]
            diff = diff[np.isfinite(diff)]
            if len(diff):
                rec["max"] = np.nanmax([rec["max"], diff.max()])
    out = []
    for it in items:
        if it.name not in seen:
            continue
        rec = seen[it.name]
        earlier = [r for r in rows if r < rec["first"]]
        lo, hi = (earlier[-1] if earlier else -1), rec["first"]
        while hi - lo > 1:  # the first differing bar after the last agreeing sample
            mid = (lo + hi) // 2
            if differs(it, mid, {})[0].any():
                hi = mid
            else:
                lo = mid
        bad, got = differs(it, hi, {})
        j = int(np.flatnonzero(bad)[0])
        full_v, cut_v = mats[it.name][hi, j], got[j]
        out.append({"strategies": ", ".join(it.strategies), "name": it.name, "kind": it.kind,
                    "first_bar": panel.index[hi], "instrument": cols[it.name][j], "full": full_v, "truncated": cut_v,
                    "max_abs_diff": np.nanmax([rec["max"], _gap(mats[it.name][hi], got)[bad].max()]), "instruments": len(rec["cols"] | {j}), "bars_checked": len(rows)})
    return out


def _warmup(panel: Bars, strategies: list[StrategyConfig], cfg: ResearchConfig, rtol: float) -> list[dict]:
    """Per strategy: the warm-up trading waits for, beside what its parts need on this data."""
    reg = cfg.factors
    caches: dict = {}
    out = []
    for sc in strategies:
        w = strategy_warmup(sc, reg, raw_intent, rtol)
        parts = [(name, "factor", w.factors[name], _factor(reg, name)) for name in used_factors(sc)]
        parts.append(("signal" if sc.kind == "timing" else "selection", "intent", w.intent,
                      _intent(reg, sc, warm=False)))
        rows = []
        for name, kind, probe, compute in parts:
            data = settle_on(panel, compute, rtol, caches)
            status = ("never" if probe is None else "short" if data.short_of(w.bars) else
                      "unconfirmed" if data.bars is None and data.unsettled is not None else "ok")
            rows.append({"strategy": sc.id, "name": name, "kind": kind, "warmup": w.bars, "probe_settle": probe,
                         "data_settle": data.bars, "data_unsettled": data.unsettled, "status": status})
        worst = ("never" if any(r["status"] == "never" for r in rows) else
                 "short" if any(r["status"] == "short" for r in rows) else
                 "unconfirmed" if any(r["status"] == "unconfirmed" for r in rows) else "ok")
        data_max = max((r["data_settle"] for r in rows if r["data_settle"] is not None), default=None)
        out.append({"strategy": sc.id, "name": "(strategy)", "kind": sc.kind, "warmup": w.bars, "probe_settle": w.bars,
                    "data_settle": data_max, "data_unsettled": None, "status": worst})
        out += rows
    return out


def check(cfg: ResearchConfig, store, end=None, samples: int = SAMPLES, seed: int = 0,
          rtol: float = SETTLE_RTOL) -> LookaheadReport:
    """Check every factor and strategy intent of ``cfg`` on the stored bars (up to ``end``)."""
    bars = load_strategy_bars(cfg, store, None, end)
    panels: dict[int, tuple[Bars, list[StrategyConfig]]] = {}
    for sc in cfg.strategies:
        panels.setdefault(id(bars[sc.id]), (bars[sc.id], []))[1].append(sc)
    findings, warm, checked = [], [], {}
    for panel, strategies in panels.values():
        if len(panel.index) == 0:
            continue
        rows = sample_rows(len(panel.index), samples, seed)
        for sc in strategies:
            checked[sc.id] = [panel.index[r] for r in rows]
        findings += _lookahead(panel, _items(strategies, cfg), rows)
        warm += _warmup(panel, strategies, cfg, rtol)
    return LookaheadReport(pd.DataFrame(findings, columns=FINDING_COLUMNS),
                           pd.DataFrame(warm, columns=WARMUP_COLUMNS), checked, samples, seed)


def check_factors(bars: Bars, registry, names: list[str], samples: int = SAMPLES, seed: int = 0,
                  rtol: float = SETTLE_RTOL) -> LookaheadReport:
    """Check factors by name on one panel, outside any config (a new factor, before a strategy
    uses it): lookahead as :func:`check`, and each factor's settle length on these bars
    (``data_settle``: a rolling window of n gives n, a recursive factor many more)."""
    if len(bars.index) == 0:
        raise ValueError("check_factors: the panel has no bars")
    rows = sample_rows(len(bars.index), samples, seed)
    items = [Item(name, "factor", (), _factor(registry, name)) for name in names]
    caches: dict = {}
    warm = []
    for it in items:
        data = settle_on(bars, it.compute, rtol, caches)
        warm.append({"strategy": "", "name": it.name, "kind": "factor", "warmup": None, "probe_settle": None,
                     "data_settle": data.bars, "data_unsettled": data.unsettled,
                     "status": "unconfirmed" if data.bars is None and data.unsettled is not None else "ok"})
    return LookaheadReport(pd.DataFrame(_lookahead(bars, items, rows), columns=FINDING_COLUMNS),
                           pd.DataFrame(warm, columns=WARMUP_COLUMNS), {"(factors)": [bars.index[r] for r in rows]},
                           samples, seed)
