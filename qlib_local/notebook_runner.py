"""One way to execute notebooks with papermill: kernels talk over Unix sockets, not TCP.

Jupyter's TCP transport picks kernel ports by binding port 0 and letting go; between that and
the kernel's own bind, any outgoing connection on the machine may take the same ephemeral
port, and the client then waits on a kernel that never answers. Cron-run live jobs beside a
collector and a local exchange are exactly that kind of busy machine. IPC sockets have no ports
to race for, and only this user can reach them.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import papermill as pm
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

IPC_DIR_ENV = "QLIB_LOCAL_KERNEL_DIR"


def _ipc_dir() -> Path:
    path = Path(os.environ.get(IPC_DIR_ENV) or Path(tempfile.gettempdir()) / f"qlib-kernels-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class IpcKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels listen on Unix sockets under a private folder."""

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    @default("ip")
    def _ip_default(self) -> str:
        return str(_ipc_dir() / uuid.uuid4().hex[:16])  # socket files are <ip>-<n>, removed at shutdown


def run_notebook(
    notebook: str | Path,
    output: str | Path,
    parameters: dict[str, Any] | None = None,
    cwd: str | Path | None = None,
    kernel_name: str = "python3",
    cell_timeout: float | None = None,
    log_output: bool = False,
    **kwargs: Any,
) -> Any:
    """papermill.execute_notebook over an IPC kernel; raises PapermillExecutionError on a failed cell."""
    return pm.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters or {},
        kernel_name=kernel_name,
        cwd=str(cwd) if cwd is not None else None,
        progress_bar=False,
        log_output=log_output,
        execution_timeout=cell_timeout,
        kernel_manager_class=IpcKernelManager,
        **kwargs,
    )
