"""The account's starting equity: one number, or a wallet per coin (a COIN-M account).

``initial_equity: 10000`` or ``initial_equity: {BTC: 1, ETH: 20}``; the coin rows keep the
order typed, duplicates included, so the validator can say what is wrong instead of a
mapping silently keeping one of them.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

NUMBER, COINS = "number", "coins"
_STYLE = {"description_width": "130px"}


class WalletEditor:
    def __init__(self, on_change: Callable[[], None]):
        self.on_change = on_change
        self._quiet = False
        self.mode = w.ToggleButtons(options=[("one wallet", NUMBER), ("a wallet per coin", COINS)],
                                    description="initial equity", style=_STYLE)
        self.amount = w.FloatText(description="amount", style=_STYLE)
        self.amount.add_class("qlib-initial-equity")
        self.rows: list[tuple[w.Text, w.FloatText, w.Button]] = []
        self.rows_box = w.VBox()
        self.add_button = w.Button(description="+ coin", icon="plus")
        self.add_button.on_click(lambda _: self.add_coin())
        self.coins_box = w.VBox([self.rows_box, self.add_button], layout=w.Layout(margin="0 0 0 140px"))
        self.error = w.HTML()
        for x in (self.mode, self.amount):
            x.observe(self._changed, names="value")
        self.widget = w.VBox([w.HBox([self.mode, self.error]), self.amount, self.coins_box])
        self._show()

    def _changed(self, change=None) -> None:
        if self._quiet:
            return
        if change is not None and change["owner"] is self.mode and self.mode.value == COINS and not self.rows:
            self._add_row("", float(self.amount.value))  # a first row to name
        self._show()
        self.on_change()

    def add_coin(self, coin: str = "", amount: float = 0.0) -> tuple[w.Text, w.FloatText]:
        """A new coin row (the button's action; returns its coin and amount inputs)."""
        row = self._add_row(coin, amount)
        self.on_change()
        return row[0], row[1]

    def remove_coin(self, index: int) -> None:
        del self.rows[index]
        self._layout_rows()
        self.on_change()

    def _add_row(self, coin: str, amount: float) -> tuple[w.Text, w.FloatText, w.Button]:
        name = w.Text(value=coin, placeholder="coin, e.g. BTC", layout=w.Layout(width="140px"))
        value = w.FloatText(value=amount, layout=w.Layout(width="160px"))
        drop = w.Button(icon="trash", tooltip="remove this coin", layout=w.Layout(width="40px"))
        name.add_class("qlib-wallet-coin")
        value.add_class("qlib-wallet-amount")
        row = (name, value, drop)
        drop.on_click(lambda _: self.remove_coin(self.rows.index(row)))
        for x in (name, value):
            x.observe(self._changed, names="value")
        self.rows.append(row)
        self._layout_rows()
        return row

    def _layout_rows(self) -> None:
        self.rows_box.children = tuple(w.HBox(list(r)) for r in self.rows)

    def _show(self) -> None:
        coins = self.mode.value == COINS
        self.amount.layout.display = "none" if coins else None
        self.coins_box.layout.display = None if coins else "none"

    def write(self, equity: float, wallets: list[tuple[str, float]] | None) -> None:
        self._quiet = True
        try:
            self.amount.value = float(equity)
            self.mode.value = NUMBER if wallets is None else COINS
            self.rows = []
            for coin, amount in wallets or []:
                self._add_row(coin, amount)
            self._layout_rows()
            self._show()
        finally:
            self._quiet = False

    def read(self) -> tuple[float, list[tuple[str, float]] | None]:
        """The number, and the coin rows (None: one wallet, the number)."""
        rows = [(n.value.strip(), float(v.value)) for n, v, _ in self.rows]
        return float(self.amount.value), rows if self.mode.value == COINS else None
