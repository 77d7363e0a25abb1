"""DingTalk (signed robot webhook) and Telegram (bot API ``sendMessage``) senders.

A failure to notify is logged and returned, never raised: a run that traded must not
fail because a chat service is down. Base URLs are configurable so tests point them at
a capture server on 127.0.0.1. Tokens live in the URL, so error texts are masked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from qlib_local.live import redact

log = logging.getLogger(__name__)
MAX_TEXT = 3800  # Telegram caps a message at 4096 characters


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, "timestamp\\nsecret")), url-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


@dataclass
class DingTalk:
    token: str
    secret: str
    base_url: str = "https://oapi.dingtalk.com"
    keyword: str = ""
    timeout_s: float = 5.0
    name: str = "dingtalk"

    def send(self, title: str, text: str) -> None:
        ts = int(time.time() * 1000)
        url = (f"{self.base_url.rstrip('/')}/robot/send?access_token={self.token}"
               f"&timestamp={ts}&sign={dingtalk_sign(self.secret, ts)}")
        body = {"msgtype": "markdown", "markdown": {"title": title, "text": f"### {title}\n\n{text}"
                                                    + (f"\n\n{self.keyword}" if self.keyword else "")}}
        r = httpx.post(url, json=body, timeout=self.timeout_s)
        r.raise_for_status()
        data = r.json()
        if data.get("errcode", 0) != 0:
            raise RuntimeError(f"DingTalk errcode {data.get('errcode')}: {data.get('errmsg')}")


@dataclass
class Telegram:
    token: str
    chat_id: str
    base_url: str = "https://api.telegram.org"
    timeout_s: float = 5.0
    name: str = "telegram"

    def send(self, title: str, text: str) -> None:
        url = f"{self.base_url.rstrip('/')}/bot{self.token}/sendMessage"
        body = {"chat_id": self.chat_id, "text": f"{title}\n\n{text}"[:MAX_TEXT], "disable_web_page_preview": True}
        r = httpx.post(url, json=body, timeout=self.timeout_s)
        r.raise_for_status()
        data = r.json()
        if not data.get("ok", False):
            raise RuntimeError(f"Telegram: {data.get('description')}")


class Notifier:
    """Fans one message out to every configured channel; records each outcome via ``record``."""

    def __init__(self, channels: list[DingTalk | Telegram], record: Callable[[str, bool, str | None], None] | None = None,
                 prefix: str = ""):
        self.channels = channels
        self.record = record
        self.prefix = prefix
        self.sent: list[tuple[str, str]] = []

    def send(self, title: str, text: str) -> list[str]:
        """Returns the masked error text of each channel that failed (empty when all delivered)."""
        title = redact.clean(f"{self.prefix}{title}")
        text = redact.clean(text)
        failures = []
        for ch in self.channels:
            err: str | None = None
            try:
                ch.send(title, text)
            except Exception as e:  # noqa: BLE001 - notifying must never crash a run
                err = redact.clean(f"{type(e).__name__}: {e}")
                failures.append(f"{ch.name}: {err}")
                log.warning("notification via %s failed: %s", ch.name, err)
            if self.record is not None:
                try:
                    self.record(ch.name, err is None, err)
                except Exception as e:  # noqa: BLE001
                    log.warning("could not record a notification: %s", redact.clean(e))
        self.sent.append((title, text))
        return failures
