"""Parameter sweeps over any config field: grouped data, chunked signals, one batch kernel.

``sweep(plan, store)`` runs every valid combination of a :class:`~qlib_local.backtest.grid.SweepPlan`
as its own account and returns one table (axis values -> statistics). Per data group
(:mod:`qlib_local.backtest.groups`) the panels are read once; combinations are ordered so
that those sharing intents sit together and cut into chunks whose distinct signal arrays fit
``memory_mb`` (with a bounded factor cache), so a 10,000-combination sweep never holds
10,000 signal arrays. Each chunk runs through the batch kernel (:mod:`qlib_local.backtest.batch`),
in parallel over threads or, with :mod:`qlib_local.backtest.distributed`, as Ray tasks; the
results are identical either way. Equity curves are not kept: ``SweepResult.equity(ids)``
re-runs the combinations asked for.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from qlib_local.backtest.batch import STATS, Chunk, SharedInputs, run_chunk
from qlib_local.backtest.grid import GridError, SweepPlan
from qlib_local.backtest.groups import (
    DataGroup,
    FactorCache,
    encode_intent,
    intent_key,
    load_groups,
    panel_key,
)
from qlib_local.backtest.stats import YEAR
from qlib_local.research.config import ResearchConfig, StrategyConfig
from qlib_local.research.data import MarketData
from qlib_local.research.intents import strategy_intent
from qlib_local.research.model import Model
from qlib_local.research.plugins import parse_name
from qlib_local.timeframes import parse_timeframe

DEFAULT_MEMORY_MB = 512  # signal arrays of the chunks in flight plus the factor cache
FACTOR_SHARE = 0.25  # of the budget, for cached factors
METRICS = {"sharpe": "sharpe_ratio", "sortino": "sortino_ratio", "calmar": "calmar_ratio",
           "return": "total_return", "total_return": "total_return", "annualized_return": "annualized_return",
           "sharpe_ratio": "sharpe_ratio", "sortino_ratio": "sortino_ratio", "calmar_ratio": "calmar_ratio",
           "max_drawdown": "max_drawdown", "end_value": "end_value"}  # all: higher is better


def metric_column(name: str) -> str:
    """The statistic a metric name means (``sharpe`` -> ``sharpe_ratio``); unknown names refused."""
    if name not in METRICS:
        raise GridError(f"metric {name!r}: use one of {', '.join(sorted(METRICS))}")
    return METRICS[name]


def ann_factor(base_tf: str) -> float:
    """Bars per year, as vectorbt annualizes (its ``year_freq`` over the bar length)."""
    bar = pd.Timedelta(milliseconds=parse_timeframe(base_tf))
    return YEAR / bar


@dataclass
class LocalExecutor:
    """Chunks run in this process: numba threads over combinations, or serially."""

    parallel: bool = True
    threads: int | None = None
    in_flight: int = 1

    def map(self, shared: SharedInputs, chunks: Iterator[Chunk]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for c in chunks:
            yield c.ids, run_chunk(shared, c, self.parallel, threads=self.threads)[0]


@dataclass(frozen=True)
class ChunkInfo:
    group: int
    combinations: int
    intents: int  # distinct signal arrays held
    nbytes: int


@dataclass
class GroupLayout:
    """Per combination of a group: its intent rows and due rows (distinct keys numbered).

    No per-combination model is kept: a chunk builds its combinations' kernel parameters
    when it is cut and drops the models, so what a layout holds per combination is two short
    index tuples (a 10,000-combination group once held 10,000 models, ~6 KB each).
    """

    group: DataGroup
    configs: dict[int, ResearchConfig]
    intent_ix: dict[int, tuple[int, ...]]
    due_ix: dict[int, tuple[int, ...]]
    intent_rep: list[tuple[int, int]]  # one (combination, strategy) per distinct intent
    due: np.ndarray  # [D, T]
    shared: SharedInputs

    @classmethod
    def build(cls, group: DataGroup, configs: dict[int, ResearchConfig], margin: bool) -> GroupLayout:
        index = group.index
        close_ms = index.as_unit("ms").asi8
        ikeys: dict[tuple, int] = {}
        dkeys: dict[tuple, int] = {}
        rep, due_rows, intent_ix, due_ix = [], [], {}, {}
        for k in group.ids:
            iix, dix = [], []
            for s, sc in enumerate(configs[k].strategies):
                key = intent_key(sc)
                if key not in ikeys:
                    ikeys[key] = len(rep)
                    rep.append((k, s))
                iix.append(ikeys[key])
                dkey = (sc.rule_ms, sc.offset_ms)
                if dkey not in dkeys:
                    dkeys[dkey] = len(due_rows)
                    due_rows.append(Model(configs[k], group.data.specs).due_mask(close_ms)[s])
                dix.append(dkeys[dkey])
            intent_ix[k], due_ix[k] = tuple(iix), tuple(dix)
        first = Model(configs[group.ids[0]], group.data.specs)
        shared = SharedInputs(group.data.arrays(first.instruments), first.inst, first.margin(),
                              ann_factor(group.data.base_tf), margin)
        due = np.array(due_rows, dtype=np.bool_).reshape(len(due_rows), len(index))
        return cls(group, configs, intent_ix, due_ix, rep, due, shared)

    def model(self, k: int) -> Model:
        return Model(self.configs[k], self.group.data.specs)

    def order(self) -> list[int]:
        """Combinations sharing intents next to each other (a chunk then holds fewer signals)."""
        return sorted(self.group.ids, key=lambda k: (self.intent_ix[k], k))

    def chunks(self, ids: list[int], limit_bytes: float, caches: dict, log: list[ChunkInfo] | None = None,
               gi: int = 0) -> Iterator[Chunk]:
        """``ids`` in chunks whose distinct signal arrays stay within ``limit_bytes`` (at least one
        combination each); a signal the previous chunk held is copied, not recomputed."""
        per = len(self.group.index) * len(self.shared.inst[0])
        held: dict[int, np.ndarray] = {}
        current: list[int] = []
        keys: dict[int, None] = {}
        for k in ids:
            new = [u for u in self.intent_ix[k] if u not in keys]
            if current and (len(keys) + len(new)) * per > limit_bytes:
                chunk, held = self._build(current, list(keys), held, caches)
                if log is not None:
                    log.append(ChunkInfo(gi, len(current), len(keys), chunk.nbytes))
                yield chunk
                current, keys = [], {}
                new = list(dict.fromkeys(self.intent_ix[k]))
            current.append(k)
            keys.update(dict.fromkeys(new))
        if current:
            chunk, held = self._build(current, list(keys), held, caches)
            if log is not None:
                log.append(ChunkInfo(gi, len(current), len(keys), chunk.nbytes))
            yield chunk

    def _intent(self, u: int, caches: dict) -> np.ndarray:
        k, s = self.intent_rep[u]
        cfg = self.configs[k]
        sc: StrategyConfig = cfg.strategies[s]
        key = panel_key(sc)
        frame = strategy_intent(sc, self.group.panels[key], cfg.factors, caches[key])
        return encode_intent(self.model(k), s, frame, self.group.index)

    def _build(self, ids: list[int], keys: list[int], held: dict, caches: dict) -> tuple[Chunk, dict]:
        t_len, n = len(self.group.index), len(self.shared.inst[0])
        codes = np.empty((len(keys), t_len, n), np.int8)
        row = {u: j for j, u in enumerate(keys)}
        for u, j in row.items():
            codes[j] = held[u] if u in held else self._intent(u, caches)
        params: tuple = ()
        for a, k in enumerate(ids):  # one model at a time, dropped once its parameters are copied
            own = self.model(k).params
            if not params:
                params = tuple(np.empty((len(ids), *f.shape), f.dtype) for f in own)
            for dest, f in zip(params, own, strict=True):
                dest[a] = f
        cfgs = [self.configs[k] for k in ids]
        chunk = Chunk(np.array(ids, np.int64), params, self.due,
                      np.array([self.due_ix[k] for k in ids], np.int64), codes,
                      np.array([[row[u] for u in self.intent_ix[k]] for k in ids], np.int64),
                      np.array([c.initial_equity for c in cfgs]), np.array([c.fees.taker for c in cfgs]),
                      np.array([c.fees.slippage for c in cfgs]))
        return chunk, {u: codes[j] for u, j in row.items()}


def factor_caches(layout: GroupLayout, memory_mb: float) -> defaultdict:
    """One bounded factor cache per panel, sharing ``FACTOR_SHARE`` of the budget."""
    budget = memory_mb * 2**20 * FACTOR_SHARE / max(1, len(layout.group.panels))
    return defaultdict(lambda: FactorCache(budget))


def sweep_groups(groups: list[DataGroup], configs: dict[int, ResearchConfig], executor=None,
                 memory_mb: float = DEFAULT_MEMORY_MB, margin: bool = True) -> tuple[pd.DataFrame, list[ChunkInfo]]:
    """Statistics of every combination of ``groups`` (rows by combination id) and the chunks run."""
    executor = executor or LocalExecutor()
    limit = memory_mb * 2**20 * (1 - FACTOR_SHARE) / (executor.in_flight + 1)
    log: list[ChunkInfo] = []
    id_parts: list[np.ndarray] = [np.empty(0, np.int64)]
    stat_parts: list[np.ndarray] = [np.empty((0, len(STATS)))]
    for gi, group in enumerate(groups):
        layout = GroupLayout.build(group, configs, margin)
        caches = factor_caches(layout, memory_mb)
        for ids, stats in executor.map(layout.shared, layout.chunks(layout.order(), limit, caches, log, gi)):
            id_parts.append(np.asarray(ids, np.int64))
            stat_parts.append(stats)
    ids = np.concatenate(id_parts)
    order = np.argsort(ids, kind="stable")
    table = pd.DataFrame(np.concatenate(stat_parts)[order], columns=list(STATS),
                         index=pd.Index(ids[order], name="combination"))
    table["orders"] = table["orders"].astype(np.int64)
    return table, log


@dataclass
class SweepResult:
    """One row per combination: axis values, statistics, the data group and the error if invalid."""

    plan: SweepPlan
    table: pd.DataFrame
    groups: list[DataGroup]
    chunks: list[ChunkInfo] = field(default_factory=list)
    margin: bool = True

    @property
    def errors(self) -> pd.DataFrame:
        return self.table.loc[self.table["error"].notna(), [*self.plan.labels, "error"]]

    def best(self, metric: str = "sharpe", n: int = 10) -> pd.DataFrame:
        """The ``n`` best valid combinations by ``metric`` (non-finite values last)."""
        col = metric_column(metric)
        ok = self.table[self.table["error"].isna()]
        finite = np.isfinite(ok[col].to_numpy(np.float64))
        return pd.concat([ok[finite].sort_values(col, ascending=False, kind="stable"), ok[~finite]]).head(n)

    def config(self, k: int) -> ResearchConfig:
        cfg = self.plan.configs[k]
        if cfg is None:
            raise GridError(f"combination {k} is invalid: {self.plan.errors[k]}")
        return cfg

    def equity(self, ids: list[int]) -> pd.DataFrame:
        """Total equity of the given combinations (columns), re-run on their group's timeline."""
        out = {}
        for group in self.groups:
            members = set(group.ids)
            mine = [k for k in ids if k in members]
            if not mine:
                continue
            configs = {k: self.config(k) for k in mine}
            layout = GroupLayout.build(replace(group, ids=mine), configs, self.margin)
            for chunk in layout.chunks(mine, float("inf"), factor_caches(layout, DEFAULT_MEMORY_MB)):
                _, eq = run_chunk(layout.shared, chunk, curves=True)
                out.update({k: pd.Series(eq[j], index=group.index) for j, k in enumerate(chunk.ids.tolist())})
        missing = [k for k in ids if k not in out]
        if missing:
            raise GridError(f"no valid combination {missing[0]} in this sweep")
        return pd.DataFrame({k: out[k] for k in ids})


