"""Which order style a net order takes when strategies with different styles share an instrument.

Positions are netted across an account's strategies, so one order per instrument goes to the
venue; it can carry only one style. The rule, defined once here and called by both the
backtest kernel (:func:`qlib_local.research.kernels.simulate`) and live planning
(:meth:`qlib_local.live.trading.TradingSteps.compute`):

* the order takes the style of the strategy with the largest ``|target delta|`` in CONTRACTS
  of that instrument at this close (within one instrument contracts and notional are
  proportional, so the choice is the same in either measure);
* ties go to the first strategy in config order;
* when no strategy's target moved (the order only closes a gap between the venue's positions
  and the targets, e.g. after a failed run), the account's style (index 0) is taken.

Styles are indices into :attr:`qlib_local.research.config.ResearchConfig.styles` (0 = the
account's ``execution`` block; each distinct per-strategy block after it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ACCOUNT_STYLE = 0


@njit(cache=True)
def order_styles(change, style_of):
    """``change`` [S, N]: each strategy's target contracts after minus before this close;
    ``style_of`` [S] int: each strategy's style index. Returns [N] int64: each instrument's style."""
    n_s, n = change.shape
    out = np.full(n, ACCOUNT_STYLE, np.int64)
    for i in range(n):
        best = 0.0
        for s in range(n_s):
            c = abs(change[s, i])
            if c > best:  # strictly larger: a tie keeps the earlier strategy
                best = c
                out[i] = style_of[s]
    return out
