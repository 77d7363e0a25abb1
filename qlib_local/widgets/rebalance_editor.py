"""Widgets for ``rebalance`` and ``min_trade``: the account's, and each strategy's own.

The account's values are every strategy's default (``rebalance`` unset: each kind's own,
``DEFAULT_REBALANCE``). A strategy either inherits them or sets its own; its widgets then
show what it would inherit, and only a value that differs from that is written, so the YAML
still says what is inherited. When the account's values (or the strategy's kind) change, a
strategy value still equal to the old inherited one follows (it was inherited).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import ipywidgets as w

from qlib_local.research.config import DEFAULT_REBALANCE, REBALANCE_MODES

INHERIT, OWN = "inherit", "own"
KIND_DEFAULT = ""  # the account sets no mode: each kind's default
_STYLE = {"description_width": "130px"}

Inherited = tuple[str, float]  # (rebalance, min_trade) a strategy gets when it sets neither


def inherited(rebalance: str | None, min_trade: float | None, kind: str) -> Inherited:
    """What a strategy of ``kind`` gets from the account's values as written (as the loader combines them)."""
    return rebalance or DEFAULT_REBALANCE.get(kind, REBALANCE_MODES[0]), 0.0 if min_trade is None else min_trade


def _share(x: w.FloatText) -> float:
    return float(x.value)


def _same(a: float, b: float) -> bool:
    """Equal, NaN included: a value typed NaN on the account is still inherited (flagged there once)."""
    return a == b or (math.isnan(a) and math.isnan(b))


class AccountRebalanceEditor:
    """The account's mode (or each kind's default) and ``min_trade``; written when not the default."""

    def __init__(self, on_change: Callable[[], None]):
        self.on_change = on_change
        self._quiet = False
        kinds = ", ".join(f"{k} {v}" for k, v in DEFAULT_REBALANCE.items())
        self.mode = w.Dropdown(options=[(f"each kind's default ({kinds})", KIND_DEFAULT),
                                        *((m, m) for m in REBALANCE_MODES)],
                               description="rebalance", style=_STYLE, layout=w.Layout(width="420px"))
        self.min_trade = w.FloatText(description="min trade (share)", step=0.01, style=_STYLE)
        self.mode.add_class("qlib-account-rebalance-mode")
        self.min_trade.add_class("qlib-account-min-trade")
        self.error = w.HTML()
        for x in (self.mode, self.min_trade):
            x.observe(self._changed, names="value")
        self.widget = w.VBox([w.HBox([self.mode, self.error]), self.min_trade])

    def _changed(self, _change) -> None:
        if not self._quiet:
            self.on_change()

    def write(self, rebalance: str | None, min_trade: float | None) -> None:
        self._quiet = True
        try:
            self.mode.value = rebalance or KIND_DEFAULT
            self.min_trade.value = 0.0 if min_trade is None else float(min_trade)
        finally:
            self._quiet = False

    def read(self) -> tuple[str | None, float | None]:
        """As written: no mode for each kind's default, no ``min_trade`` for 0 (off)."""
        share = _share(self.min_trade)
        return self.mode.value or None, None if share == 0.0 else share


class StrategyRebalanceEditor:
    """A strategy's choice: inherit the account's values, or its own mode and ``min_trade``."""

    def __init__(self, rebalance: str | None, min_trade: float | None, base: Inherited,
                 on_change: Callable[[], None]):
        self.on_change, self.base = on_change, base
        self._quiet = True
        self.choice = w.Dropdown(options=[("inherit the account's", INHERIT), ("own", OWN)],
                                 description="rebalance", style=_STYLE)
        self.mode = w.Dropdown(options=list(REBALANCE_MODES), description="mode", style=_STYLE)
        self.min_trade = w.FloatText(description="min trade (share)", step=0.01, style=_STYLE)
        for x, name in ((self.choice, "choice"), (self.mode, "mode"), (self.min_trade, "min-trade")):
            x.add_class(f"qlib-rebalance-{name}")
            x.observe(self._changed, names="value")
        self.inherited = w.HTML()
        self.box = w.VBox([self.mode, self.min_trade], layout=w.Layout(margin="0 0 0 140px"))
        self.widget = w.VBox([self.inherited, self.box])
        self.write(rebalance, min_trade)
        self._quiet = False

    def _changed(self, _change) -> None:
        if self._quiet:
            return
        self._show()
        self.on_change()

    def write(self, rebalance: str | None, min_trade: float | None) -> None:
        quiet, self._quiet = self._quiet, True
        try:
            own = rebalance is not None or min_trade is not None
            self.choice.value = OWN if own else INHERIT
            self.mode.value = rebalance if rebalance is not None else self.base[0]
            self.min_trade.value = float(min_trade if min_trade is not None else self.base[1])
            self._show()
        finally:
            self._quiet = quiet

    def read(self) -> tuple[str | None, float | None]:
        """(None, None) when inheriting; else each own value that differs from the inherited one."""
        if self.choice.value == INHERIT:
            return None, None
        mode, share = self.mode.value, _share(self.min_trade)
        return (mode if mode != self.base[0] else None), (None if _same(share, self.base[1]) else share)

    def rebase(self, base: Inherited) -> None:
        """What the strategy inherits changed: values equal to the old inherited ones follow it."""
        old, self.base = self.base, base
        quiet, self._quiet = self._quiet, True
        try:
            if self.mode.value == old[0]:
                self.mode.value = base[0]
            if _same(_share(self.min_trade), old[1]):
                self.min_trade.value = float(base[1])
            self._show()
        finally:
            self._quiet = quiet

    def _show(self) -> None:
        own = self.choice.value == OWN
        self.box.layout.display = None if own else "none"
        mode, share = self.base
        self.inherited.value = (f"<small>account's: {mode}, min trade {share:g}</small>" if not own else
                                "<small>values equal to the account's are inherited (not written)</small>")
