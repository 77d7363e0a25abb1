"""Live-path fixtures: an hourly synthetic store, the local exchange, an accounts file, fake secrets.

Every fixture here is parametrized by ``kit``, one per venue with a local exchange
(``tests/venue_kits.py``): the tests use the venue port, the account config and ``insts``,
never a venue's name, so they run unchanged on each. A kit with ``every_test`` False (the
coin-margined one, for the suite's time) runs only the tests marked ``every_kit``: those that
exercise money, sizing, settlement, parity or recovery; its runs trade BTC only (an account
settles in one currency).
"""

from __future__ import annotations

import secrets as _secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from tests_support import GUARD_S
from venue_kits import LOCAL_KITS, VenueKit

from qlib_local.live.accounts import AccountSecrets, Secret, load_account
from qlib_local.live.retry import RetryPolicy
from qlib_local.live.venue import Venue
from qlib_local.specs import save_specs
from qlib_local.store import KlineStore
from qlib_local.synth import SynthConfig, generate
from qlib_local.timeframes import HOUR_MS, to_ms
from qlib_local.venues.registry import open_venue

COINS = ("BTC", "ETH", "SOL", "XRP")  # the synthetic store's four swaps
START = "2025-01-10T00:00:00Z"  # nine days of hourly history behind, sixteen ahead
ACCOUNT = "alice"
DATA = SynthConfig(instruments=4, timeframe="1H", days=25, seed=11)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "every_kit: runs on every venue kit, the coin-margined one too")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) the live tests a partial kit does not run."""
    here = Path(__file__).parent
    keep, drop = [], []
    for item in items:
        kit = getattr(getattr(item, "callspec", None), "params", {}).get("kit")
        partial = isinstance(kit, VenueKit) and not kit.every_test and here in Path(str(item.path)).parents
        (drop if partial and item.get_closest_marker("every_kit") is None else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=LOCAL_KITS, ids=str)
def kit(request: pytest.FixtureRequest) -> VenueKit:
    """The venue under test (one run of every live test per venue with a local exchange)."""
    return request.param


@pytest.fixture(scope="session")
def insts(kit: VenueKit) -> SimpleNamespace:
    """The venue's ids of the store's swaps: ``insts.BTC``, ``insts.ETH``, ..."""
    return SimpleNamespace(**{c: kit.inst(c) for c in COINS})


def start_prices(cfg: SynthConfig = DATA) -> dict[str, float]:
    """Each coin's last close before START (what a coin-margined account's funds and tiers use)."""
    return {i.split("-")[0]: float(df["close"][df.index < pd.Timestamp(START)].iloc[-1])
            for i, df in generate(cfg)[0].items()}


@pytest.fixture(scope="session")
def q(kit: VenueKit) -> Callable[[str, float], float]:
    """The venue's quantity of ``n`` of the generator's contracts of ``inst``: the same on OKX, the
    coins they are where a contract is one coin (Binance USDⓈ-M), whole USD contracts of about the
    same notional on a coin-margined venue, so a test's order is about the same money."""
    specs, px = generate(DATA)[1], start_prices()
    by_inst = {kit.rename(i): sp for i, sp in specs.items()}
    return lambda inst, n: kit.quantity(by_inst[inst], px[by_inst[inst].inst_id.split("-")[0]], n)


def strategies_config(kit: VenueKit) -> dict:
    """Two strategies, both hourly: a timing one on BTC/ETH, an event one rolling 2 tranches (on a
    coin-margined venue both on BTC, in BTC: an account settles in one currency)."""
    btc, eth, sol, xrp = (kit.inst(c) for c in COINS)
    if kit.inverse:
        eth = sol = xrp = btc
    return {
        "exchange": kit.exchange, "initial_equity": kit.funds(10_000, start_prices()).get("balances", {}).get("BTC", 10_000),
        "fees": {"taker": 0.0005, "maker": 0.0002, "slippage": 0.0},
        "strategies": [
            {"strategy_name": "SmaCross_5_10", "kind": "timing", "instruments": sorted({btc, eth}), "rule_type": "1H",
             "offset": "0h", "position": 0.5, "leverage": 2, "volatility_ratio": 1.0},
            {"strategy_name": "RankOnly", "kind": "event", "universe": sorted({btc, eth, sol, xrp}), "rule_type": "1H",
             "position": 0.4, "leverage": 1, "hold_period": 2, "max_cap_num": 2,
             "symbol_num_limit": 1 if kit.inverse else 2,
             "rank_factor": "QuoteVolumeMean_3", "side": "long"},
        ],
    }


@pytest.fixture(scope="session")
def live_root(tmp_path_factory: pytest.TempPathFactory, kit: VenueKit) -> Path:
    """Four swaps, 25 days of 1H bars from 2025-01-01, every series marked complete."""
    root = tmp_path_factory.mktemp("livedata")
    write_tick_data(KlineStore(root, create=True, durable=False), DATA, kit)
    return root


