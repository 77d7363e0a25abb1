"""Market data into the store: backfill (download), catch up (update), keep current (collect)."""

from qlib_local.marketdata.collector import Collector, CycleReport, exchange_clock
from qlib_local.marketdata.download import SeriesResult, download
from qlib_local.marketdata.needs import needed_series
from qlib_local.marketdata.repair import RepairResult, repair
from qlib_local.marketdata.retry import RetryPolicy
from qlib_local.marketdata.sources import VENUES, Source, VenueCaps
from qlib_local.marketdata.sync import advance_marker, sync
from qlib_local.marketdata.wait import behind, catch_up, wait_complete

__all__ = [
    "VENUES", "Collector", "CycleReport", "RepairResult", "RetryPolicy", "SeriesResult", "Source",
    "VenueCaps", "advance_marker", "behind", "catch_up", "download", "exchange_clock", "needed_series",
    "repair", "sync", "wait_complete",
]
