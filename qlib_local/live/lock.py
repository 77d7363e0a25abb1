"""One run per account at a time: an OS file lock (released by the kernel if the holder dies)."""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from qlib_local.live.errors import LockHeld


class AccountLock:
    def __init__(self, directory: str | Path, account: str):
        self.path = Path(directory) / f".{account}.lock"
        self.account = account
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.path), timeout=0)

    def acquire(self) -> AccountLock:
        """Take the lock now or raise :class:`LockHeld` (never waits: a second run does nothing)."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            holder = ""
            info = self.path.with_suffix(".pid")
            if info.exists():
                holder = f" (pid {info.read_text().strip()})"
            raise LockHeld(f"another live run for account {self.account} is in progress{holder}; "
                           "this run does nothing") from None
        self.path.with_suffix(".pid").write_text(str(os.getpid()))
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()

    def __enter__(self) -> AccountLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
