"""How the backtest fills net orders: the ``execution`` section of a research config.

Live fills come from the venue, so this only decides what a backtest charges. The default,
``{style: market, spread: 0, impact: 0}``, is the old model (close x (1 +- slippage), taker
fee) bit for bit; anything else makes a backtest pay for liquidity:

* ``market``: the close x (1 +- (slippage + impact x sqrt(share))) +- half-spread, taker fee;
  ``share`` is the order's contracts over the bar's traded contracts (1 when the bar has no
  volume), the half-spread ``max(tick, spread x (high - low))`` of the bar (0 when spread is 0),
  as the local exchanges' book (``qlib_local.sim.book``) quotes it;
* ``maker_first``: a limit on the passive side of that book, close -+ half-spread (the close
  itself when spread is 0; not rounded to the tick); it fills there, earning the maker fee, only
  if one of the next ``deadline_bars`` base bars trades THROUGH it by a tick (a buy: low <= limit - tick);
  otherwise, as live would, it goes to market at the deadline bar's close (the market model above,
  taker fee), and the move from the decision's close to that fill is charged as a cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qlib_local.config_values import Bounds, number
from qlib_local.errors import QlibError

STYLES = ("market", "maker_first")
FIELDS = {"style", "spread", "impact", "deadline_bars"}
BOUNDS = {"spread": Bounds(0.0, 1.0), "impact": Bounds(0.0, 10.0), "deadline_bars": Bounds(1, 1000, integer=True)}


@dataclass(frozen=True)
class Execution:
    style: str = "market"
    spread: float = 0.0  # half-spread as a share of the bar's range (the book's spread_k)
    impact: float = 0.0  # square-root impact coefficient: price moves impact x sqrt(volume share)
    deadline_bars: int = 1  # maker_first: base bars a limit may wait before going to market

    @property
    def is_default(self) -> bool:
        """The old fill model exactly: the kernel then takes its original path."""
        return self.style == "market" and self.spread == 0 and self.impact == 0

    @property
    def code(self) -> int:
        return STYLES.index(self.style)


def parse_execution(raw: Any, error: type[QlibError]) -> Execution:
    """The ``execution`` mapping, every value checked; ``None`` is the default."""
    if raw is None:
        return Execution()
    if not isinstance(raw, dict) or set(raw) - FIELDS:
        raise error(f"execution: expected a mapping of {', '.join(sorted(FIELDS))}, got {raw!r}")
    style = raw.get("style", "market")
    if style not in STYLES:
        raise error(f"execution.style: must be one of {', '.join(STYLES)}, got {style!r}")
    vals = {k: number(f"execution.{k}", raw[k], BOUNDS[k], error) for k in BOUNDS if k in raw}
    if "deadline_bars" in vals:
        vals["deadline_bars"] = int(vals["deadline_bars"])
    return Execution(style=style, **vals)