def write_tick_data(store: KlineStore, cfg: SynthConfig, kit: VenueKit, cut: dict[str, int] | None = None) -> list[str]:
    """Synthetic bars (on each instrument's tick grid, as the generator makes them) under the venue's
    ids, every series marked complete; ``cut`` stores a series only up to (excluding) an open time."""
    bars, specs = generate(cfg)
    for synthetic, df in bars.items():
        inst = kit.rename(synthetic)
        if cut and inst in cut:
            df = df[df.index < pd.Timestamp(cut[inst], unit="ms", tz="UTC")]
        store.upsert(kit.exchange, inst, cfg.timeframe, df)
        store.set_complete_up_to(kit.exchange, inst, cfg.timeframe, df.index[-1] + pd.Timedelta(cfg.timeframe.lower()))
    px = start_prices(cfg)
    save_specs(store.root, kit.exchange, {kit.rename(i): kit.spec(sp, px[i.split("-")[0]]) for i, sp in specs.items()})
    return [kit.rename(i) for i in bars]


@pytest.fixture
def fake_secrets() -> dict[str, str]:
    """Random fake credentials made in the test (never real ones)."""
    return {"API_KEY": "fk-" + _secrets.token_hex(8), "SECRET_KEY": "fs-" + _secrets.token_hex(12),
            "PASSPHRASE": "Fp-" + _secrets.token_hex(6)}


def open_exchange(kit: VenueKit, root: Path, secrets: dict[str, str]):
    """The venue's local exchange on ``root`` with the test account (10,000 USDT, or 10,000 USD of
    each coin on a coin-margined venue), not yet started."""
    ex = kit.open(root, START)
    ex.add_account(ACCOUNT, secrets["API_KEY"], secrets["SECRET_KEY"], secrets["PASSPHRASE"],
                   **kit.funds(10_000, start_prices()))
    return ex


@pytest.fixture
def exchange(kit: VenueKit, live_root: Path, fake_secrets: dict[str, str]) -> Iterator:
    with open_exchange(kit, live_root, fake_secrets) as ex:
        yield ex


@pytest.fixture
def accounts_file(tmp_path: Path, live_root: Path, kit: VenueKit, exchange, fake_secrets: dict[str, str],
                  monkeypatch: pytest.MonkeyPatch):
    """Write accounts.yaml + strategies.yaml under tmp_path and export the secrets; returns a writer for overrides."""

    def write(**overrides) -> Path:
        (tmp_path / "strategies.yaml").write_text(yaml.safe_dump(strategies_config(kit)))
        acct = {"exchange": kit.exchange, "mode": "paper", "url": exchange.url, "strategies": "strategies.yaml",
                "store": str(live_root), "ledger": "ledger/alice.sqlite", "runs_dir": "runs/live",
                "wait_data_s": 0.5, "fetch_missing": False, "leverage": 5, **overrides}
        path = tmp_path / "accounts.yaml"
        path.write_text(yaml.safe_dump({"accounts": {ACCOUNT: acct}}))
        return path

    for k, v in fake_secrets.items():
        monkeypatch.setenv(f"QLIB_LOCAL_ALICE_{k}", v)
    return write


@pytest.fixture
def venue(accounts_file, fake_secrets: dict[str, str]) -> Iterator[Venue]:
    """The test account's venue port, opened through the registry from its accounts file (own clients,
    quick retries: the tests count and fault its requests)."""
    acct = load_account(accounts_file(), ACCOUNT)
    s = AccountSecrets(*(Secret(fake_secrets[k]) for k in ("API_KEY", "SECRET_KEY", "PASSPHRASE")))
    v = open_venue(acct, s, timeout_s=GUARD_S, retry=RetryPolicy(attempts=3, base_s=0.02, budget_s=GUARD_S),
                   reuse=False)
    yield v
    v.close()


def ledger_runs(tmp_path: Path) -> list[tuple[str, int, str]]:
    """(run_id, bar, status) of the test account's runs, read-only (none while the ledger is being created)."""
    path = tmp_path / "ledger" / "alice.sqlite"
    if not path.exists():
        return []
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as c:
            return c.execute("SELECT run_id, bar_ts, status FROM runs ORDER BY started_at").fetchall()
    except sqlite3.OperationalError as e:
        assert "no such table" in str(e)
        return []


def bar(i: int) -> int:
    """The i-th hourly close after START (ms)."""
    return to_ms(START) + i * HOUR_MS


class Capture:
    """A chat-service stand-in on 127.0.0.1 recording every request (path, query, JSON body)."""

    def __init__(self, status: int = 200):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict] = []
        self.status = status
        cap = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                from urllib.parse import parse_qs, urlsplit

                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                u = urlsplit(self.path)
                cap.requests.append({"path": u.path, "query": {k: v[0] for k, v in parse_qs(u.query).items()},
                                     "raw_query": u.query, "json": json.loads(body or b"{}")})
                payload = {"errcode": 0, "ok": True} if cap.status == 200 else {"errcode": 1, "ok": False}
                data = json.dumps(payload).encode()
                self.send_response(cap.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> str:
        import json

        return "\n".join(json.dumps(r["json"]) for r in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture() -> Iterator[Capture]:
    c = Capture()
    yield c
    c.close()


@pytest.fixture
def notify_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    vals = {"DINGTALK_TOKEN": "dt-" + _secrets.token_hex(8), "DINGTALK_SECRET": "SEC" + _secrets.token_hex(10),
            "TELEGRAM_TOKEN": "123456:tg-" + _secrets.token_hex(8)}
    for k, v in vals.items():
        monkeypatch.setenv(f"QLIB_LOCAL_ALICE_{k}", v)
    return vals


def notify_config(url: str) -> dict:
    return {"dingtalk": {"base_url": url}, "telegram": {"chat_id": "-1001", "base_url": url}}
