"""notebooks/configure.ipynb runs headless under papermill: the form builds and previews."""

from __future__ import annotations

import json

from tests_support import REPO

from qlib_local.notebook_runner import run_notebook


def outputs_text(nb_path) -> str:
    nb = json.loads(nb_path.read_text())
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for key in ("text/plain", "text/html"):
                parts.append("".join(out.get("data", {}).get(key, "")))
    return "\n".join(parts)


def test_configure_notebook_executes_with_a_preview(example, hourly_root, tmp_path):
    out = tmp_path / "configure.out.ipynb"
    params = {"config_path": str(example), "data_root": str(hourly_root), "preview_start": "2025-01-10",
              "run_preview": True}
    run_notebook(REPO / "notebooks" / "configure.ipynb", out, params, cwd=tmp_path)
    text = outputs_text(out)
    assert f"editing {example}; preview store: {hourly_root}" in text
    assert "preview: 2025-01-10" in text
    assert "errors: none" in text
    nb = json.loads(out.read_text())
    widget_views = [o for c in nb["cells"] for o in c.get("outputs", [])
                    if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_views, "the builder form was displayed"
