"""Instrument specs from OKX's ``public/instruments`` (what sizing must respect right now)."""

from __future__ import annotations

from typing import Any

from qlib_local.specs import InstrumentSpec


def _f(row: dict[str, Any], key: str, default: float) -> float:
    try:
        return float(row.get(key) or default)
    except (TypeError, ValueError):
        return default


def spec_from_row(row: dict[str, Any]) -> InstrumentSpec:
    """ctVal, lotSz, minSz, tickSz and the maximum leverage of one SWAP row."""
    return InstrumentSpec(
        inst_id=row["instId"], ct_val=_f(row, "ctVal", 1.0), lot_sz=_f(row, "lotSz", 1.0),
        min_sz=_f(row, "minSz", 1.0), tick_sz=_f(row, "tickSz", 0.0001), max_lever=_f(row, "lever", 1.0),
        ct_val_ccy=str(row.get("ctValCcy") or ""), settle_ccy=str(row.get("settleCcy") or "USDT"),
        ct_type=str(row.get("ctType") or "linear"), list_time_ms=int(_f(row, "listTime", 0)),
    )


def live_swaps(rows: list[dict[str, Any]]) -> dict[str, InstrumentSpec]:
    """Specs of tradable (state ``live``) swaps, linear and inverse, by instrument id."""
    return {r["instId"]: spec_from_row(r) for r in rows
            if r.get("state", "live") == "live" and r.get("ctType", "linear") in ("linear", "inverse")}
