"""Linear and inverse contract arithmetic against hand-computed cases."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlib_local.perp import (
    INVERSE,
    LINEAR,
    contract_type_code,
    contracts_for,
    funding_flow,
    pnl,
    unit_notional,
    unit_value,
)


def test_linear_pnl_by_hand():
    # 3 contracts of 0.01 BTC from 60,000 to 61,000: 3 * 0.01 * 1,000 = 30 USDT
    assert pnl(3.0, 60_000.0, 61_000.0, 0.01, LINEAR) == pytest.approx(30.0)
    assert pnl(-3.0, 60_000.0, 61_000.0, 0.01, LINEAR) == pytest.approx(-30.0)


def test_inverse_pnl_by_hand():
    # 10 contracts of 100 USD from 50,000 to 55,000: 1,000 * (1/50,000 - 1/55,000) BTC
    assert pnl(10.0, 50_000.0, 55_000.0, 100.0, INVERSE) == pytest.approx(1_000 * (1 / 50_000 - 1 / 55_000))
    assert pnl(10.0, 50_000.0, 55_000.0, 100.0, INVERSE) == pytest.approx(1_000 * 5_000 / (50_000 * 55_000), rel=1e-12)
    # a short loses more coin on a rise than a long gains
    assert -pnl(-10.0, 50_000.0, 55_000.0, 100.0, INVERSE) == pytest.approx(1_000 * 5_000 / (50_000 * 55_000), rel=1e-12)


def test_inverse_sizing_matches_the_issue_formula():
    # contracts = floor(equity_coin * price * leverage * vol_ratio / ctVal) = 1 * 50,000 * 2 / 100
    assert contracts_for(1.0 * 2, 50_000.0, 100.0, INVERSE) == pytest.approx(1_000.0)
    # linear: floor(equity * leverage / (price * ctVal)) = 10,000 * 2 / (50,000 * 0.01)
    assert contracts_for(10_000.0 * 2, 50_000.0, 0.01, LINEAR) == pytest.approx(40.0)


def test_funding_by_hand():
    # inverse: 1,000 contracts long at mark 50,000 = 2 BTC notional; rate 0.01% -> pays 0.0002 BTC
    assert funding_flow(1_000.0, 50_000.0, 0.0001, 100.0, INVERSE) == pytest.approx(-0.0002)
    assert funding_flow(-1_000.0, 50_000.0, 0.0001, 100.0, INVERSE) == pytest.approx(0.0002)
    # linear: a short of 5 x 0.1 ETH at 3,000 with a negative rate pays 1,500 * 0.0003 = 0.45 USDT
    assert funding_flow(-5.0, 3_000.0, -0.0003, 0.1, LINEAR) == pytest.approx(-0.45)


def test_contract_type_codes():
    assert contract_type_code("linear") == LINEAR and contract_type_code("inverse") == INVERSE
    with pytest.raises(ValueError, match="linear or inverse"):
        contract_type_code("quanto")


prices = st.floats(min_value=1e-4, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(q=st.floats(-1e5, 1e5), a=prices, b=prices, c=prices, ct=st.sampled_from([0.001, 0.01, 1.0, 10.0, 100.0]),
       kind=st.sampled_from([LINEAR, INVERSE]))
def test_pnl_is_additive_over_a_path(q, a, b, c, ct, kind):
    """Marking to market bar by bar sums to the round trip's PnL (what the kernels rely on)."""
    whole = pnl(q, a, c, ct, kind)
    scale = abs(q) * sum(abs(unit_value(x, ct, kind)) for x in (a, b, c))  # float error grows with the legs
    assert pnl(q, a, b, ct, kind) + pnl(q, b, c, ct, kind) == pytest.approx(whole, rel=1e-9, abs=1e-12 * scale + 1e-12)


@given(p=prices, ct=st.sampled_from([0.01, 1.0, 100.0]), kind=st.sampled_from([LINEAR, INVERSE]))
def test_sizing_inverts_notional(p, ct, kind):
    n = contracts_for(1234.5, p, ct, kind)
    assert math.isclose(n * unit_notional(p, ct, kind), 1234.5, rel_tol=1e-12)


def test_specs_carry_contract_type_and_margin_and_refuse_insane_values(tmp_path):
    from qlib_local.errors import DataError
    from qlib_local.specs import InstrumentSpec, load_specs, save_specs, specs_path

    inv = InstrumentSpec("BTC-USD-SWAP", ct_val=100, ct_type="inverse", settle_ccy="BTC", ct_val_ccy="USD",
                         mm_tiers=((100_000.0, 0.004), (math.inf, 0.01)))
    save_specs(tmp_path, "okx", {inv.inst_id: inv})
    back = load_specs(tmp_path, "okx")["BTC-USD-SWAP"]
    assert back == inv and back.inverse and back.base_ccy == "BTC" and back.ct_type_code == INVERSE
    assert "Infinity" not in specs_path(tmp_path, "okx").read_text()  # strict JSON on disk
    for bad in ({"ct_val": float("nan")}, {"lot_sz": 0}, {"max_lever": float("inf")}, {"mmr": 0.9},
                {"ct_type": "quanto"}, {"mm_tiers": [[100, 0.01], [50, 0.02]]}):
        specs_path(tmp_path, "okx").write_text(__import__("json").dumps({"X-USDT-SWAP": bad}))
        with pytest.raises(DataError, match="X-USDT-SWAP"):
            load_specs(tmp_path, "okx")
