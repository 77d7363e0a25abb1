"""Factor registry and the per-panel factor cache.

A factor is a function ``Name(bars, *params)`` in ``factors/<kind>.py`` taking a
:class:`Bars` panel (wide frames, one column per instrument) and returning a wide
frame (or, for market-wide cross-sectional conditions, a Series over time). It runs
once over the whole history; live takes the last row of the same computation.

A panel's rows are the union of its instruments' bars, so where one instrument lacks a
bar that another has, its column holds a NaN that a rolling window would count.
Per-instrument work (time-series factors, timing signals) therefore runs on each
instrument's OWN rows: instruments are grouped by identical sets of bars, each group
is computed once on its rows alone, and the results are put back on the panel's index.
Adding an instrument cannot change another's values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qlib_local.research.plugins import (
    PluginError,
    bind_params,
    load_module,
    parse_name,
    plugin_files,
    plugin_root,
)

KINDS = ("timeseries", "cross_section", "rank")
# Evaluated on each instrument's own bars: a rank factor is a per-instrument score (the
# library ranks the scores across instruments); cross-sectional factors see the panel.
PER_INSTRUMENT_KINDS = ("timeseries", "rank")
FIELDS = ("open", "high", "low", "close", "volume", "quote_volume")


@dataclass(frozen=True)
class RowGroup:
    """Instruments with the same bars: their row and column positions in a panel, and labels."""

    rows: np.ndarray
    cols: np.ndarray
    index: pd.DatetimeIndex
    columns: pd.Index

    def cut(self, values: np.ndarray) -> np.ndarray:
        """A panel-shaped array ([T] or [T, N]) cut to the group's rows (and columns)."""
        return values[self.rows] if values.ndim == 1 else values[:, self.cols][self.rows]


class OwnRows(Mapping):
    """A panel's fields cut to one group's rows and columns, each cut on first use."""

    def __init__(self, panel: Bars, group: RowGroup):
        self._panel, self._group = panel, group
        self._cut: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._cut:
            g = self._group
            self._cut[name] = pd.DataFrame(g.cut(self._panel.values(name)), index=g.index, columns=g.columns,
                                           copy=False)
        return self._cut[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._panel.frames)

    def __len__(self) -> int:
        return len(self._panel.frames)


