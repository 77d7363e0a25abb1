"""Reading a YAML config: a missing file or bad YAML is one clear line, in the caller's error type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from qlib_local.errors import QlibError


def read_yaml(path: str | Path, error: type[QlibError], missing: str) -> Any:
    """Parsed YAML of ``path``; raises ``error(missing)`` when the file does not exist."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise error(missing) from None
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid YAML ({e})") from None
