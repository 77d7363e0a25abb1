"""The core never branches on a venue's name: venue differences are data in the venue port
(capability flags, id rules, error kinds), read from ``qlib_local.venues.registry``.

Scans the source of ``qlib_local/live``, ``research`` and ``backtest`` with :mod:`ast`: every
condition (if / elif / while / assert / conditional expression / comprehension filter / match),
every comparison, and every dict literal used for dispatch must not name a venue; and the core
imports no adapter, only the registry. The checker is itself tested on code that does branch.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from qlib_local.venues.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2] / "qlib_local"
CORE = ("live", "research", "backtest")
VENUE_WORDS = {"okx", "binance", "bybit", "bitget", "deribit", "kraken", "coinbase", "huobi",
               "kucoin", "mexc", *REGISTRY}
VENUE = re.compile("|".join(sorted(VENUE_WORDS, key=len, reverse=True)), re.IGNORECASE)
ALLOWED_VENUE_IMPORTS = {"qlib_local.venues.registry"}


def _conditions(tree: ast.AST) -> list[ast.AST]:
    """Every expression that decides which way the code goes."""
    out: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert):
            out.append(node.test)
        elif isinstance(node, ast.comprehension):
            out.extend(node.ifs)
        elif isinstance(node, ast.Match):
            out.append(node.subject)
            out.extend(c.pattern for c in node.cases)
            out.extend(c.guard for c in node.cases if c.guard is not None)
        elif isinstance(node, ast.Compare):
            out.append(node)
        elif isinstance(node, ast.Dict):  # {"okx": f, "binance": g}[name] is a branch too
            out.extend(k for k in node.keys if k is not None)
    return out


def venue_branches(source: str, filename: str = "<src>") -> list[str]:
    """``file:line: code`` of each condition naming a venue, and of each import of an adapter."""
    tree = ast.parse(source, filename)
    found = [f"{filename}:{c.lineno}: {ast.unparse(c)}" for c in _conditions(tree) if VENUE.search(ast.unparse(c))]
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found += [f"{filename}:{node.lineno}: import {n}" for n in names
                  if (n.startswith("qlib_local.venues") and n not in ALLOWED_VENUE_IMPORTS) or VENUE.fullmatch(n)
                  or n.split(".")[0] in {"ccxt", "okx"}]
    return found


def core_files() -> list[Path]:
    return sorted(p for d in CORE for p in (ROOT / d).rglob("*.py"))


def test_the_core_has_no_venue_name_in_a_condition_and_imports_no_adapter():
    files = core_files()
    assert len(files) > 20 and any(p.name == "execution.py" for p in files)  # the scan sees the core
    found = [hit for p in files for hit in venue_branches(p.read_text(), str(p.relative_to(ROOT)))]
    assert found == []


@pytest.mark.parametrize("code", [
    'if acct.exchange == "okx":\n    pass',
    'x = 1 if exchange.startswith("binance") else 2',
    'while name in ("binanceusdm", "binancecoinm"):\n    break',
    'assert caps.name != "OKX"',
    'ok = [o for o in orders if o.venue == "okx"]',
    'match exchange:\n    case "binancecoinm":\n        pass',
    'is_binance = acct.exchange == "binanceusdm"',
    'f = {"okx": a, "binanceusdm": b}[acct.exchange]',
    'if IS_OKX:\n    pass',
    "from qlib_local.venues.okx.adapter import OkxVenue",
    "import ccxt",
    "import okx.Trade",
])
def test_the_check_catches_branching_on_a_venue(code):
    assert venue_branches(code) != []


@pytest.mark.parametrize("code", [
    'if o.reduce_only and pos_mode in caps.reduce_only_modes:\n    pass',
    'exchange = raw.get("exchange", "okx")',  # a default value, not a branch
    '"""OKX and Binance both implement the port."""',
    "from qlib_local.venues.registry import open_venue",
])
def test_the_check_lets_venue_neutral_code_pass(code):
    assert venue_branches(code) == []
