"""OKX V5 through python-okx: HTTP clients with error mapping and retries, specs, execution."""

from qlib_local.venues.okx.execution import OkxVenue
from qlib_local.venues.okx.http import OkxHttp, RetryPolicy

__all__ = ["OkxHttp", "OkxVenue", "RetryPolicy"]
