"""The research notebooks run headless under papermill on tiny synthetic data (03 runs in the CLI test)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from qlib_local.notebook_runner import run_notebook

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "strategies" / "example.yaml"
NOTEBOOKS = REPO / "notebooks" / "research"


@pytest.mark.parametrize("name, params", [
    ("01_data_explorer", {"timeframe": "4H", "bars": 50}),
    ("02_factor_research", {"factor": "Momentum_6", "horizon": 6, "timeframe": "4H"}),
    ("04_parameter_sweep", {"config": str(EXAMPLE),
                            "grid": {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10], "slow": [30, 60]},
                                                        "leverage": [1, 2]}}}),
    ("05_walk_forward", {"config": str(EXAMPLE), "train": "10d", "test": "5d",
                         "grid": {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10], "slow": [30, 60]}}}}),
])
def test_notebook_executes(name, params, hourly_root, tmp_path):
    src = NOTEBOOKS / f"{name}.ipynb"
    nb_in = nbformat.read(src, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb_in.cells)
    out = tmp_path / f"{name}.ipynb"
    run_notebook(src, out, {"root": str(hourly_root), **params}, cwd=tmp_path)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
