"""Factor registry and the per-panel factor cache.

A factor is a function ``Name(bars, *params)`` in ``factors/<kind>.py`` taking a
:class:`Bars` panel (wide frames, one column per instrument) and returning a wide
frame (or, for market-wide cross-sectional conditions, a Series over time). It runs
once over the whole history; live takes the last row of the same computation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
FIELDS = ("open", "high", "low", "close", "volume", "quote_volume")


class Bars:
    """Wide OHLCV frames of many instruments on one (rule, offset) timeline, bar-open index."""

    def __init__(self, frames: Mapping[str, pd.DataFrame]):
        self.frames = dict(frames)

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
    """Computes each named factor once per panel (strategies and sweeps share the cache)."""

    bars: Bars
    registry: FactorRegistry
    cache: dict[str, pd.DataFrame | pd.Series] = field(default_factory=dict)

    def factor(self, name: str) -> pd.DataFrame | pd.Series:
        if name not in self.cache:
            fn, params = self.registry.resolve(name)
            try:
                self.cache[name] = fn(self.bars, *params)
            except (ValueError, KeyError) as e:  # e.g. BtcBull without BTC in the universe
                raise PluginError(f"factor {name} failed: {e}") from e
        return self.cache[name]

    def frame(self, name: str) -> pd.DataFrame:
        """A factor as a wide frame: market-wide Series are broadcast to every instrument."""
        out = self.factor(name)
        if isinstance(out, pd.Series):
            values = out.reindex(self.bars.index)
            return pd.DataFrame({c: values for c in self.bars.instruments}, index=self.bars.index)
        return out.reindex(index=self.bars.index, columns=self.bars.instruments)