def sweep(plan: SweepPlan, store, start=None, end=None, funding=None, mark=None,
          memory_mb: float = DEFAULT_MEMORY_MB, parallel: bool = True, threads: int | None = None,
          executor=None, margin: bool | None = None) -> SweepResult:
    """Run every valid combination of ``plan`` over the store (trading bars opening in [start, end)).

    ``margin`` defaults to the base config's (``margin:``; liquidation on or off).

    ``executor``: where chunks run (default: this process, numba threads when ``parallel``;
    see :class:`qlib_local.backtest.distributed.RayExecutor`).
    """
    configs = {k: plan.configs[k] for k in plan.valid}
    if not configs:
        first = next(iter(plan.errors.items()), (0, "the grid is empty"))
        raise GridError(f"no valid combination in the grid; combination {first[0]}: {first[1]}")
    if margin is None:
        margin = next(iter(configs.values())).margin
    groups = load_groups(configs, store, start, end, funding=funding, mark=mark)
    stats, log = sweep_groups(groups, configs, executor or LocalExecutor(parallel, threads), memory_mb, margin)
    table = plan.combinations.join(stats)
    table["orders"] = table["orders"].astype("Int64")
    table["group"] = pd.Series({k: g for g, group in enumerate(groups) for k in group.ids}, dtype="Int64")
    table["error"] = pd.Series(plan.errors, dtype=object).reindex(table.index)
    return SweepResult(plan, table, groups, log, margin)


