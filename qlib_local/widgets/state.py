"""The strategies YAML as plain editable state, independent of any widget.

The builder edits these dataclasses; saving writes them back as the YAML the research
and live layers read, and loading that file gives back equal state (a round trip is what
makes "edit in widgets, run from cron" trustworthy). Top-level fields the builder does
not edit (``fees``, ``plugins``, ``funding``, ...)
are carried through untouched. ``execution`` blocks (the account's, each strategy's overrides),
``rebalance``/``min_trade`` (the account's, each strategy's own), ``base_bar`` and a wallet per
coin (``initial_equity: {BTC: 1}``) are edited.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from qlib_local.errors import QlibError
from qlib_local.research.config import DEFAULT_REBALANCE
from qlib_local.research.config_load import parse_base_bar, parse_rebalance
from qlib_local.research.execution import BOUNDS, FALLBACKS, FIELDS, SLICE_STYLES, STYLES
from qlib_local.research.plugins import parse_name
from qlib_local.yamlfile import read_yaml


class StateError(QlibError):
    """A strategies file the builder cannot represent."""


@dataclass
class StrategyState:
    """One strategy entry; ``params`` are the ``_p1_p2`` parts of the name, as typed."""

    kind: str = "timing"
    base: str = ""
    params: list[str] = field(default_factory=list)
    id: str = ""  # empty: the strategy name is the id
    rule_type: str = "1H"
    offset: str = "0h"
    position: float = 0.0
    leverage: float = 1.0
    # timing
    instruments: list[str] = field(default_factory=list)
    volatility_ratio: float = 1.0
    # event
    universe: list[str] | str = "all"
    hold_period: int = 1
    symbol_num_limit: int = 1
    factors: list[str] = field(default_factory=list)
    cross_sect_factor: str = ""
    rank_factor: str = ""
    ascending: bool = False
    side: str = "long"
    blacklist: list[str] = field(default_factory=list)
    execution: dict[str, Any] | None = None  # the fields it overrides of the account's block; None: inherit
    rebalance: str | None = None  # keep | resize as written; None: the account's (else the kind's default)
    min_trade: float | None = None  # as written; None: the account's

    @property
    def strategy_name(self) -> str:
        return "_".join([self.base, *[str(p).strip() for p in self.params]])

    @property
    def label(self) -> str:
        return self.id or self.strategy_name

    @classmethod
    def from_raw(cls, e: dict[str, Any]) -> StrategyState:
        if not isinstance(e, dict) or "strategy_name" not in e:
            raise StateError(f"strategy entry without strategy_name: {e!r}")
        base, params = parse_name(str(e["strategy_name"]))
        s = cls(kind=str(e.get("kind", "timing")), base=base, params=[_text(p) for p in params])
        for f in fields(cls):
            if f.name in e and f.name not in ("kind", "base", "params"):
                setattr(s, f.name, copy.deepcopy(e[f.name]))
        s.rebalance, s.min_trade = editable_rebalance(e, str(e["strategy_name"]))
        if "rebalance" in e and e["rebalance"] is None and s.kind in DEFAULT_REBALANCE:
            s.rebalance = DEFAULT_REBALANCE[s.kind]  # the loader reads a strategy's null as its kind's default
        s.execution = editable_execution(e.get("execution"), f"{e['strategy_name']}.execution")
        s.id = str(e["id"]) if e.get("id") is not None else ""
        s.offset = str(e.get("offset", "0h"))
        s.rule_type = str(e.get("rule_type", s.rule_type))
        for name in ("factors", "blacklist", "instruments"):
            v = getattr(s, name)
            setattr(s, name, [v] if isinstance(v, str) else list(v or []))
        s.cross_sect_factor = s.cross_sect_factor or ""
        s.rank_factor = s.rank_factor or ""
        return s

    def to_raw(self) -> dict[str, Any]:
        """The YAML entry, with the fields of its kind only (``max_cap_num`` = ``hold_period``)."""
        out: dict[str, Any] = {"strategy_name": self.strategy_name, "kind": self.kind}
        if self.id and self.id != self.strategy_name:
            out["id"] = self.id
        out.update(rule_type=self.rule_type, offset=self.offset, position=self.position, leverage=self.leverage)
        out.update(rebalance_raw(self.rebalance, self.min_trade))
        if self.execution is not None:
            out["execution"] = dict(self.execution)
        if self.kind == "timing":
            out.update(instruments=list(self.instruments), volatility_ratio=self.volatility_ratio)
            return out
        out.update(
            universe=self.universe if isinstance(self.universe, str) else list(self.universe),
            hold_period=self.hold_period, max_cap_num=self.hold_period, symbol_num_limit=self.symbol_num_limit,
            factors=list(self.factors),
        )
        if self.cross_sect_factor:
            out["cross_sect_factor"] = self.cross_sect_factor
        out.update(rank_factor=self.rank_factor or None, ascending=self.ascending, side=self.side,
                   blacklist=list(self.blacklist))
        return out


@dataclass
class ConfigState:
    strategies: list[StrategyState] = field(default_factory=list)
    exchange: str = "okx"
    initial_equity: float = 10_000.0
    blacklist: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # fees, plugins: carried through
    # a wallet per coin (COIN-M), as (coin, amount) rows in the form's order; None: one number
    wallets: list[tuple[str, float]] | None = None
    execution: dict[str, Any] | None = None  # the account's block as written; None: the defaults
    rebalance: str | None = None  # the account's, as written; None: each kind's default
    min_trade: float | None = None  # the account's, as written; None: 0
    base_bar: str = ""  # an exchange timeframe; empty: auto (the coarsest dividing every rule and offset)

    @classmethod
    def from_raw(cls, raw: Any) -> ConfigState:
        if not isinstance(raw, dict) or not isinstance(raw.get("strategies"), list):
            raise StateError("a strategies file needs a 'strategies' list")
        equity = raw.get("initial_equity", 10_000.0)
        wallets = None
        if isinstance(equity, dict):  # a wallet per coin (COIN-M)
            wallets = [(str(k), _amount(f"initial_equity.{k}", v)) for k, v in equity.items()]
            equity = wallets[0][1] if wallets else 10_000.0
        extra = {k: copy.deepcopy(v) for k, v in raw.items()
                 if k not in ("strategies", "exchange", "blacklist", "initial_equity", "execution", "base_bar",
                              *REBALANCE)}
        return cls([StrategyState.from_raw(e) for e in raw["strategies"]], str(raw.get("exchange", "okx")),
                   _amount("initial_equity", equity), list(raw.get("blacklist") or []), extra, wallets,
                   editable_execution(raw.get("execution"), "execution"), *editable_rebalance(raw, ""),
                   base_bar=editable_base_bar(raw.get("base_bar")))

    def to_raw(self) -> dict[str, Any]:
        equity: Any = self.initial_equity if self.wallets is None else dict(self.wallets)
        out: dict[str, Any] = {"exchange": self.exchange, "initial_equity": equity}
        if self.base_bar:
            out["base_bar"] = self.base_bar
        if self.execution is not None:
            out["execution"] = dict(self.execution)
        out.update(rebalance_raw(self.rebalance, self.min_trade))
        out.update(copy.deepcopy(self.extra))
        out["blacklist"] = list(self.blacklist)
        out["strategies"] = [s.to_raw() for s in self.strategies]
        return out


REBALANCE = ("rebalance", "min_trade")  # the account's and each strategy's (a strategy's wins)


def _text(p: Any) -> str:
    return str(p)


def _amount(where: str, v: Any) -> float:
    """A number the form can hold (range errors are the validator's, shown beside the input)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise StateError(f"{where}: expected a number, got {v!r}")
    return float(v)


def editable_execution(raw: Any, where: str) -> dict[str, Any] | None:
    """An ``execution`` block the form can show: known fields, numbers as numbers, a known style.
    Out-of-range numbers are kept (the validator flags them beside the input); what no widget
    can hold is refused at load rather than silently changed."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - FIELDS:
        raise StateError(f"{where}: expected a mapping of {', '.join(sorted(FIELDS))}, got {raw!r}")
    choices = {"style": STYLES, "fallback": FALLBACKS, "twap_slice_style": SLICE_STYLES}
    for k, v in raw.items():
        if k in choices and v not in choices[k]:
            raise StateError(f"{where}.{k}: must be one of {', '.join(choices[k])}, got {v!r}")
        if k in BOUNDS:
            _amount(f"{where}.{k}", v)
    return dict(raw)


def editable_rebalance(raw: dict[str, Any], where: str) -> tuple[str | None, float | None]:
    """``rebalance``/``min_trade`` as written, if the form can show them: a mode of the list (a
    dropdown holds no other), a number (its range is the validator's, flagged beside the input)."""
    at = f"{where}." if where else ""
    mode = parse_rebalance(f"{at}rebalance", raw.get("rebalance"), StateError)
    return mode, _amount(f"{at}min_trade", raw["min_trade"]) if "min_trade" in raw else None


def editable_base_bar(raw: Any) -> str:
    """``base_bar`` as the dropdown holds it: empty (auto) or an exchange timeframe by its canonical
    name (``1h`` reads as ``1H``, the loader's reading); another value no dropdown holds is refused."""
    return parse_base_bar(raw, StateError)


def rebalance_raw(rebalance: str | None, min_trade: float | None) -> dict[str, Any]:
    """The fields as written: only those set."""
    out: dict[str, Any] = {}
    if rebalance is not None:
        out["rebalance"] = rebalance
    if min_trade is not None:
        out["min_trade"] = min_trade
    return out


def load_state(path: str | Path) -> ConfigState:
    path = Path(path)
    raw = read_yaml(path, StateError, f"{path} does not exist")
    return ConfigState.from_raw(raw)


def dump_state(state: ConfigState) -> str:
    return yaml.safe_dump(state.to_raw(), sort_keys=False, default_flow_style=None, width=110)


def save_state(state: ConfigState, path: str | Path) -> Path:
    """Write atomically (write aside, rename): a cron job never reads half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("# written by the qlib-local strategy builder (notebooks/configure.ipynb)\n" + dump_state(state))
    tmp.replace(path)
    return path
