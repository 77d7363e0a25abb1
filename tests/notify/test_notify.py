"""DingTalk and Telegram senders against a capture server on 127.0.0.1; failures never raise."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qlib_local.live import redact
from qlib_local.notify import DingTalk, Notifier, Telegram, dingtalk_sign


@pytest.fixture
def server():
    got: list[tuple[str, dict]] = []
    status = {"code": 200}

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            got.append((self.path, body))
            data = json.dumps({"errcode": 0, "ok": True}).encode()
            self.send_response(status["code"])
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", got, status
    srv.shutdown()
    srv.server_close()


def test_dingtalk_sign_matches_the_documented_recipe():
    secret, ts = "SECabc", 1700000000000
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert urllib.parse.unquote_plus(dingtalk_sign(secret, ts)) == base64.b64encode(digest).decode()


def test_both_channels_deliver(server):
    url, got, _ = server
    records = []
    n = Notifier([DingTalk("tok123", "SECxyz", url), Telegram("9:tgtoken", "42", url)],
                 record=lambda ch, ok, err: records.append((ch, ok, err)))
    assert n.send("title", "body text") == []
    (p1, b1), (p2, b2) = got
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(p1).query)
    assert q["access_token"] == ["tok123"] and q["sign"][0] == urllib.parse.unquote_plus(
        dingtalk_sign("SECxyz", int(q["timestamp"][0])))
    assert b1["msgtype"] == "markdown" and "body text" in b1["markdown"]["text"]
    assert p2 == "/bot9:tgtoken/sendMessage" and b2 == {"chat_id": "42", "text": "title\n\nbody text",
                                                        "disable_web_page_preview": True}
    assert records == [("dingtalk", True, None), ("telegram", True, None)]


def test_failures_are_reported_not_raised_and_tokens_are_masked(server):
    url, got, status = server
    status["code"] = 500
    redact.register("9:tgsecret-token")
    n = Notifier([Telegram("9:tgsecret-token", "42", url), DingTalk("x-token", "SECx", "http://127.0.0.1:9")])
    failures = n.send("t", "b")
    assert len(failures) == 2 and all("9:tgsecret-token" not in f for f in failures)
    assert "500" in failures[0] and len(got) == 1
