"""The local K-line store (Parquet)."""

from qlib_local.store.kline_store import COLUMNS, ROOT_ENV, KlineStore, default_root
from qlib_local.store.parquet_io import StoreFileError
from qlib_local.store.resample import resample_frame

__all__ = ["COLUMNS", "ROOT_ENV", "KlineStore", "StoreFileError", "default_root", "resample_frame"]
