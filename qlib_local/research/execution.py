"""How the backtest fills net orders: the ``execution`` section of a research config.

Live fills come from the venue, so this only decides what a backtest charges. The default,
``{style: market, spread: 0, impact: 0}``, is the old model (close x (1 +- slippage), taker
fee) bit for bit; anything else makes a backtest pay for liquidity:

* ``market``: the close x (1 +- (slippage + impact x sqrt(share))) +- half-spread, taker fee;
  ``share`` is the order's contracts over the bar's traded contracts (1 when the bar has no
  volume), the half-spread ``max(tick, spread x (high - low))`` of the bar (0 when spread is 0),
  as the local exchanges' book (``qlib_local.sim.book``) quotes it;
* ``maker_first``: a limit on the passive side of that book, close -+ max(tick, half-spread)
  (a tick away even when spread is 0: a post-only order may not rest at the last price, as the
  local exchanges' quote has it; not rounded to the tick); it fills there, earning the maker fee, only
  if one of the next ``deadline_bars`` base bars trades THROUGH it by a tick (a buy: low <= limit - tick);
  at each close before the deadline where the book moved it is re-priced to the new bid/ask, as live
  re-prices (the first bar after a placing counts by its close only); otherwise, as live would, it
  goes to market at the deadline bar's close (the market model above, taker fee), and the move
  from the decision's close to that fill is charged as a cost.

* ``twap``: an order of at least ``twap_min_notional`` (quote currency at the decision's close;
  0: every order) is cut into ``twap_slices`` equal slices; slice ``k`` goes at the base bar
  ``t + floor(k x twap_window_bars / twap_slices)`` with that bar's price, as a
  ``twap_slice_style`` order (``market``, or ``maker_first`` resting at most to the next slice);
  a smaller order goes as one ``twap_slice_style`` order. Details in :mod:`qlib_local.research.fills`.

Live (``qlib_local.live.maker``, ``qlib_local.live.twap``) reads the same section, so an account trades the style its
backtest modelled: ``maker_first`` rests a post-only order at the best bid/ask, re-prices it
every ``reprice_s`` seconds of the exchange's clock while the book moves away, and at the
deadline (``deadline_s``, default ``deadline_bars`` base bars) sends what is left as market,
or leaves it (``fallback: leave``, live only: the backtest always completes at market).

A strategy may carry its own ``execution`` block: the fields it sets override the account's
(the config's top-level block), the rest are inherited. Net orders take one style each, by
:func:`qlib_local.research.styles.order_styles`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import gcd
from typing import Any

from qlib_local.config_values import Bounds, number
from qlib_local.errors import QlibError
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES, coarsest_dividing

STYLES = ("market", "maker_first", "twap")
SLICE_STYLES = ("market", "maker_first")  # what one twap slice is
FALLBACKS = ("market", "leave")
FIELDS = {"style", "spread", "impact", "deadline_bars", "reprice_s", "deadline_s", "fallback",
          "twap_slices", "twap_window_bars", "twap_min_notional", "twap_slice_style"}
BOUNDS = {"spread": Bounds(0.0, 1.0), "impact": Bounds(0.0, 10.0), "deadline_bars": Bounds(1, 1000, integer=True),
          "reprice_s": Bounds(0.0, 3600.0, lo_open=True), "deadline_s": Bounds(0.0, 86400.0),
          "twap_slices": Bounds(2, 36, integer=True),  # 36: one base-36 digit of a child's id (live.twap)
          "twap_window_bars": Bounds(1, 1000, integer=True), "twap_min_notional": Bounds(0.0, 1e12)}
INTEGERS = ("deadline_bars", "twap_slices", "twap_window_bars")


@dataclass(frozen=True)
class Execution:
    style: str = "market"
    spread: float = 0.0  # half-spread as a share of the bar's range (the book's spread_k)
    impact: float = 0.0  # square-root impact coefficient: price moves impact x sqrt(volume share)
    deadline_bars: int = 1  # maker_first: base bars a limit may wait before going to market
    reprice_s: float = 5.0  # live maker_first: exchange-clock seconds between looks at the book
    deadline_s: float = 0.0  # live maker_first: seconds a maker order may rest (0: deadline_bars base bars)
    fallback: str = "market"  # live maker_first: at the deadline, send the rest as market, or leave it
    twap_slices: int = 4  # twap: slices of an order over the window
    twap_window_bars: int = 1  # twap: base bars the slices spread over (slice k at k x window / slices)
    twap_min_notional: float = 0.0  # twap: smaller orders (quote currency) go as one slice-style order
    twap_slice_style: str = "market"  # twap: each slice market, or maker_first (resting at most to the next)

    def live_deadline_ms(self, base_ms: int) -> int:
        """How long a live maker order may rest, in exchange milliseconds."""
        return int(self.deadline_s * 1000) if self.deadline_s > 0 else self.deadline_bars * base_ms

    @property
    def is_default(self) -> bool:
        """The old fill model exactly: the kernel then takes its original path."""
        return self.style == "market" and self.spread == 0 and self.impact == 0

    @property
    def code(self) -> int:
        return STYLES.index(self.style)

    @property
    def slice_code(self) -> int:
        return SLICE_STYLES.index(self.twap_slice_style)


def parse_execution(raw: Any, error: type[QlibError], base: Execution | None = None,
                    where: str = "execution") -> Execution:
    """The ``execution`` mapping at ``where``, every value checked; a field not given is ``base``'s
    (a strategy's block inherits the account's; ``base`` None: the defaults). ``None``: ``base``."""
    base = base or Execution()
    if raw is None:
        return base
    if not isinstance(raw, dict) or set(raw) - FIELDS:
        raise error(f"{where}: expected a mapping of {', '.join(sorted(FIELDS))}, got {raw!r}")
    style = raw.get("style", base.style)
    if style not in STYLES:
        raise error(f"{where}.style: must be one of {', '.join(STYLES)}, got {style!r}")
    fallback = raw.get("fallback", base.fallback)
    if fallback not in FALLBACKS:
        raise error(f"{where}.fallback: must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
    slice_style = raw.get("twap_slice_style", base.twap_slice_style)
    if slice_style not in SLICE_STYLES:
        raise error(f"{where}.twap_slice_style: must be one of {', '.join(SLICE_STYLES)}, got {slice_style!r}")
    vals: dict[str, Any] = {k: number(f"{where}.{k}", raw[k], BOUNDS[k], error) for k in BOUNDS if k in raw}
    for k in INTEGERS:
        if k in vals:
            vals[k] = int(vals[k])
    return replace(base, style=style, fallback=fallback, twap_slice_style=slice_style, **vals)


def resting_ms(ex: Execution, base_ms: int) -> int:
    """How long a live run may keep an order of this style working after the close (the run holds
    the account's lock meanwhile): a maker deadline, a twap window, 0 for market."""
    if ex.style == "maker_first":
        return ex.live_deadline_ms(base_ms)
    if ex.style == "twap":
        return ex.twap_window_bars * base_ms
    return 0


def decision_gap_ms(rules: list[tuple[int, int]]) -> int:
    """The shortest time between two decision closes of an account whose strategies decide at
    ``offset + k x rule`` ((rule, offset) ms pairs): per pair, the offsets' difference modulo the
    rules' gcd, or that gcd when they coincide."""
    gap = min(r for r, _ in rules)
    for ra, oa in rules:
        for rb, ob in rules:
            g = gcd(ra, rb)
            d = (oa - ob) % g
            gap = min(gap, min(d, g - d) if d else g)
    return gap


def check_resting(where_ex: list[tuple[str, Execution]], rules: list[tuple[int, int]], error: type[QlibError],
                  base_bar_ms: int = 0) -> None:
    """Refuse a style whose orders would still be working at the account's next decision close:
    that run would find the lock held and be skipped as late. Base bars are live's (the coarsest
    exchange timeframe dividing every rule and offset, and the config's ``base_bar`` when set)."""
    base = coarsest_dividing([r for r, _ in rules] + [o for _, o in rules] + [base_bar_ms])
    if not base:
        return  # no base bar at all: the data layer refuses the config with its own error
    base_ms, gap = EXCHANGE_TIMEFRAMES[base], decision_gap_ms(rules)
    for where, ex in where_ex:
        hold = resting_ms(ex, base_ms)
        if hold > gap:
            what = "twap_window_bars" if ex.style == "twap" else "the maker deadline (deadline_s or deadline_bars)"
            raise error(f"{where}: {what} keeps orders working {hold / 60_000:g} min after the close, past the "
                        f"account's next decision close {gap / 60_000:g} min later; shorten it")


def coarse_base_note(styles: tuple[Execution, ...], base: str, finer: str) -> str:
    """Why a backtest may charge less than live pays: its makers and twap slices are seen only at
    the closes of ``base`` bars, while the store holds ``finer`` ones live trades between ("" when
    every style is market, or nothing finer is stored)."""
    kinds = sorted({ex.style for ex in styles if ex.style != "market"})
    if not kinds or not finer or finer == base:
        return ""
    return (f"{' and '.join(kinds)} orders rest and trade inside {base} base bars, which the backtest sees only "
            f"at their closes; a finer base_bar (the store holds {finer} bars) prices them at the bars they trade in")
