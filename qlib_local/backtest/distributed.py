"""The same sweep past one machine, on Ray (an optional extra: ``pip install qlib_local[ray]``).

``sweep_ray(plan, store, ...)`` is :func:`qlib_local.backtest.sweep.sweep` with its chunks
run as Ray tasks: per data group the shared inputs (market arrays, contract facts, margin
tiers) go into the object store ONCE and every task reads them from there; each task is
one chunk of combinations through the serial batch kernel (one CPU per task, so Ray's
scheduling is the parallelism). The driver computes signals chunk by chunk and keeps at
most ``in_flight`` chunks submitted, so memory stays bounded as in a local sweep. Results
are identical to a local run: the same kernel on the same arrays.

Workers must import the same ``qlib_local`` as the driver: a local instance started here
gets the driver's import path; a remote cluster needs qlib_local installed on its nodes.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qlib_local.backtest.batch import Chunk, SharedInputs, run_chunk
from qlib_local.backtest.sweep import DEFAULT_MEMORY_MB, SweepResult, sweep
from qlib_local.errors import QlibError

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
START_ATTEMPTS = 3


def _chunk_task(shared: SharedInputs, chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """One chunk on a worker: the serial kernel (the task holds one CPU)."""
    return chunk.ids, run_chunk(shared, chunk, parallel=False)[0]


def _ray():
    try:
        import ray
    except ImportError:
        raise QlibError("Ray is not installed: pip install 'qlib_local[ray]'") from None
    return ray


class RayExecutor:
    """Runs sweep chunks as Ray tasks; a context manager that shuts down an instance it started.

    ``address``: a running cluster (``"ray://host:10001"``, ``"auto"``); None starts a local
    instance with ``num_cpus`` CPUs. ``in_flight``: chunks submitted at once (default: the
    cluster's CPUs).
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, in_flight: int | None = None):
        self.ray = _ray()
        self.started = False
        if not self.ray.is_initialized():
            if address is None:
                self._start_local(num_cpus)
            else:
                self.ray.init(address=address, log_to_driver=False)
            self.started = True
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.in_flight = max(1, int(in_flight or cpus))
        self._task = self.ray.remote(num_cpus=1)(_chunk_task)

    def _start_local(self, num_cpus: int | None) -> None:
        """A local instance; Ray gives its raylet a fixed 30 s to register, which a loaded machine
        can miss, so startup is tried ``START_ATTEMPTS`` times before giving up in one error."""
        path = os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self.ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                              runtime_env={"env_vars": {"PYTHONPATH": path}})
                return
            except Exception as e:  # Ray raises a bare Exception on a startup timeout
                self.ray.shutdown()
                if attempt == START_ATTEMPTS:
                    raise QlibError(f"a local Ray instance did not start ({START_ATTEMPTS} attempts): {e}") from None

    def map(self, shared: SharedInputs, chunks: Iterator[Chunk]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ref = self.ray.put(shared)  # once per group: every task reads the same object
        pending: deque = deque()
        for c in chunks:
            pending.append(self._task.remote(ref, c))
            if len(pending) >= self.in_flight:
                yield self.ray.get(pending.popleft())
        while pending:
            yield self.ray.get(pending.popleft())

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sweep_ray(plan, store, start=None, end=None, funding=None, mark=None, memory_mb: float = DEFAULT_MEMORY_MB,
              address: str | None = None, num_cpus: int | None = None, in_flight: int | None = None,
              margin: bool = True) -> SweepResult:
    """:func:`~qlib_local.backtest.sweep.sweep` on Ray (see the module docstring)."""
    with RayExecutor(address, num_cpus, in_flight) as executor:
        return sweep(plan, store, start, end, funding=funding, mark=mark, memory_mb=memory_mb, executor=executor,
                     margin=margin)
