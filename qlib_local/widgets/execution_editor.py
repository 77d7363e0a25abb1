"""Widgets for ``execution`` blocks: the account's, and each strategy's overrides of it.

A strategy either inherits the account's block or picks its own style; its widgets then show
the account's values, and only the fields that differ from the account's (plus the style) are
written, so the YAML still says what is inherited. When the account's block changes, a
strategy field still equal to the account's old value follows it (it was inherited).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from typing import Any

import ipywidgets as w

from qlib_local.research.execution import FALLBACKS, INTEGERS, SLICE_STYLES, STYLES, Execution

INHERIT = "inherit"
ALL = ("spread", "impact")  # every style's
MAKER = ("reprice_s", "deadline_bars", "deadline_s", "fallback")  # maker_first's, and a twap maker slice's
TWAP = ("twap_slices", "twap_window_bars", "twap_min_notional", "twap_slice_style")
CHOICES = {"style": STYLES, "fallback": FALLBACKS, "twap_slice_style": SLICE_STYLES}
LABELS = {"spread": "spread", "impact": "impact", "reprice_s": "reprice (s)", "deadline_bars": "deadline (bars)",
          "deadline_s": "deadline (s, 0: bars)", "fallback": "fallback", "twap_slices": "twap slices",
          "twap_window_bars": "twap window (bars)", "twap_min_notional": "twap min notional",
          "twap_slice_style": "twap slice style"}
_STYLE = {"description_width": "150px"}


def fields_for(style: str, slice_style: str) -> tuple[str, ...]:
    """The fields that change how this style trades (a twap's maker fields only with maker slices)."""
    if style == "maker_first":
        return ALL + MAKER
    if style == "twap":
        return ALL + TWAP + (MAKER if slice_style == "maker_first" else ())
    return ALL


def as_written(raw: dict[str, Any] | None, base: Execution | None = None) -> Execution:
    """The block over ``base`` as written, unchecked: what a strategy inherits and is compared
    with, even while a value is out of range (the validator flags that beside the input)."""
    values = _overlay(raw, base or Execution())
    return Execution(**{f.name: values[f.name] for f in dataclass_fields(Execution)})


def _overlay(raw: dict[str, Any] | None, base: Execution) -> dict[str, Any]:
    """What the widgets show: ``base``'s values with the block's own on top, unchecked."""
    values = asdict(base)
    values.update(raw or {})
    return values


def _written(key: str, value: Any) -> Any:
    """An integer field's whole number as an int (the widget holds floats so 2.5 reaches the loader's check)."""
    if key in INTEGERS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ExecutionFields:
    """One widget per execution field; the caller decides which are shown and which written."""

    def __init__(self, on_change: Callable[[], None]):
        self.on_change = on_change
        self._quiet = False
        self.inputs: dict[str, w.Widget] = {}
        for key in (*ALL, *MAKER, *TWAP):
            if key in CHOICES:
                x: w.Widget = w.Dropdown(options=list(CHOICES[key]), description=LABELS[key], style=_STYLE)
            else:
                x = w.FloatText(description=LABELS[key], style=_STYLE, step=1 if key in INTEGERS else None)
            x.add_class(f"qlib-execution-{key.replace('_', '-')}")
            x.observe(self._changed, names="value")
            self.inputs[key] = x

    def _changed(self, _change) -> None:
        if not self._quiet:
            self.on_change()

    def set(self, values: dict[str, Any]) -> None:
        quiet, self._quiet = self._quiet, True
        try:
            for key, x in self.inputs.items():
                v = values[key]
                if key in CHOICES:
                    x.value = v
                else:
                    x.value = float(v)
        finally:
            self._quiet = quiet

    def get(self, key: str) -> Any:
        return _written(key, self.inputs[key].value)

    def differing(self, keys: tuple[str, ...], base: Execution) -> dict[str, Any]:
        return {k: self.get(k) for k in keys if self.get(k) != getattr(base, k)}

    def show(self, keys: tuple[str, ...]) -> None:
        for key, x in self.inputs.items():
            x.layout.display = None if key in keys else "none"


class AccountExecutionEditor:
    """The account's block. Every field is shown: strategies of any style inherit them; the
    non-default ones are written (none: no block, the defaults)."""

    def __init__(self, raw: dict[str, Any] | None, on_change: Callable[[], None]):
        self.on_change = on_change
        self.style = w.Dropdown(options=list(STYLES), description="style", style=_STYLE)
        self.style.add_class("qlib-execution-style")
        self.fields = ExecutionFields(self._changed)
        self.error = w.HTML()
        self.style.observe(lambda _: self._changed(), names="value")
        f = self.fields.inputs
        self.widget = w.VBox([
            w.HBox([self.style, self.error]),
            w.HBox([f["spread"], f["impact"]]),
            w.HTML("<i>maker_first, and twap's maker slices</i>"),
            w.HBox([f["reprice_s"], f["fallback"]]), w.HBox([f["deadline_bars"], f["deadline_s"]]),
            w.HTML("<i>twap</i>"),
            w.HBox([f["twap_slices"], f["twap_window_bars"]]), w.HBox([f["twap_min_notional"], f["twap_slice_style"]]),
        ])
        self.write(raw)

    def _changed(self) -> None:
        if not getattr(self, "_quiet", False):
            self.on_change()

    def write(self, raw: dict[str, Any] | None) -> None:
        self._quiet = True
        try:
            values = _overlay(raw, Execution())
            self.style.value = values["style"]
            self.fields.set(values)
        finally:
            self._quiet = False

    def read(self) -> dict[str, Any] | None:
        default = Execution()
        diff = self.fields.differing(ALL + MAKER + TWAP, default)
        if not diff and self.style.value == default.style:
            return None
        return {"style": self.style.value, **diff}


class StrategyExecutionEditor:
    """A strategy's choice: inherit the account's block, or its own style with overrides."""

    def __init__(self, raw: dict[str, Any] | None, base: Execution, on_change: Callable[[], None]):
        self.on_change, self.base = on_change, base
        self._quiet = True
        self.choice = w.Dropdown(options=[("inherit the account's", INHERIT), *((f"own: {s}", s) for s in STYLES)],
                                 description="execution", style={"description_width": "130px"})
        self.choice.add_class("qlib-execution-choice")
        self.inherited = w.HTML()
        self.fields = ExecutionFields(self._changed)
        self.choice.observe(lambda _: self._changed(), names="value")
        self.box = w.VBox(list(self.fields.inputs.values()), layout=w.Layout(margin="0 0 0 140px"))
        self.widget = w.VBox([self.inherited, self.box])
        self.write(raw)
        self._quiet = False

    def _changed(self) -> None:
        if self._quiet:
            return
        self._quiet = True
        try:
            self._show()
        finally:
            self._quiet = False
        self.on_change()

    def write(self, raw: dict[str, Any] | None) -> None:
        quiet, self._quiet = self._quiet, True
        try:
            self.choice.value = INHERIT if raw is None else raw.get("style", self.base.style)
            self.fields.set(_overlay(raw, self.base))
            self._show()
        finally:
            self._quiet = quiet

    def read(self) -> dict[str, Any] | None:
        """None (inherit), or the style and the shown fields that differ from the account's."""
        style = self.choice.value
        if style == INHERIT:
            return None
        keys = fields_for(style, self.fields.inputs["twap_slice_style"].value)
        return {"style": style, **self.fields.differing(keys, self.base)}

    def rebase(self, base: Execution) -> None:
        """The account's block changed: fields that were inherited (equal to it) follow it."""
        old, self.base = self.base, base
        values = {k: (getattr(base, k) if self.fields.get(k) == getattr(old, k) else self.fields.get(k))
                  for k in self.fields.inputs}
        self.fields.set(values)
        self._show()

    def _show(self) -> None:
        style = self.choice.value
        own = style != INHERIT
        self.box.layout.display = None if own else "none"
        self.fields.show(fields_for(style, self.fields.inputs["twap_slice_style"].value) if own else ())
        b = self.base
        shown = ", ".join(f"{k} {getattr(b, k):g}" if k not in CHOICES else f"{k} {getattr(b, k)}"
                          for k in fields_for(b.style, b.twap_slice_style))
        self.inherited.value = (f"<small>account's: {b.style} ({shown})</small>" if not own else
                                "<small>fields equal to the account's are inherited (not written)</small>")
