"""Deterministic client order ids: the same (account, bar, instrument, leg, attempt) always
gives the same id, so re-running a bar can never place a second order for it.

Layout (21 lower-case letters and digits): ``q`` + account code (6) + bar close in minutes,
base 36 (6) + instrument code (6) + leg (1) + attempt (1). A child order (one re-priced maker
order, or the market order after the deadline, of a planned parent) appends its round in base
36 (2) and ``m`` (maker) or ``t`` (taker): 24 characters. One derivation for every venue:
each states its rule as data (:class:`qlib_local.live.venue.IdRule`; OKX 1-32 letters and
digits, Binance up to 36 of ``[.A-Z:/a-z0-9_-]``) and an id is checked against it, so a
venue whose rule could not hold these ids is refused instead of sent a mangled id.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qlib_local.live.venue import IdRule

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
LEGS = {("net", "close"): "c", ("net", "open"): "o", ("long", "close"): "x", ("short", "close"): "y",
        ("long", "open"): "u", ("short", "open"): "v"}
MAX_ATTEMPTS = len(ALPHABET) - 1
LENGTH = 21
CHILD_LENGTH = LENGTH + 3
MAX_ROUNDS = 36**2 - 1  # child rounds 0..1295
CHILD_KINDS = {"maker": "m", "taker": "t"}


def b36(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, 36)
        out = ALPHABET[r] + out
    if n:
        raise ValueError("number too large for its width")
    return out


def code(text: str, width: int = 6) -> str:
    """A short stable hash of a name."""
    h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return b36(h % 36**width, width)


def prefix(account: str) -> str:
    """Every order of ``account`` starts with this, so its orders can be told from manual ones."""
    return "q" + code(account)


def cl_ord_id(account: str, bar_ts_ms: int, inst_id: str, pos_side: str, leg: str, attempt: int = 1,
              rule: IdRule | None = None) -> str:
    """Our id for this order, checked against the venue's ``rule`` when one is given."""
    if not 1 <= attempt <= MAX_ATTEMPTS:
        raise ValueError(f"attempt must be 1..{MAX_ATTEMPTS}")
    cl = prefix(account) + b36(bar_ts_ms // 60_000, 6) + code(inst_id) + LEGS[(pos_side, leg)] + ALPHABET[attempt]
    if rule is not None and not rule.allows(cl):
        raise ValueError(f"client order id {cl} breaks the venue's rule ({rule.max_len} of [{rule.chars}])")
    return cl


def child_id(parent: str, round_: int, kind: str, rule: IdRule | None = None) -> str:
    """The id of ``parent``'s child in ``round_`` (``kind`` maker or taker): the same inputs, the same id,
    so a re-run finds the children a killed run sent instead of sending them again."""
    if len(parent) != LENGTH or not parent.startswith("q"):
        raise ValueError(f"{parent!r} is not a parent order id")
    if not 0 <= round_ <= MAX_ROUNDS:
        raise ValueError(f"child round must be 0..{MAX_ROUNDS}")
    cl = parent + b36(round_, 2) + CHILD_KINDS[kind]
    if rule is not None and not rule.allows(cl):
        raise ValueError(f"client order id {cl} breaks the venue's rule ({rule.max_len} of [{rule.chars}])")
    return cl


def parent_of(cl: str) -> str:
    """A child's parent id (a parent's own id for a parent)."""
    return cl[:LENGTH] if len(cl) == CHILD_LENGTH else cl


def bar_of(cl: str) -> int | None:
    """The bar close (ms) encoded in one of our ids (parent or child), else None."""
    if len(cl) not in (LENGTH, CHILD_LENGTH) or not cl.startswith("q"):
        return None
    try:
        return int(cl[7:13], 36) * 60_000
    except ValueError:
        return None
