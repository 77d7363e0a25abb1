"""The runs index: one JSON line per run start and per run end, folded by run id.

Appending whole lines under a file lock keeps it readable whatever is killed when; a run
that started and never ended shows as ``killed`` once its process is gone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

INDEX = "index.jsonl"


def index_path(runs_dir: str | Path) -> Path:
    return Path(runs_dir) / INDEX


def append(runs_dir: str | Path, entry: dict[str, Any]) -> None:
    path = index_path(runs_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, default=str, sort_keys=True) + "\n"
    with FileLock(str(path) + ".lock", timeout=30), open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def read(runs_dir: str | Path) -> pd.DataFrame:
    """Runs, one row each (latest line wins per run id), oldest first."""
    path = index_path(runs_dir)
    cols = ["run_id", "account", "bar", "status", "exit_code", "started", "finished", "notebook", "error", "pid"]
    if not path.exists():
        return pd.DataFrame(columns=cols)
    runs: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        runs.setdefault(e["run_id"], {}).update(e)
    df = pd.DataFrame(list(runs.values())).reindex(columns=cols)
    running = df["status"].eq("running")
    dead = running & ~df["pid"].map(_alive)
    df.loc[dead, "status"] = "killed"
    return df.sort_values("started", kind="stable").reset_index(drop=True)
