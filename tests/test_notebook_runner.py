"""The project's one papermill entry point: IPC kernels, and widget cells that complete."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from tests_support import GUARD_S

from qlib_local.notebook_runner import run_notebook


def test_widget_notebook_runs_on_an_ipc_kernel(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell("value = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import ipywidgets as w\nw.VBox([w.IntSlider(value=value), w.Dropdown(options=['a', 'b'])])"
        ),
        nbformat.v4.new_code_cell(
            "import json\nfrom ipykernel import get_connection_info\nprint(json.loads(get_connection_info())['transport'])"
        ),
        nbformat.v4.new_code_cell("print('done', value)"),
    ]
    src, out = tmp_path / "w.ipynb", tmp_path / "w.out.ipynb"
    nbformat.write(nb, src)
    # a missed reply would sit until the cell timeout and fail the run with CellTimeoutError (the
    # sliced poll looks again every 0.25 s); the timeout itself is only a deadlock guard
    run_notebook(src, out, {"value": 7}, cwd=tmp_path, cell_timeout=GUARD_S)
    result = json.loads(out.read_text())
    texts = ["".join(o.get("text", "")) for c in result["cells"] for o in c.get("outputs", [])]
    assert "ipc\n" in texts  # no TCP ports to race for
    assert "done 7\n" in texts
    widgets = [
        o
        for c in result["cells"]
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets
