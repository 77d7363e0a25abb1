"""End to end: JupyterLab in headless Chromium runs configure.ipynb, a value is changed, Save writes the file.

Everything stays on 127.0.0.1: JupyterLab on a free port with a token, the system
Chromium (no browser download) driven by Playwright.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from tests_support import GUARD_S, REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
JUPYTER = Path(sys.executable).parent / "jupyter"
# nothing leaves 127.0.0.1: no news feed, no update check, no PyPI extension manager
LAB_CONFIG = """
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
c.LabApp.expose_app_in_browser = True
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook_copy(dest: Path, config: Path) -> None:
    """configure.ipynb with its parameters pointing at a private config (and no store)."""
    nb = json.loads((REPO / "notebooks" / "configure.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    cell["source"] = f'config_path = "{config}"\nsave_path = ""\ndata_root = "{dest / "no-store"}"\n' \
                     'preview_start = ""\nrun_preview = False\n'
    (dest / "configure.ipynb").write_text(json.dumps(nb))


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving tmp_path; yields (url, token)."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / ".lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / ".lab-workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / ".rt")}
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - closed at teardown
    conf = tmp_path / "lab_config.py"
    conf.write_text(LAB_CONFIG)
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         f"--config={conf}", *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + GUARD_S  # a deadlock guard: a busy machine starts Lab slowly
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=GUARD_S) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text())
            time.sleep(0.3)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=GUARD_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


GUARD_MS = GUARD_S * 1000  # Playwright's waits: deadlock guards only


def test_change_a_value_and_save_in_jupyterlab(tmp_path, lab):
    from playwright.sync_api import sync_playwright

    config = tmp_path / "strategies.yaml"
    shutil.copy(REPO / "strategies" / "example.yaml", config)
    notebook_copy(tmp_path, config)
    url, token = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/configure.ipynb?token={token}")
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=GUARD_MS)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=GUARD_MS)
            # wait for the kernel, then run every cell as Run > Run All Cells does
            page.wait_for_function(
                "() => { const w = window.jupyterapp.shell.currentWidget;"
                " return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
                " && w.sessionContext.session.kernel.connectionStatus === 'connected'; }", timeout=GUARD_MS)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            leverage = page.locator(".qlib-strategy-0 .qlib-leverage input")
            leverage.wait_for(timeout=GUARD_MS)
            assert leverage.input_value() == "2"
            leverage.fill("3.5")
            leverage.press("Tab")
            min_trade = page.locator(".qlib-account-min-trade input")  # the account's, inherited by both
            min_trade.fill("0.02")
            min_trade.press("Tab")
            base_bar = page.locator(".qlib-base-bar select")
            auto = base_bar.locator("option").first.inner_text().replace("\xa0", " ")  # ipywidgets' nbsp
            assert auto == "auto (1H)"  # what auto resolves to: the 1H strategy's bars
            base_bar.select_option("15m")
            page.locator("button.qlib-save").click()
            status = page.locator(".qlib-status")
            status.filter(has_text="saved").wait_for(timeout=GUARD_MS)
            assert f"saved 2 strategies to {config}" in status.inner_text()
        finally:
            browser.close()
    raw = yaml.safe_load(config.read_text())
    assert raw["strategies"][0]["leverage"] == 3.5
    assert raw["strategies"][1]["leverage"] == 1  # untouched
    assert raw["base_bar"] == "15m"
    assert raw["min_trade"] == 0.02 and not any("min_trade" in st for st in raw["strategies"])  # inherited
