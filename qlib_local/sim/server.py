"""``LocalExchange``: the local OKX V5 exchange as a Python object, for tests and notebooks.

It owns the domain core (market data, accounts, matching), the replay clock, faults and
rate limits, and serves them with uvicorn on a loopback port from a background thread.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from qlib_local.errors import QlibError
from qlib_local.sim.accounts import USDT, Account
from qlib_local.sim.app import ResponseDropped, State, build_app
from qlib_local.sim.book import BookModel
from qlib_local.sim.clock import SimClock
from qlib_local.sim.faults import Faults
from qlib_local.sim.market import MarketData
from qlib_local.sim.matching import Engine, FeeModel
from qlib_local.sim.ratelimit import RateLimiter
from qlib_local.store import KlineStore
from qlib_local.timeframes import DAY_MS, to_ms

log = logging.getLogger(__name__)


class _HideDrops(logging.Filter):
    """Injected connection drops are intended; keep their tracebacks out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ResponseDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_HideDrops())


def check_loopback(host: str) -> None:
    """The simulator never listens beyond this machine."""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise QlibError(f"refusing to listen on {host}: the simulator serves loopback only (e.g. 127.0.0.1)")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one), so the port is ours before uvicorn starts."""
    check_loopback(host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A restart must not wait out TIME_WAIT of the last run's connections; Linux still refuses
    # a port that another socket is listening on, so "port in use" stays a real error.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise QlibError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def default_start(market: MarketData) -> int:
    """One day after the earliest first bar (so there is history), capped at the data's end."""
    firsts, lasts = [], []
    for i in market.inst_ids:
        s = market.series(i)
        if len(s.ts):
            firsts.append(int(s.ts[0]))
            lasts.append(int(s.ts[-1]) + s.base_ms)
    if not firsts:
        raise QlibError("no okx bars in the store")
    return min(min(firsts) + DAY_MS, max(lasts))


class LocalExchange:
    """A protocol-faithful local OKX V5 REST exchange over a K-line store.

    ``speed`` 0 (the default) keeps the clock still until you call ``clock.set`` or
    ``clock.advance``; ``speed`` 1 replays in real time from ``start``.
    """

    def __init__(
        self,
        root: str | Path | KlineStore,
        start: int | str | None = None,
        speed: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: bool = True,
        fees: FeeModel | None = None,
        exchange: str = "okx",
        funding_rate: float | None = None,
        book: BookModel | None = None,
    ):
        """``funding_rate``: the synthetic rate settled at every funding time the store has no rate for;
        ``book``: the order book model (default: no spread, unlimited depth, through by a tick)."""
        store = root if isinstance(root, KlineStore) else KlineStore(root)
        self.market = MarketData(store, exchange, funding_rate)
        if not self.market.inst_ids:
            raise QlibError(f"no {exchange} instruments in the store at {store.root}")
        self.clock = SimClock(to_ms(start) if start is not None else default_start(self.market), speed)
        self.engine = Engine(self.market, fees, start=self.clock.now_ms(), book=book)
        self.faults = Faults()
        self.limiter = RateLimiter(rate_limit)
        self.clock.subscribe(self.engine.sync)
        self.host, self.port = host, port
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = build_app(State(self.market, self.engine, self.clock, self.faults, self.limiter))

    # ------------------------------------------------------------ accounts
    def add_account(self, name: str, api_key: str, secret: str, passphrase: str, usdt: float | None = None,
                    simulated: bool | None = None, balances: Mapping[str, float] | None = None) -> Account:
        """A trading account with its own key and cash; ``simulated`` pins x-simulated-trading.

        ``usdt`` (default 10,000) funds the linear swaps; ``balances`` funds any currency an
        instrument settles in, e.g. ``{"BTC": 1.0}`` for BTC-USD-SWAP (USDT may be given in
        either place, not both)."""
        cash = dict(balances or {})
        if usdt is not None and USDT in cash:
            raise ValueError("USDT given twice: as usdt and in balances")
        if USDT not in cash:
            cash[USDT] = 10_000.0 if usdt is None else usdt
        return self.engine.add_account(Account(name, api_key, secret, passphrase, cash, simulated))

    @property
    def accounts(self) -> dict[str, Account]:
        """Accounts by name."""
        return {a.name: a for a in self.engine.accounts.values()}

    @property
    def rate_limit(self) -> bool:
        return self.limiter.enabled

    @rate_limit.setter
    def rate_limit(self, on: bool) -> None:
        self.limiter.enabled = bool(on)
        self.limiter.reset()

    # ------------------------------------------------------------ serving
    @property
    def url(self) -> str:
        if self._sock is None:
            raise RuntimeError("the exchange is not started")
        return f"http://{self.host}:{self.port}"

    def _config(self, log_level: str) -> uvicorn.Config:
        return uvicorn.Config(self.app, log_level=log_level, access_log=False, lifespan="off",
                              timeout_graceful_shutdown=1, timeout_keep_alive=30)

    def start(self, log_level: str = "warning") -> LocalExchange:
        """Serve from a background thread; returns once the port accepts connections."""
        if self._thread is not None:
            return self
        self._sock = bind_socket(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(self._config(log_level))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"okx-sim-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise QlibError("the local exchange did not start")
            time.sleep(0.01)
        return self

    def serve_forever(self, log_level: str = "info", on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until SIGINT/SIGTERM (uvicorn handles both cleanly).

        ``on_ready(url)`` runs once the port is bound, before serving starts.
        """
        self._sock = bind_socket(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(self._config(log_level))
        if on_ready is not None:
            on_ready(self.url)
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self._sock.close()
            self._sock = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._thread = self._server = None

    def __enter__(self) -> LocalExchange:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
