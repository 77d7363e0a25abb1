"""``qlib-local backtest``: result files, the executed report notebook, and one-line errors."""

from __future__ import annotations

import json

import nbformat
import pandas as pd

from qlib_local.cli.main import main


def test_backtest_cli_writes_results_and_report(hourly_root, tmp_path, example_raw, write_cfg, capsys):
    cfg = write_cfg(example_raw)
    out = tmp_path / "out"
    code = main(["backtest", str(cfg), "--root", str(hourly_root), "--start", "2025-01-05", "--out", str(out)])
    assert code == 0
    eq = pd.read_csv(out / "equity.csv", index_col="timestamp", parse_dates=True)
    assert list(eq.columns) == ["total", "SmaCross_20_60", "BtcBullAndCoinBull_21_55"]
    assert eq.index[0] == pd.Timestamp("2025-01-05 01:00", tz="UTC")
    assert (eq[["SmaCross_20_60", "BtcBullAndCoinBull_21_55"]].sum(axis=1) - eq["total"]).abs().max() < 1e-6
    orders = pd.read_csv(out / "orders.csv")
    assert {"timestamp", "instrument", "side", "contracts", "price", "fee"} <= set(orders.columns) and len(orders) > 10
    stats = json.loads((out / "stats.json").read_text())
    assert stats["account"]["end_value"] == eq["total"].iloc[-1]
    assert stats["account"]["orders"] == len(orders)
    nb = nbformat.read(out / "03_backtest.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)  # charts rendered
    assert "wrote" in capsys.readouterr().out


def test_backtest_cli_bad_config_is_one_line_error(hourly_root, tmp_path, example_raw, write_cfg, capsys):
    example_raw["strategies"][1]["max_cap_num"] = 2
    code = main(["backtest", str(write_cfg(example_raw)), "--root", str(hourly_root), "--out", str(tmp_path / "o"),
                 "--no-notebook"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: strategies[1]") and "max_cap_num" in err
    assert not (tmp_path / "o").exists()  # failed before any work


def test_backtest_cli_imports_vectorbt_only_for_trade_stats(hourly_root, tmp_path, example_raw, write_cfg):
    """vectorbt's import costs more than the backtest: only --trade-stats pays it."""
    import subprocess
    import sys

    cfg = write_cfg(example_raw)
    code = ("import sys\nfrom qlib_local.cli.main import main\n"
            "code = main(sys.argv[1:])\nprint('VECTORBT', 'vectorbt' in sys.modules, code)")
    for extra, loaded in (([], False), (["--trade-stats"], True)):
        out = tmp_path / f"o{int(loaded)}"
        proc = subprocess.run([sys.executable, "-c", code, "backtest", str(cfg), "--root", str(hourly_root),
                               "--start", "2025-03-20", "--out", str(out), "--no-notebook", *extra],
                              capture_output=True, text=True, check=True)
        assert f"VECTORBT {loaded} 0" in proc.stdout
        assert ("trades" in json.loads((out / "stats.json").read_text())["account"]) is loaded
