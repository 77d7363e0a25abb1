"""Synthetic swaps under Binance's names and contract conventions (``data synth --exchange binance*``).

The generator makes OKX-style linear swaps (``BTC-USDT-SWAP``); a Binance store needs its own
symbols and lots, or the local Binance exchange and a live run would trade contracts that do
not exist there. USDⓈ-M: ``BTCUSDT``, one coin a contract, the same lots in coins. COIN-M:
``BTCUSD_PERP``, inverse, 100 USD a contract for BTC and 10 USD for every other coin, settled
in the coin, candles of the linear sibling with their own small basis.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from qlib_local import synth_perp
from qlib_local.specs import InstrumentSpec

EXCHANGES = ("binanceusdm", "binancecoinm")


def usd_per_contract(coin: str) -> float:
    return 100.0 if coin == "BTC" else 10.0


def rename(bars: dict[str, pd.DataFrame], specs: dict[str, InstrumentSpec], exchange: str, seed: int
           ) -> tuple[dict[str, pd.DataFrame], dict[str, InstrumentSpec]]:
    """The generator's linear swaps as ``exchange``'s perpetuals (other exchanges: unchanged)."""
    if exchange not in EXCHANGES:
        return bars, specs
    out_bars, out_specs = {}, {}
    for i, (inst, df) in enumerate(bars.items()):
        spec = specs[inst]
        if spec.inverse:  # the generator's own inverse swaps (--inverse) have no Binance name here
            continue
        coin = inst.split("-")[0]
        if exchange == "binanceusdm":
            sym, ct = f"{coin}USDT", spec.ct_val
            out_bars[sym] = df
            out_specs[sym] = replace(spec, inst_id=sym, ct_val=1.0, lot_sz=round(spec.lot_sz * ct, 12),
                                     min_sz=round(spec.min_sz * ct, 12))
            continue
        sym = f"{coin}USD_PERP"
        out_bars[sym] = synth_perp.inverse_bars(df, spec.tick_sz, np.random.default_rng([seed, 3_000_017, i]))
        price = float(out_bars[sym]["close"].iloc[0])
        out_specs[sym] = InstrumentSpec(
            sym, ct_val=usd_per_contract(coin), lot_sz=1.0, min_sz=1.0, tick_sz=spec.tick_sz,
            max_lever=spec.max_lever, ct_val_ccy="USD", settle_ccy=coin, ct_type="inverse",
            mmr=synth_perp.first_tier_rate(spec.max_lever),
            mm_tiers=synth_perp.margin_tiers(coin, spec.max_lever, usd_per_unit=price),
        )
    return out_bars, out_specs
