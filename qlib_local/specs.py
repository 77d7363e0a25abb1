"""Contract specifications of perpetual swaps, kept beside the bars in the store.

``<root>/<exchange>/instruments.json`` maps instrument id to its spec. Sizing in contracts,
lot rounding and leverage caps all read from here, in research and live alike.
"""

from __future__ import annotations

import json
import math
import os
import sys
import uuid
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from qlib_local.errors import DataError
from qlib_local.perp.contracts import INVERSE, LINEAR
from qlib_local.perp.margin import DEFAULT_LIQ_FEE, DEFAULT_MMR, MarginTable
from qlib_local.timeframes import HOUR_MS

SPECS_FILE = "instruments.json"
# Float spacings of slack when deciding that a quotient x / lot IS a whole lot count: x
# itself carries a few roundings (a product of prices, a difference of positions), and a
# fixed absolute slack is below float resolution once x / lot passes about 1e7.
LOT_ULPS = 8.0
_EPS = sys.float_info.epsilon
_EXACT = 2.0**52  # from here on every float is a whole number


def lot_count(x: float, lot: float, scale: float = 0.0) -> float:
    """Whole lots in ``x >= 0``, rounded down, exact at any size.

    A quotient within ``LOT_ULPS`` float spacings of a whole count is that count; the
    spacing is taken at the larger of ``x`` and ``scale`` (pass the magnitude ``x`` was
    computed from when it is a difference, e.g. target minus position).
    """
    q = x / lot
    if q >= _EXACT:
        return q
    n = float(math.floor(q + 0.5))
    if abs(q - n) <= LOT_ULPS * _EPS * max(q, scale / lot, 1.0):
        return n
    return float(math.floor(q))


def lots_to_contracts(n: float, lot: float) -> float:
    """``n`` lots in contracts, as the float nearest the decimal value (55439717 x 0.001 = 55439.717)."""
    if lot < 1.0:
        per_contract = float(math.floor(1.0 / lot + 0.5))
        if abs(per_contract * lot - 1.0) <= 4 * _EPS:  # decimal lots (0.1, 0.001): divide, correctly rounded
            return n / per_contract
    return n * lot


def floor_to_lot(contracts: float, lot: float, scale: float = 0.0) -> float:
    """Contracts rounded toward zero to a lot multiple (never oversize), exact at any size."""
    if not abs(contracts) > 0:
        return 0.0
    n = lot_count(abs(contracts), lot, max(scale, abs(contracts)))
    return math.copysign(lots_to_contracts(n, lot), contracts) if n else 0.0


_RANGES = (  # (field, exclusive lower bound, inclusive upper bound): what a sane venue publishes
    ("ct_val", 0.0, 1e9), ("lot_sz", 0.0, 1e9), ("min_sz", 0.0, 1e12), ("tick_sz", 0.0, 1e9),
    ("max_lever", 0.0, 1000.0), ("mmr", -1e-12, 0.5), ("liq_fee", -1e-12, 0.1), ("funding_interval_h", 0.0, 24.0 * 7),
)


