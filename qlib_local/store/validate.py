"""The bar rule every write to the store passes, and every stored bar is checked against.

A bar is sane when its prices are finite and positive, ``high >= max(open, close)``,
``low <= min(open, close)``, and its volume is finite and non-negative (quote volume may be
unknown, NaN, but is otherwise finite and non-negative). One rule, in one place, so import,
download, the collector, synth and a live job's own fetch all refuse the same bars, and
``data check`` finds any that reached the store before the rule existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True)
class BadBars:
    """Rows that break the bar rule: a mask, and what is wrong with the first one."""

    mask: np.ndarray
    first: int  # position of the first bad row
    reason: str

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def _num(x: float) -> str:
    return f"{x:.10g}"


def reason(cols: Mapping[str, np.ndarray], i: int) -> str:
    """What is wrong with row ``i``, checked in the order a reader would ask."""
    vals = {c: float(cols[c][i]) for c in PRICES}
    for c, v in vals.items():
        if np.isnan(v):
            return f"missing or non-numeric prices ({c})"
    for c, v in vals.items():
        if not np.isfinite(v) or v <= 0:
            return f"{c} {_num(v)} is not a finite positive price"
    top, bottom = max(vals["open"], vals["close"]), min(vals["open"], vals["close"])
    if vals["high"] < top:
        return f"high {_num(vals['high'])} is below max(open, close) {_num(top)}"
    if vals["low"] > bottom:
        return f"low {_num(vals['low'])} is above min(open, close) {_num(bottom)}"
    v = float(cols["volume"][i])
    if not np.isfinite(v) or v < 0:
        return f"volume {_num(v)} is not finite and >= 0"
    q = float(cols["quote_volume"][i]) if "quote_volume" in cols else np.nan
    return f"quote_volume {_num(q)} is not finite and >= 0"


def find_bad_bars(cols: Mapping[str, np.ndarray]) -> BadBars | None:
    """The rows of ``cols`` (float arrays per column) breaking the bar rule, or None."""
    o, h, lo, c, v = (np.asarray(cols[k], np.float64) for k in (*PRICES, "volume"))
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c))
        bad |= (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
        bad |= h < np.maximum(o, c)
        bad |= lo > np.minimum(o, c)
        bad |= ~np.isfinite(v) | (v < 0)
        if "quote_volume" in cols:
            q = np.asarray(cols["quote_volume"], np.float64)
            bad |= np.isinf(q) | (q < 0)
    if not bad.any():
        return None
    first = int(np.flatnonzero(bad)[0])
    return BadBars(bad, first, reason(cols, first))
