"""User plugin files (``factors/*.py``, ``strategies/*.py``) and ``Name_p1_p2`` names.

Plugins live outside the package so researchers edit them without touching the
library; they are loaded from files (re-loaded when a file changes) and looked up by
name, freqtrade style.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from qlib_local.errors import QlibError

PLUGINS_ENV = "QLIB_LOCAL_PLUGINS"
_MODULES: dict[Path, tuple[float, ModuleType]] = {}


class PluginError(QlibError):
    """An unknown plugin name, bad parameters, or a plugin file that fails to import."""


def plugin_root(explicit: str | Path | None = None) -> Path:
    """The folder holding ``factors/`` and ``strategies/``: explicit, $QLIB_LOCAL_PLUGINS, or the repo."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get(PLUGINS_ENV):
        return Path(os.environ[PLUGINS_ENV])
    return Path(__file__).resolve().parents[2]


def parse_name(name: str) -> tuple[str, tuple[int | float | str, ...]]:
    """``SmaCross_20_60`` -> ``("SmaCross", (20, 60))``; numbers become int or float."""
    if not isinstance(name, str) or not name.strip():
        raise PluginError(f"invalid name {name!r}")
    base, *raw = name.strip().split("_")
    params: list[int | float | str] = []
    for p in raw:
        try:
            params.append(int(p))
        except ValueError:
            try:
                params.append(float(p))
            except ValueError:
                params.append(p)
    return base, tuple(params)


def load_module(path: Path) -> ModuleType:
    """Import a plugin file, again only when it changed since the last import."""
    path = path.resolve()
    mtime = path.stat().st_mtime
    cached = _MODULES.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    mod_name = f"qlib_plugins.{path.parent.name}.{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # a user file with a bug: say which file
        raise PluginError(f"plugin file {path} failed to import: {type(e).__name__}: {e}") from e
    _MODULES[path] = (mtime, module)
    return module


def plugin_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise PluginError(f"plugin folder {folder} does not exist")
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


@functools.lru_cache(maxsize=1024)
def _signature(target: Callable) -> inspect.Signature:
    """A plugin's signature, read once (a sweep binds the same plugin thousands of times)."""
    return inspect.signature(target)


def bind_params(name: str, target: Callable, params: tuple, skip: int) -> None:
    """Fail early, naming the parameters, when ``Name_p1_p2`` has the wrong arity."""
    sig = _signature(target)
    wanted = list(sig.parameters.values())[skip:]
    try:
        sig.bind(*([None] * skip), *params)
    except TypeError:
        names = ", ".join(p.name for p in wanted) or "none"
        raise PluginError(
            f"{name!r}: {parse_name(name)[0]} takes parameter(s) ({names}), got {len(params)}"
        ) from None