# ---------------------------------------------------------------------------- one strategy's name parameters
def grid_names(base: str, grid: dict[str, list]) -> list[str]:
    """``("SmaCross", {"fast": [5, 10], "slow": [20]})`` -> ``["SmaCross_5_20", "SmaCross_10_20"]``."""
    return ["_".join([base, *map(str, combo)]) for combo in itertools.product(*grid.values())]


def variant(cfg: ResearchConfig, sid: str, name: str) -> ResearchConfig:
    """The config reduced to strategy ``sid`` (id kept) with its name, i.e. its parameters, replaced."""
    from qlib_local.research.strategy import StrategyRegistry

    sc = cfg.strategy(sid)
    strategy = StrategyRegistry.load(cfg.plugins).create(name)
    new = replace(sc, strategy_name=name, strategy=strategy)  # same id: reuses the loaded panel
    return replace(cfg, strategies=(new,))


def run_sweep(cfg: ResearchConfig, data: MarketData, sid: str, names: list[str], margin: bool | None = None) -> pd.DataFrame:
    """Total equity per combination (columns = strategy names), one vectorized run.

    ``data`` must come from :func:`load_market_data` on a config holding strategy ``sid``.
    ``margin`` defaults to the config's.
    """
    margin = cfg.margin if margin is None else margin
    base = parse_name(cfg.strategy(sid).strategy_name)[0]
    for n in names:
        if parse_name(n)[0] != base:
            raise ValueError(f"sweep names must all be {base}_..., got {n}")
    configs = {k: variant(cfg, sid, n) for k, n in enumerate(names)}
    sc = cfg.strategy(sid)
    group = DataGroup(list(configs), data, {panel_key(sc): data.bars[sid]})
    layout = GroupLayout.build(group, configs, margin)
    eq = np.empty((len(names), len(data.index)))
    for chunk in layout.chunks(list(configs), float("inf"), factor_caches(layout, DEFAULT_MEMORY_MB)):
        eq[chunk.ids] = run_chunk(layout.shared, chunk, curves=True)[1]
    return pd.DataFrame(eq.T, index=data.index, columns=pd.Index(names, name="strategy"))


def sweep_table(equity: pd.DataFrame, grid: dict[str, list]) -> pd.DataFrame:
    """Final return and max drawdown per combination, indexed by the grid's parameters."""
    final = equity.iloc[-1] / equity.iloc[0] - 1.0
    mdd = (equity / equity.cummax() - 1.0).min()
    idx = pd.MultiIndex.from_tuples(list(itertools.product(*grid.values())), names=list(grid))
    return pd.DataFrame({"total_return": final.to_numpy(), "max_drawdown": mdd.to_numpy()}, index=idx)
