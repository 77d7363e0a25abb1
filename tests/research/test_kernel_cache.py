"""The kernels' numba cache notices a change in the modules they compile in (not only their own file)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from qlib_local import specs
from qlib_local.perp import contracts, margin
from qlib_local.research import fills, kernels, styles
from qlib_local.research.fills import key_cache_on, sources_digest


def test_the_simulate_cache_key_carries_the_digest_of_fills_and_perp():
    codegen = kernels.simulate.targetctx.codegen()
    key = kernels.simulate._cache._index_key((), codegen)
    assert key[-1] == sources_digest([fills, styles, contracts, margin, specs])  # styles: the netting rule
    assert kernels.step_strategy._cache._index_key((), codegen)[-1] == key[-1]
    assert fills.fill_cost._cache._index_key((), codegen)[-1] == sources_digest([contracts])


def test_the_sweep_batch_kernels_key_on_the_backtest_kernels_they_call():
    from qlib_local.backtest import batch, metrics_nb

    codegen = batch.simulate_batch.targetctx.codegen()
    want = sources_digest([kernels, fills, contracts, margin, specs, metrics_nb])
    assert batch.simulate_batch._cache._index_key((), codegen)[-1] == want
    assert batch.simulate_batch_parallel._cache._index_key((), codegen)[-1] == want


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_a_changed_dependency_changes_the_key(tmp_path: Path):
    """A kernel module keyed on a helper module: edit only the helper, the kernel's key moves
    (numba alone would not see it: the kernel's own file and bytecode are unchanged)."""
    helper, user = tmp_path / "calib_helper.py", tmp_path / "calib_user.py"
    helper.write_text("from numba import njit\n@njit(cache=True)\ndef f(x):\n    return x + 1\n")
    user.write_text("from numba import njit\nfrom calib_helper import f\n@njit(cache=True)\ndef g(x):\n    return f(x)\n")
    sys.path.insert(0, str(tmp_path))
    keys = []
    try:
        for body in ("x + 1", "x + 2"):
            helper.write_text(helper.read_text().replace("x + 1", body))
            h, u = load("calib_helper", helper), load("calib_user", user)
            key_cache_on(vars(u), [h])
            keys.append(u.g._cache._index_key((), u.g.targetctx.codegen()))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("calib_helper", None)
        sys.modules.pop("calib_user", None)
    assert keys[0][:-1] == keys[1][:-1]  # numba's own key: the same
    assert keys[0][-1] != keys[1][-1]  # ours: the helper changed
