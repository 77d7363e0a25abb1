"""The strategy builder: an ipywidgets form over a strategies YAML.

``ConfigBuilder(path)`` shows every strategy of the file in its own panel; each edit
re-validates the whole config and puts errors next to the offending input; Save writes
the YAML (refused while errors remain); Preview runs a quick backtest on the local store
and draws the equity curves. All logic is reachable from Python (``state()``,
``errors``, ``save()``, ``load()``, ``preview()``) so it is tested without a browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as w

from qlib_local.errors import QlibError
from qlib_local.research.execution import Execution
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES
from qlib_local.widgets.editor import StrategyEditor, set_error
from qlib_local.widgets.execution_editor import AccountExecutionEditor, as_written
from qlib_local.widgets.rebalance_editor import AccountRebalanceEditor
from qlib_local.widgets.state import ConfigState, StrategyState, load_state, save_state
from qlib_local.widgets.validate import Errors, Registries, auto_base_bar, config_errors
from qlib_local.widgets.wallet_editor import WalletEditor

OWN_LABEL = ("initial_equity", "execution", "rebalance", "base_bar")  # account errors shown beside their inputs, not in the summary


class ConfigBuilder:
    def __init__(self, path: str | Path | None = None, out: str | Path | None = None, store: Any = None,
                 plugins: str | Path | None = None, preview_start: str | None = None):
        self.regs = Registries.load(plugins)
        self.store, self.preview_start = store, preview_start
        self.errors: Errors = {}
        self.last_preview = None
        self.editors: list[StrategyEditor] = []
        self._extra: dict[str, Any] = {}
        self.exchange = w.Text(description="exchange", style={"description_width": "130px"})
        self.wallets = WalletEditor(self.refresh)
        self.initial_equity = self.wallets.amount  # the one-wallet number
        self.account_execution = AccountExecutionEditor(None, self._account_execution_changed)
        self._account = Execution()  # the account's block as written: what strategies inherit
        self.account_rebalance = AccountRebalanceEditor(self._account_rebalance_changed)
        self.blacklist = w.TagsInput(allow_duplicates=False)
        # "" is auto (nothing written); its label names what auto resolves to for the current rules
        self.base_bar = w.Dropdown(options=base_bar_options(""), value="", description="base bar",
                                   style={"description_width": "130px"})
        self.base_bar.add_class("qlib-base-bar")
        self.base_bar_error = w.HTML()
        for x in (self.exchange, self.blacklist, self.base_bar):
            x.observe(lambda _: self.refresh(), names="value")
        self.accordion = w.Accordion()
        self.add_timing = w.Button(description="+ timing strategy", icon="plus")
        self.add_event = w.Button(description="+ event strategy", icon="plus")
        self.remove = w.Button(description="remove selected", icon="trash", button_style="warning")
        self.add_timing.on_click(lambda _: self.add("timing"))
        self.add_event.on_click(lambda _: self.add("event"))
        self.remove.on_click(lambda _: self.remove_selected())
        self.general = w.HTML()
        self.shares = w.HTML()
        self.file = w.Text(description="file", style={"description_width": "130px"}, layout=w.Layout(width="560px"))
        self.save_button = w.Button(description="Save", icon="save", button_style="primary")
        self.load_button = w.Button(description="Load", icon="folder-open")
        self.preview_button = w.Button(description="Preview backtest", icon="line-chart")
        self.status = w.HTML()
        self.preview_out = w.Output()
        self.save_button.add_class("qlib-save")
        self.status.add_class("qlib-status")
        self.save_button.on_click(lambda _: self._guard(self.save))
        self.load_button.on_click(lambda _: self._guard(lambda: self.load(self.file.value)))
        self.preview_button.on_click(lambda _: self._guard(self.preview))
        self.widget = w.VBox([
            w.HTML("<b>Account-wide</b>"), self.exchange, self.wallets.widget,
            w.HBox([w.Label("blacklist (all strategies)", layout=w.Layout(width="180px")), self.blacklist]),
            w.HBox([self.base_bar, self.base_bar_error]),
            w.HTML("<b>Execution</b> (the account's; each strategy inherits it or overrides fields)"),
            self.account_execution.widget,
            w.HTML("<b>Rebalancing a held position</b> (the account's; each strategy inherits it or sets its own)"),
            self.account_rebalance.widget,
            w.HTML("<b>Strategies</b>"), self.shares, self.accordion,
            w.HBox([self.add_timing, self.add_event, self.remove]),
            self.general, self.file, w.HBox([self.save_button, self.load_button, self.preview_button]),
            self.status, self.preview_out,
        ])
        self.out = Path(out) if out else (Path(path) if path else None)
        self.file.value = str(self.out) if self.out else ""
        self.set_state(load_state(path) if path else ConfigState())

    def _ipython_display_(self) -> None:  # display(builder) shows the form
        from IPython.display import display

        display(self.widget)

    # -- state --------------------------------------------------------------------------------

    def state(self) -> ConfigState:
        equity, wallets = self.wallets.read()
        return ConfigState([e.read() for e in self.editors], self.exchange.value.strip() or "okx",
                           equity, list(self.blacklist.value), dict(self._extra), wallets,
                           self.account_execution.read(), *self.account_rebalance.read(), base_bar=self.base_bar.value)

    def set_state(self, state: ConfigState) -> None:
        self._extra = dict(state.extra)
        self._loading = True
        try:
            self.exchange.value = state.exchange
            self.wallets.write(state.initial_equity, state.wallets)
            self.blacklist.value = list(state.blacklist)
            self.base_bar.value = state.base_bar
            self.account_execution.write(state.execution)
            self._account = as_written(state.execution)
            self.account_rebalance.write(state.rebalance, state.min_trade)
            self.editors = [StrategyEditor(self.regs, s, self.refresh, self._account, self.account_rebalance.read())
                            for s in state.strategies]
        finally:
            self._loading = False
        self._relayout()

    def _account_execution_changed(self) -> None:
        """Strategies' inherited fields follow the account's block."""
        account = as_written(self.account_execution.read())
        if account != self._account:
            self._account = account
            for e in self.editors:
                e.execution.rebase(account)
        self.refresh()

    def _account_rebalance_changed(self) -> None:
        """Strategies that inherit (wholly or a value) follow the account's values."""
        for e in self.editors:
            e.set_account_rebalance(*self.account_rebalance.read())
        self.refresh()

    def add(self, kind: str) -> StrategyEditor:
        names = self.regs.strategy_names(kind)
        left = max(0.0, round(1.0 - sum(e.read().position for e in self.editors), 6))
        s = StrategyState(kind=kind, base=names[0] if names else "", position=left)
        ed = StrategyEditor(self.regs, s, self.refresh, self._account, self.account_rebalance.read())
        self.editors.append(ed)
        self._relayout(select=len(self.editors) - 1)
        return ed

    def remove_selected(self) -> None:
        i = self.accordion.selected_index
        if i is not None and 0 <= i < len(self.editors):
            del self.editors[i]
            self._relayout()

    def _relayout(self, select: int | None = 0) -> None:
        for i, e in enumerate(self.editors):
            e.widget.add_class(f"qlib-strategy-{i}")
        self.accordion.children = tuple(e.widget for e in self.editors)
        self.accordion.selected_index = select if self.editors else None
        self.refresh()

    # -- validation ------------------------------------------------------------------------------

    def refresh(self) -> Errors:
        if getattr(self, "_loading", False):
            return self.errors
        state = self.state()
        self._label_auto(auto_base_bar(state))
        self.errors = config_errors(state, self.regs, self.store)
        for i, e in enumerate(self.editors):
            e.show_errors(i, self.errors)
        self.accordion.titles = tuple(
            f"{'⚠ ' if any(k[0] == i for k in self.errors) else ''}{s.label} · {s.kind} · {s.rule_type}+{s.offset}"
            f" · {s.position:g}" for i, s in enumerate(state.strategies))
        total = sum(s.position for s in state.strategies)
        self.shares.value = f"capital shares: {total:g} of 1" + (f" ({1 - total:g} unallocated)" if total < 1 else "")
        general = [v for (i, k), v in self.errors.items() if i == -1 and k not in OWN_LABEL]
        set_error(self.general, "; ".join(general) if general else None)
        set_error(self.wallets.error, self.errors.get((-1, "initial_equity")))
        set_error(self.account_execution.error, self.errors.get((-1, "execution")))
        set_error(self.account_rebalance.error, self.errors.get((-1, "rebalance")))
        set_error(self.base_bar_error, self.errors.get((-1, "base_bar")))
        return self.errors

    def _label_auto(self, auto: str) -> None:
        """Relabel "auto" for the current rules; the chosen value stays (relabelling is no edit)."""
        options = base_bar_options(auto)
        if tuple(options) != tuple(self.base_bar.options):
            loading, self._loading = getattr(self, "_loading", False), True
            try:
                value = self.base_bar.value
                self.base_bar.options = options
                self.base_bar.value = value
            finally:
                self._loading = loading

    # -- actions ---------------------------------------------------------------------------------

    def _guard(self, action) -> None:
        try:
            action()
        except QlibError as e:
            self.status.value = f'<span style="color:#c0392b">{e}</span>'

    def save(self, path: str | Path | None = None) -> Path:
        """Write the YAML; refused (with the reason in the status line) while errors remain."""
        errors = self.refresh()
        if errors:
            raise QlibError(f"not saved: {len(errors)} error(s) to fix first")
        target = Path(path or self.file.value or self.out or "")
        if not str(target):
            raise QlibError("not saved: no file name")
        save_state(self.state(), target)
        self.status.value = f"saved {len(self.editors)} strateg{'y' if len(self.editors) == 1 else 'ies'} to {target}"
        return target

    def load(self, path: str | Path) -> None:
        self.set_state(load_state(path))
        self.file.value = str(path)
        self.status.value = f"loaded {path}"

    def preview(self, start: str | None = None, end: str | None = None):
        """Quick backtest of the current form on the store; draws equity, returns the result."""
        from qlib_local.backtest import run_backtest
        from qlib_local.research.config_load import parse_config
        from qlib_local.widgets.plots import equity_figure

        if self.store is None:
            raise QlibError("no store: pass store=KlineStore(...) (the notebook's data_root) to preview")
        if self.refresh():
            raise QlibError(f"no preview: {len(self.errors)} error(s) to fix first")
        cfg = parse_config(self.state().to_raw(), store=self.store, plugins=self.regs.root)
        res = run_backtest(cfg, self.store, start=start or self.preview_start, end=end)
        self.last_preview = res
        total = res.equity["total"]
        self.status.value = (f"preview: {total.index[0]:%Y-%m-%d %H:%M} to {total.index[-1]:%Y-%m-%d %H:%M} UTC, "
                             f"equity {total.iloc[0]:,.0f} → {total.iloc[-1]:,.0f} ({total.iloc[-1] / total.iloc[0] - 1:+.2%})")
        self.preview_out.clear_output()
        with self.preview_out:
            from IPython.display import display

            display(equity_figure(res.equity, "Preview: account and per-strategy equity"))
        return res


def base_bar_options(auto: str) -> list[tuple[str, str]]:
    """The dropdown's (label, value) pairs: auto (writes nothing), then every exchange timeframe."""
    return [(f"auto ({auto})" if auto else "auto", ""), *((name, name) for name in EXCHANGE_TIMEFRAMES)]
