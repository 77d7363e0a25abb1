"""Contract specifications of perpetual swaps, kept beside the bars in the store.

``<root>/<exchange>/instruments.json`` maps instrument id to its spec. Sizing in contracts,
lot rounding and leverage caps all read from here, in research and live alike.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from qlib_local.errors import DataError

SPECS_FILE = "instruments.json"


@dataclass(frozen=True)
class InstrumentSpec:
    """An OKX-style linear USDT-margined swap."""

    inst_id: str
    ct_val: float = 1.0  # base currency per contract
    lot_sz: float = 1.0  # contracts
    min_sz: float = 1.0  # contracts
    tick_sz: float = 0.0001
    max_lever: float = 50.0
    ct_val_ccy: str = ""
    settle_ccy: str = "USDT"
    list_time_ms: int = 0

    @property
    def base_ccy(self) -> str:
        return self.ct_val_ccy or self.inst_id.split("-")[0]

    @property
    def uly(self) -> str:
        parts = self.inst_id.split("-")
        return "-".join(parts[:2]) if len(parts) >= 2 else self.inst_id

    def round_lots(self, contracts: float) -> float:
        """Round a contract count toward zero to the lot size (never oversize)."""
        lots = math.floor(abs(contracts) / self.lot_sz + 1e-9)
        return math.copysign(round(lots * self.lot_sz, 10), contracts) if lots else 0.0

    def round_price(self, price: float) -> float:
        return round(round(price / self.tick_sz) * self.tick_sz, 12)


def default_spec(inst_id: str) -> InstrumentSpec:
    return InstrumentSpec(inst_id=inst_id, ct_val_ccy=inst_id.split("-")[0])


def specs_path(root: str | Path, exchange: str) -> Path:
    return Path(root) / exchange / SPECS_FILE


def load_specs(root: str | Path, exchange: str) -> dict[str, InstrumentSpec]:
    """Specs of an exchange; an absent file means defaults for every instrument."""
    path = specs_path(root, exchange)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    known = {f.name for f in fields(InstrumentSpec)}
    out = {}
    for inst_id, d in raw.items():
        extra = set(d) - known
        if extra:
            raise DataError(f"{path}: {inst_id} has unknown field(s) {', '.join(sorted(extra))}")
        out[inst_id] = InstrumentSpec(**{**d, "inst_id": inst_id})
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
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(current, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return path
