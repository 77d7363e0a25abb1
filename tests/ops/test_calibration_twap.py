"""The twap style's execution cost: the backtest's slice model beside paper runs through the live twap
style on the local exchanges (the real clients, the real ledger, the exchange's clock driven), over the
same replay: within the calibration's stated tolerance, for market and for maker_first slices."""

from __future__ import annotations

import pytest

from qlib_local.ops.calibration import VENUES, calibrate, demo_strategies, write_replay
from qlib_local.synth import SynthConfig
from qlib_local.timeframes import to_ms

START = to_ms("2025-01-10T00:00:00Z")
N_BARS = 12
DATA = SynthConfig(instruments=4, timeframe="1H", days=12, seed=11)
TWAP = {"style": "twap", "spread": 0.05, "twap_slices": 4, "twap_window_bars": 1}  # 15-minute slices


@pytest.fixture(scope="module", params=VENUES)
def venue_replay(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp(f"calib-twap-{request.param}") / "data"
    return root, write_replay(root, DATA, request.param), request.param


@pytest.mark.parametrize("slices", [{"twap_slice_style": "market"},
                                    {"twap_slice_style": "maker_first", "reprice_s": 600}], ids=["market", "maker"])
def test_twap_cost_of_backtest_and_paper_agree_within_the_tolerance(venue_replay, tmp_path, slices):
    root, insts, exchange = venue_replay
    r = calibrate(root, {**demo_strategies(insts, exchange), "execution": {**TWAP, **slices}}, START, N_BARS,
                  tmp_path / "w")
    assert r.style == "twap" and r.paper_bps is not None
    assert r.backtest_notional > 20_000 and r.paper_notional == pytest.approx(r.backtest_notional, rel=0.05)
    assert 5.0 < r.backtest_bps < 60.0  # fees and spread at least: it charges something
    assert r.within(), f"backtest {r.backtest_bps:.2f} bps vs paper {r.paper_bps:.2f} bps (ratio {r.ratio:.3f})"
