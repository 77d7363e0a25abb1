"""Which (instrument, base timeframe) series the configured strategies need, and which
stored series keeps each one current.

One base per instrument, the finest any strategy trading it needs, so every strategy's
(rule, offset) view resamples from the same stored bars. ``universe: all`` means every
instrument the exchange lists, which is why a listing callable can be passed in. When the
store already keeps a finer series of an instrument (say 1m from ``data synth``), that
series is extended instead of a coarser one being started beside it (:func:`kept_timeframe`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from qlib_local.store import KlineStore, default_root
from qlib_local.timeframes import EXCHANGE_TIMEFRAMES, base_timeframe, finest_timeframe, normalize_timeframe

if TYPE_CHECKING:
    from qlib_local.research.config import ResearchConfig


class _Listing:
    """Stands in for a store when the config loader expands ``universe: all``: the
    exchange's listing, not what happens to be stored yet, is the universe to collect."""

    def __init__(self, root: Path, list_instruments: Callable[[], Iterable[str]]):
        self.root = root
        self._list = list_instruments

    def instruments(self, exchange: str, timeframe: str | None = None) -> list[str]:
        return sorted(self._list())


def load_strategies(
    config_path: str | Path,
    list_instruments: Callable[[], Iterable[str]] | None = None,
    root: str | Path | None = None,
    list_specs: Callable[[list[str]], dict] | None = None,
):
    """The research config, ``all`` expanded from the exchange listing when given.

    ``list_specs``: the listed instruments' specs (``Source.specs``), over the store's own, so an
    instrument never stored yet is judged by its real contract (linear or inverse, its coin); give
    it with a listing of both kinds, or ``universe: all`` cannot tell them apart.
    """
    from qlib_local.research.config_load import load_config
    from qlib_local.specs import load_specs

    store, specs_of = None, None
    if list_instruments is not None:
        listing = _Listing(Path(root) if root is not None else default_root(), list_instruments)
        store = listing
        if list_specs is not None:
            def specs_of(exchange: str) -> dict:
                return {**load_specs(listing.root, exchange), **list_specs(listing.instruments(exchange))}
    elif root is not None and Path(root).is_dir():
        store = KlineStore(root)
    return load_config(config_path, store=store, specs_of=specs_of)


def base_by_instrument(cfg: ResearchConfig) -> dict[str, str]:
    """The one base timeframe stored per instrument: the finest any strategy needs.

    The collector fetches and marks exactly these series and live jobs wait on exactly these
    markers, so the two can never disagree about what "complete" means.
    """
    bases: dict[str, list[str]] = {}
    for s in cfg.strategies:
        base = base_timeframe(s.rule_type, s.offset)
        for inst in s.instruments:
            bases.setdefault(inst, []).append(base)
            if cfg.base_bar:  # the account's bar for its fills: every instrument it trades needs it
                bases[inst].append(cfg.base_bar)
    return {inst: finest_timeframe(tfs) for inst, tfs in bases.items()}


def kept_timeframe(store: KlineStore, exchange: str, instrument: str, timeframe: str) -> str:
    """The stored series that keeps ``timeframe`` bars of an instrument current.

    That series itself if it is stored; else the finest stored exchange timeframe dividing
    it (extended, not joined by a coarser series); else ``timeframe`` (a new series). The
    collector, ``data update`` and a live job's own fetch write it, and live jobs wait on its
    marker, so they always agree on what "complete" means.
    """
    tf = normalize_timeframe(timeframe)
    stored = store.timeframes(exchange, instrument)
    if tf in stored:
        return tf
    rule_ms = EXCHANGE_TIMEFRAMES.get(tf) or 0
    finer = [t for t in stored if t in EXCHANGE_TIMEFRAMES and rule_ms and rule_ms % EXCHANGE_TIMEFRAMES[t] == 0]
    return finer[0] if finer else tf


def needed_series(
    config_path: str | Path,
    list_instruments: Callable[[], Iterable[str]] | None = None,
    root: str | Path | None = None,
) -> set[tuple[str, str]]:
    """{(instrument, base timeframe)} over all strategies of the config."""
    return set(base_by_instrument(load_strategies(config_path, list_instruments, root)).items())


def config_exchange(config_path: str | Path) -> str | None:
    """The ``exchange:`` a config names (without validating the rest), if any."""
    import yaml

    try:
        raw = yaml.safe_load(Path(config_path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return str(raw["exchange"]) if isinstance(raw, dict) and raw.get("exchange") else None