@dataclass(frozen=True)
class InstrumentSpec:
    """A perpetual swap: linear (USDT-margined, ``ct_val`` coins a contract) or inverse
    (coin-margined, ``ct_val`` USD a contract, settled in ``settle_ccy``)."""

    inst_id: str
    ct_val: float = 1.0  # base currency per contract (linear) or USD per contract (inverse)
    lot_sz: float = 1.0  # contracts
    min_sz: float = 1.0  # contracts
    tick_sz: float = 0.0001
    max_lever: float = 50.0
    ct_val_ccy: str = ""
    settle_ccy: str = "USDT"
    list_time_ms: int = 0
    ct_type: str = "linear"  # linear | inverse
    mmr: float = DEFAULT_MMR  # flat maintenance margin rate (used when mm_tiers is empty)
    mm_tiers: tuple[tuple[float, float], ...] = ()  # ((max notional in settle ccy, mmr), ...) ascending
    liq_fee: float = DEFAULT_LIQ_FEE  # liquidation fee on the closed notional
    funding_interval_h: float = 8.0  # funding settles every this many hours, epoch-aligned
    min_notional: float = 0.0  # linear: an opening order under this notional (settle ccy) is refused; 0: none

    def __post_init__(self) -> None:
        if self.ct_type not in ("linear", "inverse"):
            raise DataError(f"{self.inst_id}: ct_type must be linear or inverse, got {self.ct_type!r}")
        if self.mm_tiers:
            tiers = tuple((math.inf if b is None else float(b), float(r)) for b, r in self.mm_tiers)
            object.__setattr__(self, "mm_tiers", tiers)
        for name, lo, hi in _RANGES:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and lo < v <= hi):
                raise DataError(f"{self.inst_id}: {name} must be a finite number in ({lo:g}, {hi:g}], got {v!r}")
        v = self.min_notional
        if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and 0 <= v <= 1e12):
            raise DataError(f"{self.inst_id}: min_notional must be a finite number in [0, 1e12], got {v!r}")
        try:
            self.margin_table  # noqa: B018 - validates the tiers
        except ValueError as e:
            raise DataError(f"{self.inst_id}: mm_tiers: {e}") from None

    @property
    def inverse(self) -> bool:
        return self.ct_type == "inverse"

    @property
    def ct_type_code(self) -> int:
        return INVERSE if self.inverse else LINEAR

    @property
    def margin_table(self) -> MarginTable:
        return MarginTable.build(self.mm_tiers, self.mmr)

    @property
    def funding_interval_ms(self) -> int:
        return int(round(self.funding_interval_h * HOUR_MS))

    @property
    def base_ccy(self) -> str:
        if self.inverse:
            return self.settle_ccy
        return self.ct_val_ccy or self.inst_id.split("-")[0]

    @property
    def uly(self) -> str:
        parts = self.inst_id.split("-")
        return "-".join(parts[:2]) if len(parts) >= 2 else self.inst_id

    def round_lots(self, contracts: float) -> float:
        """Round a contract count toward zero to the lot size (never oversize), exact at any size."""
        return floor_to_lot(contracts, self.lot_sz)

    def round_price(self, price: float) -> float:
        return round(round(price / self.tick_sz) * self.tick_sz, 12)


def default_spec(inst_id: str) -> InstrumentSpec:
    return InstrumentSpec(inst_id=inst_id, ct_val_ccy=inst_id.split("-")[0])


def specs_path(root: str | Path, exchange: str) -> Path:
    return Path(root) / exchange / SPECS_FILE


_PARSED: dict[Path, tuple[str, dict[str, InstrumentSpec]]] = {}


def load_specs(root: str | Path, exchange: str) -> dict[str, InstrumentSpec]:
    """Specs of an exchange; an absent file means defaults for every instrument.

    The file is read every time but parsed and validated again only when its text changed: a
    sweep validates thousands of configs against the same file. Specs are frozen, so each
    caller gets its own dict of the same validated specs.
    """
    path = specs_path(root, exchange)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == text:
        return dict(cached[1])
    out = _parse_specs(path, text)
    _PARSED[path] = (text, out)
    return dict(out)


def _parse_specs(path: Path, text: str) -> dict[str, InstrumentSpec]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    known = {f.name for f in fields(InstrumentSpec)}
    out = {}
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a mapping of instrument id to spec")
    for inst_id, d in raw.items():
        if not isinstance(d, dict):
            raise DataError(f"{path}: {inst_id}: expected a mapping of spec fields")
        extra = set(d) - known
        if extra:
            raise DataError(f"{path}: {inst_id} has unknown field(s) {', '.join(sorted(extra))}")
        try:
            out[inst_id] = InstrumentSpec(**{**d, "inst_id": inst_id})
        except (DataError, TypeError, ValueError) as e:
            raise DataError(f"{path}: {e}") from None
    return out


def spec_for(specs: dict[str, InstrumentSpec], inst_id: str) -> InstrumentSpec:
    return specs.get(inst_id) or default_spec(inst_id)


def save_specs(root: str | Path, exchange: str, specs: dict[str, InstrumentSpec]) -> Path:
    """Merge into the exchange's specs file (atomic)."""
    path = specs_path(root, exchange)
    path.parent.mkdir(parents=True, exist_ok=True)
    current = {k: asdict(v) for k, v in load_specs(root, exchange).items()}
    current.update({k: asdict(v) for k, v in specs.items()})
    for d in current.values():
        d.pop("inst_id", None)
        d["mm_tiers"] = [[None if math.isinf(b) else b, r] for b, r in d["mm_tiers"]]  # strict JSON
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(current, indent=1, sort_keys=True, allow_nan=False))
    os.replace(tmp, path)
    return path
