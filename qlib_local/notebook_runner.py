"""One way to execute notebooks with papermill, hardened for unattended runs.

- Kernels talk over Unix sockets, not TCP. Jupyter's TCP transport picks kernel ports by binding
  port 0 and letting go; between that and the kernel's own bind, any outgoing connection on the
  machine may take the same port. IPC sockets have no ports to race for, and only this user can
  reach them.
- The client's channels wait in short slices. jupyter_client's async ``get_msg(timeout=None)``
  can miss the wake-up for a reply that has already arrived (seen here under load with
  ipywidgets cells: the kernel idle, the client waiting for ever; nbclient issue #312). A poll
  that times out looks at the socket again, so slicing the wait bounds that stall to
  ``POLL_SLICE_S`` instead of the cell timeout or forever.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path
from queue import Empty
from typing import Any

import papermill as pm
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type, default

IPC_DIR_ENV = "QLIB_LOCAL_KERNEL_DIR"
POLL_SLICE_S = 0.25


def _ipc_dir() -> Path:
    path = Path(os.environ.get(IPC_DIR_ENV) or Path(tempfile.gettempdir()) / f"qlib-kernels-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class SlicedPollChannel(AsyncZMQSocketChannel):
    """``get_msg`` that re-polls every ``POLL_SLICE_S`` until its own timeout (None: forever)."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else min(POLL_SLICE_S, max(0.0, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedPollKernelClient(AsyncKernelClient):
    shell_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    stdin_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    control_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]


class IpcKernelManager(AsyncKernelManager):
    """Kernels on Unix sockets under a private folder, driven by a sliced-poll client."""

    client_class = DottedObjectName("qlib_local.notebook_runner.SlicedPollKernelClient")

    @default("client_factory")
    def _client_factory_default(self) -> type:
        return SlicedPollKernelClient

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
