"""Factor registry and the per-panel factor cache.

A factor is a function ``Name(bars, *params)`` in ``factors/<kind>.py`` taking a
:class:`Bars` panel (wide frames, one column per instrument) and returning a wide
frame (or, for market-wide cross-sectional conditions, a Series over time). It runs
once over the whole history; live takes the last row of the same computation.

A panel's rows are the union of its instruments' bars, so one instrument's gap is a
NaN row in every other column. Per-instrument work (time-series factors, timing
signals) therefore runs on each instrument's OWN rows: instruments are grouped by
identical sets of bars, each group is computed once on its rows alone, and the results
are put back on the panel's index. Adding an instrument cannot change another's values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
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
PER_INSTRUMENT_KINDS = ("timeseries",)  # evaluated on each instrument's own bars
FIELDS = ("open", "high", "low", "close", "volume", "quote_volume")


class OwnRows(Mapping):
    """Fields of a panel cut to some rows and columns, each cut on first use."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], rows: np.ndarray, cols: np.ndarray):
        self._frames, self._rows, self._cols = frames, rows, cols
        self._cut: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._cut:
            f = self._frames[name]
            self._cut[name] = pd.DataFrame(f.to_numpy()[np.ix_(self._rows, self._cols)],
                                           index=f.index[self._rows], columns=f.columns[self._cols])
        return self._cut[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)


class Bars:
    """Wide OHLCV frames of many instruments on one (rule, offset) timeline, bar-open index."""

    def __init__(self, frames: Mapping[str, pd.DataFrame]):
        self.frames = frames if isinstance(frames, OwnRows) else dict(frames)

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

    def own_row_groups(self) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """(rows, columns) of each group of instruments with the same bars (a close), or None
        when every instrument has a bar on every row (the panel is already their own rows)."""
        if "_groups" not in self.__dict__:
            has_bar = self.frames["close"].notna().to_numpy()
            groups: dict[bytes, list[int]] = {}
            if not has_bar.all():
                for j, column in enumerate(np.ascontiguousarray(has_bar.T)):
                    groups.setdefault(column.tobytes(), []).append(j)
            self.__dict__["_groups"] = [(np.flatnonzero(has_bar[:, cols[0]]), np.array(cols))
                                        for cols in groups.values()] or None
        return self.__dict__["_groups"]

    def take(self, rows: np.ndarray, cols: np.ndarray) -> Bars:
        """The panel cut to ``rows`` and ``cols`` (positions), fields cut lazily."""
        return Bars(OwnRows(self.frames, rows, cols))


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
    docstring); cross-sectional and rank factors see the whole panel at each bar.
    """

    bars: Bars
    registry: FactorRegistry
    cache: dict[str, pd.DataFrame | pd.Series] = field(default_factory=dict)
    _aligned: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

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

    def aligned(self, name: str) -> np.ndarray:
        """A factor's values on the panel's rows (and columns, for a wide frame), as an array."""
        if name not in self._aligned:
            out = self.factor(name)
            if isinstance(out, pd.Series):
                self._aligned[name] = out.reindex(self.bars.index).to_numpy()
            else:
                self._aligned[name] = out.reindex(index=self.bars.index, columns=self.bars.instruments).to_numpy()
        return self._aligned[name]

    def per_instrument(self, fn: Callable[[FactorContext], pd.DataFrame]) -> pd.DataFrame:
        """``fn(ctx)`` (a wide frame) computed on each instrument's own bars, on the panel's index.

        ``fn`` gets a context whose bars are one group's rows and columns and whose
        factors are the panel's, cut the same way. Rows where an instrument has no bar
        are NaN (False for a boolean result).
        """
        groups = self.bars.own_row_groups()
        if groups is None:
            return fn(self)
        index, names = self.bars.index, self.bars.close.columns
        parts = []
        for rows, cols in groups:
            sub = OwnRowsContext(self.bars.take(rows, cols), self.registry, parent=self, rows=rows, cols=cols)
            out = fn(sub)
            parts.append((rows, cols, out.reindex(index=sub.bars.index, columns=names[cols])))
        boolean = all(pd.api.types.is_bool_dtype(t) for _, _, part in parts for t in part.dtypes)
        shape = (len(index), len(names))
        full = np.zeros(shape, bool) if boolean else np.full(shape, np.nan)
        for rows, cols, part in parts:
            full[np.ix_(rows, cols)] = part.to_numpy(bool if boolean else np.float64)
        return pd.DataFrame(full, index=index, columns=names)


@dataclass
class OwnRowsContext(FactorContext):
    """A group of instruments on their own rows (``rows``, ``cols``: positions in the parent's
    panel); its factors are the parent's, cut to those rows and columns."""

    parent: FactorContext | None = None
    rows: np.ndarray | None = None
    cols: np.ndarray | None = None

    def factor(self, name: str) -> pd.DataFrame | pd.Series:
        if name not in self.cache:
            assert self.parent is not None and self.rows is not None and self.cols is not None
            values = self.parent.aligned(name)
            if values.ndim == 1:
                cut: pd.DataFrame | pd.Series = pd.Series(values[self.rows], index=self.bars.index, name=name)
            else:
                cut = pd.DataFrame(values[np.ix_(self.rows, self.cols)], index=self.bars.index,
                                   columns=self.bars.close.columns)
            self.cache[name] = cut
        return self.cache[name]

    def per_instrument(self, fn: Callable[[FactorContext], pd.DataFrame]) -> pd.DataFrame:
        return fn(self)  # already one group's own rows


def _wide(name: str, out: object) -> pd.DataFrame:
    if not isinstance(out, pd.DataFrame):
        raise PluginError(f"time-series factor {name} must return a wide frame (one column per "
                          f"instrument), got {type(out).__name__}")
    return out
