"""Perpetual-swap economics, defined once: contract value and PnL (linear and inverse),
funding cash flows, maintenance margin and liquidation.

The backtest kernels, the local exchanges and the live path all call these functions,
so a contract, a funding payment or a liquidation means the same number everywhere.
Every function here is a small numba kernel over scalars or arrays (usable from other
kernels) with no I/O; see ``docs/perpetuals.md`` for the formulas.
"""

from qlib_local.perp.contracts import (
    INVERSE,
    LINEAR,
    contract_type_code,
    contracts_for,
    funding_flow,
    pnl,
    unit_notional,
    unit_value,
)
from qlib_local.perp.funding import FUNDING_INTERVAL_MS, funding_times, is_funding_time
from qlib_local.perp.margin import (
    MarginTable,
    bankruptcy_equity,
    liquidation_price,
    maintenance_margin,
    maintenance_rate,
)

__all__ = [
    "FUNDING_INTERVAL_MS", "INVERSE", "LINEAR", "MarginTable", "bankruptcy_equity", "contract_type_code",
    "contracts_for", "funding_flow", "funding_times", "is_funding_time", "liquidation_price",
    "maintenance_margin", "maintenance_rate", "pnl", "unit_notional", "unit_value",
]
