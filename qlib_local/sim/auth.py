"""Request signing as OKX checks it: HMAC-SHA256 over the raw request target and body.

The prehash is ``timestamp + METHOD + path?query + body`` exactly as the bytes arrived,
so both python-okx (unencoded query, ``json.dumps`` body) and ccxt (URL-encoded query,
compact JSON) verify without any re-serialisation on our side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from qlib_local.sim.accounts import Account
from qlib_local.sim.protocol import OkxError

MAX_SKEW_MS = 30_000


def sign(secret: str, timestamp: str, method: str, target: str, body: bytes | str = b"") -> str:
    """OKX's ``OK-ACCESS-SIGN`` (what a client computes; used by tests and the bench)."""
    raw = body.encode() if isinstance(body, str) else body
    msg = timestamp.encode() + method.upper().encode() + target.encode() + raw
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def parse_timestamp(text: str) -> int:
    """Milliseconds of an ISO 8601 UTC timestamp such as ``2026-11-21T08:05:16.357Z``."""
    try:
        if not text.endswith("Z"):
            raise ValueError
        return int(datetime.fromisoformat(text[:-1] + "+00:00").timestamp() * 1000)
    except (ValueError, OverflowError):
        raise OkxError("50112") from None


def authenticate(
    headers: Mapping[str, str],
    method: str,
    target: str,
    body: bytes,
    accounts: Mapping[str, Account],
    wall_now_ms: int,
) -> Account:
    """The account a signed request belongs to, or the OkxError OKX would answer.

    Skew is judged against wall time: clients sign with their wall clock even when the
    exchange replays the past.
    """
    key = headers.get("ok-access-key", "")
    if not key:
        raise OkxError("50103")
    passphrase = headers.get("ok-access-passphrase", "")
    if not passphrase:
        raise OkxError("50104")
    ts = headers.get("ok-access-timestamp", "")
    if not ts:
        raise OkxError("50107")
    signature = headers.get("ok-access-sign", "")
    if not signature:
        raise OkxError("50106")
    acct = accounts.get(key)
    if acct is None:
        raise OkxError("50111")
    if abs(parse_timestamp(ts) - wall_now_ms) > MAX_SKEW_MS:
        raise OkxError("50102")
    if not hmac.compare_digest(passphrase, acct.passphrase):
        raise OkxError("50105")
    expected = sign(acct.secret, ts, method, target, body)
    if not hmac.compare_digest(signature, expected):
        raise OkxError("50113")
    demo = headers.get("x-simulated-trading", "0") == "1"
    if acct.simulated is not None and demo != acct.simulated:
        raise OkxError("50101")
    return acct
