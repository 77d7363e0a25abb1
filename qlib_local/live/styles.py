"""Live order styles: which style each planned order takes, and the orders grouped for sending.

Strategies may override the account's ``execution`` block (``research.config``); positions are
netted, so each instrument's order takes ONE style, chosen by the backtest's own rule
(:func:`qlib_local.research.styles.order_styles` on the strategies' change of contracts at this
close). Market-style orders go out first (at once, as the backtest fills them at the close), then
the maker_first ones, all together, each on its style's live policy (reprice, deadline, fallback),
then each group of twap orders sharing the same twap policy (:mod:`qlib_local.live.twap`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qlib_local.live.maker import MakerPolicy, maker_policy
from qlib_local.live.twap import TwapPolicy, twap_policy
from qlib_local.live.types import OrderRequest
from qlib_local.research.execution import Execution
from qlib_local.research.styles import order_styles


def instrument_styles(before: np.ndarray, after: np.ndarray, instruments: list[str],
                      style_of: np.ndarray) -> dict[str, int]:
    """Each instrument's style index from the strategies' contracts before and after this close ([S, N])."""
    idx = order_styles(np.asarray(after, np.float64) - np.asarray(before, np.float64), style_of)
    return dict(zip(instruments, (int(k) for k in idx), strict=True))


@dataclass
class StyleGroups:
    market: list[OrderRequest] = field(default_factory=list)
    maker: dict[MakerPolicy, list[OrderRequest]] = field(default_factory=dict)
    twap: dict[TwapPolicy, list[OrderRequest]] = field(default_factory=dict)


def group_orders(orders: list[OrderRequest], style_by_inst: dict[str, int], styles: tuple[Execution, ...],
                 base_ms: int) -> StyleGroups:
    """Split a plan by its orders' styles (an instrument not in ``style_by_inst``: the account's, 0);
    maker_first and twap orders by their live policy, in the order the policies first appear."""
    out = StyleGroups()
    for o in orders:
        ex = styles[style_by_inst.get(o.inst_id, 0)]
        if ex.style == "twap":
            out.twap.setdefault(twap_policy(ex, base_ms), []).append(o)
            continue
        if ex.style != "maker_first":
            out.market.append(o)
            continue
        out.maker.setdefault(maker_policy(ex, base_ms), []).append(o)
    return out
