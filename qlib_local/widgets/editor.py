"""One strategy's widgets: read into / write from a :class:`StrategyState`, errors beside inputs."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import ipywidgets as w

from qlib_local.research.execution import Execution
from qlib_local.widgets.execution_editor import StrategyExecutionEditor
from qlib_local.widgets.rebalance_editor import StrategyRebalanceEditor, inherited
from qlib_local.widgets.state import StrategyState
from qlib_local.widgets.validate import FACTOR_KINDS, RANK_KINDS, Errors, Registries

RULES = ["1m", "3m", "5m", "15m", "30m", "45m", "1H", "2H", "4H", "6H", "8H", "12H", "1D"]
_STYLE = {"description_width": "130px"}
_WIDE = w.Layout(width="420px")


def _error_label() -> w.HTML:
    return w.HTML(value="", layout=w.Layout(margin="0 0 0 10px"))


def set_error(label: w.HTML, message: str | None) -> None:
    label.value = f'<span class="qlib-error" style="color:#c0392b">&#9888; {_esc(message)}</span>' if message else ""


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class StrategyEditor:
    """Widgets of one strategy; ``on_change`` runs after every edit (the builder re-validates)."""

    def __init__(self, regs: Registries, state: StrategyState, on_change: Callable[[], None],
                 account: Execution | None = None, account_rebalance: tuple[str | None, float | None] = (None, None)):
        """``account``: the account's execution block as the loader reads it (what is inherited);
        ``account_rebalance``: the account's ``rebalance`` and ``min_trade`` as written."""
        self.regs, self.on_change = regs, on_change
        self._quiet = True
        self.account_rebalance = account_rebalance
        self.execution = StrategyExecutionEditor(state.execution, account or Execution(), self._execution_changed)
        self.rebalance = StrategyRebalanceEditor(state.rebalance, state.min_trade,
                                                 inherited(*account_rebalance, state.kind), self._execution_changed)
        self.kind = w.ToggleButtons(options=["timing", "event"], description="kind", style=_STYLE)
        self.base = w.Dropdown(description="strategy", style=_STYLE, layout=_WIDE)
        self.params_box = w.HBox()
        self.param_widgets: list[w.Text] = []
        self.id = w.Text(description="id", placeholder="(the strategy name)", style=_STYLE, layout=_WIDE)
        self.rule_type = w.Combobox(options=RULES, description="rule", style=_STYLE, ensure_option=False)
        self.offset = w.Text(description="offset", placeholder="e.g. 0h, 1h, 2h15m", style=_STYLE)
        self.position = w.FloatText(description="capital share", step=0.05, style=_STYLE)
        self.leverage = w.FloatText(description="leverage", step=0.5, style=_STYLE)
        self.instruments = w.TagsInput(allow_duplicates=False)
        self.volatility_ratio = w.FloatText(description="volatility ratio", style=_STYLE)
        self.universe_all = w.Checkbox(description="universe: all instruments", indent=False)
        self.universe = w.TagsInput(allow_duplicates=False)
        self.hold_period = w.IntText(description="hold period (bars)", style=_STYLE)
        self.symbol_num_limit = w.IntText(description="symbols per bar", style=_STYLE)
        self.factors = w.TagsInput(allow_duplicates=False, allowed_tags=[])
        self.cross_sect_factor = w.Combobox(description="cross-section", placeholder="(none)", style=_STYLE,
                                            options=regs.factor_names(("cross_section",)), ensure_option=False)
        self.rank_factor = w.Combobox(description="rank factor", placeholder="e.g. QuoteVolumeMean_6",
                                      style=_STYLE, options=regs.factor_names(RANK_KINDS), ensure_option=False)
        self.ascending = w.Checkbox(description="ascending (low scores first)", indent=False)
        self.side = w.ToggleButtons(options=["long", "short"], description="side", style=_STYLE)
        self.blacklist = w.TagsInput(allow_duplicates=False)
        self.labels: dict[str, w.HTML] = {}
        for name in self.fields():
            getattr(self, name).add_class(f"qlib-{name.replace('_', '-')}")
        self.timing_box = w.VBox([
            self._row("instruments", self._tagged("instruments", self.instruments)),
            self._row("volatility_ratio", self.volatility_ratio),
        ])
        self.event_box = w.VBox([
            self._row("universe", w.VBox([self.universe_all, self.universe])),
            self._row("hold_period", self.hold_period),
            self._row("symbol_num_limit", self.symbol_num_limit),
            self._row("factors", self._tagged(
                f"factors ({', '.join(regs.factor_names(FACTOR_KINDS))})", self.factors)),
            self._row("cross_sect_factor", self.cross_sect_factor),
            self._row("rank_factor", self.rank_factor),
            self._row("ascending", self.ascending),
            self._row("side", self.side),
            self._row("blacklist", self._tagged("blacklist", self.blacklist)),
        ])
        self.widget = w.VBox([
            self._row("kind", self.kind),
            self._row("strategy", self.base),
            self._row("params", self.params_box),
            self._row("id", self.id),
            self._row("rule_type", self.rule_type),
            self._row("offset", self.offset),
            self._row("position", self.position),
            self._row("leverage", self.leverage),
            self._row("execution", self.execution.choice), self.execution.widget,
            self._row("rebalance", self.rebalance.choice), self.rebalance.widget,
            self.timing_box, self.event_box,
        ])
        self.write(state)
        for name in self.fields():
            getattr(self, name).observe(self._changed, names="value")
        self._quiet = False

    @staticmethod
    def fields() -> list[str]:
        return ["kind", "base", "id", "rule_type", "offset", "position", "leverage", "instruments",
                "volatility_ratio", "universe_all", "universe", "hold_period", "symbol_num_limit", "factors",
                "cross_sect_factor", "rank_factor", "ascending", "side", "blacklist"]

    def _row(self, key: str, widget: w.Widget) -> w.HBox:
        self.labels[key] = _error_label()
        return w.HBox([widget, self.labels[key]])

    @staticmethod
    def _tagged(title: str, tags: w.TagsInput) -> w.HBox:
        return w.HBox([w.Label(title, layout=w.Layout(width="130px")), tags])

    # -- state <-> widgets ---------------------------------------------------------------

    def write(self, s: StrategyState) -> None:
        quiet, self._quiet = self._quiet, True
        try:
            self.kind.value = s.kind if s.kind in ("timing", "event") else "timing"
            self._set_bases(s.base)
            self._set_params(s.params)
            self.id.value = s.id
            self.rule_type.value, self.offset.value = s.rule_type, s.offset
            self.position.value, self.leverage.value = float(s.position), float(s.leverage)
            self.instruments.value = list(s.instruments)
            self.volatility_ratio.value = float(s.volatility_ratio)
            self.universe_all.value = s.universe == "all"
            self.universe.value = [] if isinstance(s.universe, str) else list(s.universe)
            self.hold_period.value, self.symbol_num_limit.value = int(s.hold_period), int(s.symbol_num_limit)
            self.factors.value = list(s.factors)
            self.cross_sect_factor.value, self.rank_factor.value = s.cross_sect_factor, s.rank_factor
            self.ascending.value, self.side.value = bool(s.ascending), s.side
            self.blacklist.value = list(s.blacklist)
            self.execution.write(s.execution)
            self.rebalance.base = inherited(*self.account_rebalance, self.kind.value)
            self.rebalance.write(s.rebalance, s.min_trade)
            self._show_kind()
        finally:
            self._quiet = quiet

    def read(self) -> StrategyState:
        rebalance, min_trade = self.rebalance.read()
        return StrategyState(
            kind=self.kind.value, base=self.base.value or "", params=[p.value.strip() for p in self.param_widgets],
            id=self.id.value.strip(), rule_type=self.rule_type.value.strip(), offset=self.offset.value.strip(),
            position=float(self.position.value), leverage=float(self.leverage.value),
            instruments=list(self.instruments.value), volatility_ratio=float(self.volatility_ratio.value),
            universe="all" if self.universe_all.value else list(self.universe.value),
            hold_period=int(self.hold_period.value), symbol_num_limit=int(self.symbol_num_limit.value),
            factors=list(self.factors.value), cross_sect_factor=self.cross_sect_factor.value.strip(),
            rank_factor=self.rank_factor.value.strip(), ascending=bool(self.ascending.value), side=self.side.value,
            blacklist=list(self.blacklist.value), execution=self.execution.read(), rebalance=rebalance,
            min_trade=min_trade,
        )

    def show_errors(self, i: int, errors: Errors) -> None:
        for key, label in self.labels.items():
            set_error(label, errors.get((i, key)))

    # -- reactions ---------------------------------------------------------------------------

    def _execution_changed(self) -> None:
        if not self._quiet:
            self.on_change()

    def set_account_rebalance(self, rebalance: str | None, min_trade: float | None) -> None:
        """The account's values changed: what this strategy inherits follows."""
        self.account_rebalance = (rebalance, min_trade)
        self.rebalance.rebase(inherited(rebalance, min_trade, self.kind.value))

    def _changed(self, change) -> None:
        if self._quiet:
            return
        self._quiet = True
        try:
            if change["owner"] is self.kind:
                self._set_bases("")  # the first strategy of the new kind
                self._show_kind()
                self.rebalance.rebase(inherited(*self.account_rebalance, self.kind.value))  # kinds' defaults differ
            if change["owner"] in (self.kind, self.base):
                self._set_params([p.value for p in self.param_widgets])
            self.universe.layout.display = "none" if self.universe_all.value else None
        finally:
            self._quiet = False
        self.on_change()

    def _set_bases(self, keep: str) -> None:
        names = self.regs.strategy_names(self.kind.value)
        options = names if keep in names or not keep else [*names, keep]  # an unknown name stays visible
        self.base.options = options
        self.base.value = keep if keep in options else (options[0] if options else None)

    def _set_params(self, values: list[str]) -> None:
        """One text box per constructor parameter of the chosen strategy, defaults filled in."""
        names = self.regs.params_of(self.base.value or "")
        klass = self.regs.strategies.classes.get(self.base.value or "")
        defaults = []
        if klass is not None:
            sig = self.regs.param_specs(self.base.value or "")
            defaults = ["" if p.default is inspect.Parameter.empty else str(p.default) for p in sig]
        if len(values) != len(names):
            values = defaults if klass is not None else list(values)
            names = names or [f"p{k + 1}" for k in range(len(values))]
        self.param_widgets = []
        for name, value in zip(names, values, strict=False):
            t = w.Text(value=str(value), description=name, layout=w.Layout(width="160px"),
                       style={"description_width": "60px"})
            t.add_class(f"qlib-param-{name}")
            t.observe(self._changed, names="value")
            self.param_widgets.append(t)
        self.params_box.children = tuple(self.param_widgets)

    def _show_kind(self) -> None:
        timing = self.kind.value == "timing"
        self.timing_box.layout.display = None if timing else "none"
        self.event_box.layout.display = "none" if timing else None
        self.universe.layout.display = "none" if self.universe_all.value else None
