"""OKX V5 through python-okx: HTTP clients with error mapping and retries, specs, the venue port.

The clients load on first use (``qlib_local.venues.okx.caps`` is plain data, read by the
registry when an account is checked, long before a run connects).
"""

from __future__ import annotations

from typing import Any

__all__ = ["OkxHttp", "OkxVenue", "RetryPolicy", "open_okx"]


def __getattr__(name: str) -> Any:
    if name == "OkxHttp":
        from qlib_local.venues.okx.http import OkxHttp

        return OkxHttp
    if name in ("OkxVenue", "open_okx"):
        from qlib_local.venues.okx import adapter

        return getattr(adapter, name)
    if name == "RetryPolicy":
        from qlib_local.live.retry import RetryPolicy

        return RetryPolicy
    raise AttributeError(name)