class Bars:
    """Wide OHLCV frames of many instruments on one (rule, offset) timeline, bar-open index."""

    def __init__(self, frames: Mapping[str, pd.DataFrame]):
        self.frames = frames if isinstance(frames, OwnRows) else dict(frames)
        self._values: dict[str, np.ndarray] = {}
        self._groups: list[tuple[RowGroup, Bars]] | None = None
        self._grouped = False

    def __getattr__(self, name: str) -> pd.DataFrame:
        try:
            return self.__dict__["frames"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.frames["close"].index

    @property
    def instruments(self) -> list[str]:
        return list(self.frames["close"].columns)

    def select(self, instruments: list[str]) -> Bars:
        return Bars({k: v.reindex(columns=instruments) for k, v in self.frames.items()})

    def upto(self, n: int) -> Bars:
        """The first ``n`` bars: what a live job would have seen then."""
        return Bars({k: v.iloc[:n] for k, v in self.frames.items()})

    def values(self, name: str) -> np.ndarray:
        """A field as one array, made once (a panel's frame holds one block per instrument)."""
        if name not in self._values:
            self._values[name] = self.frames[name].to_numpy()
        return self._values[name]

    def own_rows(self) -> list[tuple[RowGroup, Bars]] | None:
        """Instruments grouped by identical bars (a close), each group with its bars on those
        rows alone; None when every instrument has a bar on every row (nothing to cut).
        An instrument without any bar is in no group."""
        if not self._grouped:
            self._grouped = True
            has_bar = self.frames["close"].notna().to_numpy()
            if has_bar.all():
                return None
            by_mask: dict[bytes, list[int]] = {}
            for j, column in enumerate(np.ascontiguousarray(has_bar.T)):
                if column.any():
                    by_mask.setdefault(column.tobytes(), []).append(j)
            index, columns = self.index, self.frames["close"].columns
            self._groups = []
            for cols in by_mask.values():
                rows = np.flatnonzero(has_bar[:, cols[0]])
                group = RowGroup(rows, np.array(cols), index[rows], columns[cols])
                self._groups.append((group, Bars(OwnRows(self, group))))
        return self._groups


@dataclass(frozen=True)
class FactorRegistry:
    """Factor functions by name and kind, read from ``<root>/factors/*.py``."""

    functions: dict[str, Callable]
    kinds: dict[str, str]

    @classmethod
    def load(cls, root: str | Path | None = None) -> FactorRegistry:
        functions: dict[str, Callable] = {}
        kinds: dict[str, str] = {}
        for path in plugin_files(plugin_root(root) / "factors"):
            module = load_module(path)
            kind = getattr(module, "KIND", path.stem if path.stem in KINDS else "timeseries")
            for name, fn in vars(module).items():
                if not (inspect.isfunction(fn) and fn.__module__ == module.__name__ and name[:1].isupper()):
                    continue
                if name in functions:
                    raise PluginError(f"factor {name} defined twice ({kinds[name]} and {kind})")
                functions[name], kinds[name] = fn, kind
        return cls(functions, kinds)

    def known(self, kind: str | None = None) -> list[str]:
        return sorted(n for n, k in self.kinds.items() if kind is None or k == kind)

    def resolve(self, name: str, kind: str | tuple[str, ...] | None = None) -> tuple[Callable, tuple]:
        """The function and parameters of ``Name_p1_p2``; unknown names list the known ones."""
        base, params = parse_name(name)
        kinds = (kind,) if isinstance(kind, str) else kind
        fn = self.functions.get(base)
        if fn is None or (kinds and self.kinds[base] not in kinds):
            known = sorted(n for n, k in self.kinds.items() if not kinds or k in kinds)
            what = "/".join(kinds) + " " if kinds else ""
            raise PluginError(f"unknown {what}factor {name!r}; known: {', '.join(known) or 'none'}")
        bind_params(name, fn, params, skip=1)
        return fn, params


@dataclass
class FactorContext:
    """Computes each named factor once per panel (strategies and sweeps share the cache).

    Time-series factors are computed per instrument on its own bars (see the module
    docstring); cross-sectional and rank factors see the whole panel at each bar. The
    cache holds factors by name and, keyed ``(name, group)``, their cuts to each group.
    """

    bars: Bars
    registry: FactorRegistry
    cache: dict[Hashable, pd.DataFrame | pd.Series | np.ndarray] = field(default_factory=dict)

    def factor(self, name: str) -> pd.DataFrame | pd.Series:
        if name not in self.cache:
            fn, params = self.registry.resolve(name)
            kind = self.registry.kinds[parse_name(name)[0]]
            try:
                if kind in PER_INSTRUMENT_KINDS:
                    out = self.per_instrument(lambda ctx: _wide(name, fn(ctx.bars, *params)))
                else:
                    out = fn(self.bars, *params)
            except (ValueError, KeyError) as e:  # e.g. BtcBull without BTC in the universe
                raise PluginError(f"factor {name} failed: {e}") from e
            self.cache[name] = out
        return self.cache[name]

    def frame(self, name: str) -> pd.DataFrame:
        """A factor as a wide frame: market-wide Series are broadcast to every instrument."""
        out = self.factor(name)
        if isinstance(out, pd.Series):
            values = out.reindex(self.bars.index)
            return pd.DataFrame({c: values for c in self.bars.instruments}, index=self.bars.index)
        return out.reindex(index=self.bars.index, columns=self.bars.instruments)

    def per_instrument(self, fn: Callable[[FactorContext], pd.DataFrame]) -> pd.DataFrame:
        """``fn(ctx)`` (a wide frame) computed on each instrument's own bars, on the panel's index.

        ``fn`` gets a context whose bars are one group's rows and columns and whose
        factors are the panel's, cut the same way. Rows where an instrument has no bar
        are NaN (False for a boolean result).
        """
        groups = self.bars.own_rows()
        if groups is None:
            return fn(self)
        parts = []
        for g, (group, bars) in enumerate(groups):
            out = fn(OwnRowsContext(bars, self.registry, parent=self, group=g))
            if not (out.index is group.index and out.columns.equals(group.columns)):
                out = out.reindex(index=group.index, columns=group.columns)
            parts.append((group, out))
        boolean = bool(parts) and all(pd.api.types.is_bool_dtype(t) for _, out in parts for t in out.dtypes)
        shape = (len(self.bars.frames["close"].columns), len(self.bars.index))  # one row per instrument
        full = np.zeros(shape, bool) if boolean else np.full(shape, np.nan)
        for group, out in parts:
            values = out.to_numpy(bool if boolean else np.float64)
            for k, j in enumerate(group.cols):
                full[j, group.rows] = values[:, k]
        return pd.DataFrame(full.T, index=self.bars.index, columns=self.bars.frames["close"].columns, copy=False)

    def cut(self, name: str, g: int) -> pd.DataFrame | pd.Series:
        """Factor ``name`` on group ``g``'s rows and columns (see :meth:`Bars.own_rows`)."""
        if (name, g) not in self.cache:
            if (name, "panel") not in self.cache:  # the panel's rows and columns, as one array
                out = self.factor(name)
                self.cache[name, "panel"] = (out.reindex(self.bars.index) if isinstance(out, pd.Series) else
                                             out.reindex(index=self.bars.index, columns=self.bars.instruments)
                                             ).to_numpy()
            values = self.cache[name, "panel"]
            group = (self.bars.own_rows() or [])[g][0]
            self.cache[name, g] = (pd.Series(group.cut(values), index=group.index, name=name) if values.ndim == 1
                                   else pd.DataFrame(group.cut(values), index=group.index, columns=group.columns,
                                                     copy=False))
        return self.cache[name, g]


@dataclass
class OwnRowsContext(FactorContext):
    """One group of instruments on their own rows; its factors are the panel's, cut."""

    parent: FactorContext | None = None
    group: int = 0

    def factor(self, name: str) -> pd.DataFrame | pd.Series:
        assert self.parent is not None
        return self.parent.cut(name, self.group)

    def per_instrument(self, fn: Callable[[FactorContext], pd.DataFrame]) -> pd.DataFrame:
        return fn(self)  # already one group's own rows


def _wide(name: str, out: object) -> pd.DataFrame:
    if not isinstance(out, pd.DataFrame):
        raise PluginError(f"time-series factor {name} must return a wide frame (one column per "
                          f"instrument), got {type(out).__name__}")
    return out
