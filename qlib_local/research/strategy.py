"""Strategy plugin interfaces and the resolver over ``strategies/*.py``.

Two plugin kinds, one base class each. A class ``SmaCross(TimingStrategy)`` in any
``strategies/*.py`` file is found by the name ``SmaCross_20_60`` (constructed as
``SmaCross(20, 60)``). Both kinds compute over the whole history at once (wide
frames); the target-position model turns their output into contracts.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pandas as pd

from qlib_local.research.plugins import (
    PluginError,
    bind_params,
    load_module,
    parse_name,
    plugin_files,
    plugin_root,
)

if TYPE_CHECKING:
    from qlib_local.research.factors import FactorContext


class Strategy:
    """Common part: parameters from the name and the factors the strategy reads."""

    kind: ClassVar[str] = ""

    def factors(self) -> list[str]:
        """Factor names this strategy reads via ``ctx.factor``; validated when the config loads."""
        return []


class TimingStrategy(Strategy):
    """One instrument at a time: a signal -1/0/1 per closed bar (NaN = no change)."""

    kind = "timing"

    def signal(self, ctx: FactorContext) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError


class EventStrategy(Strategy):
    """Selection: which instruments are candidates at each closed bar (the library ranks them)."""

    kind = "event"

    def candidates(self, ctx: FactorContext) -> pd.DataFrame:
        """Boolean wide frame; the default accepts everything (config factors still filter)."""
        return pd.DataFrame(True, index=ctx.bars.index, columns=ctx.bars.instruments)


@dataclass(frozen=True)
class StrategyRegistry:
    classes: dict[str, type[Strategy]]

    @classmethod
    def load(cls, root: str | Path | None = None) -> StrategyRegistry:
        classes: dict[str, type[Strategy]] = {}
        for path in plugin_files(plugin_root(root) / "strategies"):
            module = load_module(path)
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, (TimingStrategy, EventStrategy))
                    and obj.__module__ == module.__name__
                ):
                    if name in classes:
                        raise PluginError(f"strategy {name} defined twice")
                    classes[name] = obj
        return cls(classes)

    def known(self, kind: str | None = None) -> list[str]:
        return sorted(n for n, c in self.classes.items() if kind is None or c.kind == kind)

    def create(self, name: str) -> Strategy:
        """``SmaCross_20_60`` -> ``SmaCross(20, 60)``; unknown names list the known ones."""
        base, params = parse_name(name)
        klass = self.classes.get(base)
        if klass is None:
            raise PluginError(f"unknown strategy {name!r}; known: {', '.join(self.known()) or 'none'}")
        bind_params(name, klass.__init__, params, skip=1)
        return klass(*params)
