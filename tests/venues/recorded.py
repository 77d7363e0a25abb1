"""A recorded-answer HTTP server on 127.0.0.1: each (method, path) answers with the next recorded
response, and every request is kept (method, path, parameters, headers) for the test to read.

For a venue without a local exchange yet (Binance): the real ccxt client signs and sends real
HTTP requests, and the answers are Binance's documented JSON shapes, so request building,
parsing, error mapping and transport failures are tested end to end without a matching engine.
A response is ``(status, body)`` (a dict/list is sent as JSON, a str as text), ``DROP`` (the
connection is closed without an answer, after the request was read) or ``("hang", seconds)``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DROP = "drop"


class Recorded:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], deque] = {}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                u = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                params = dict(parse_qsl(u.query, keep_blank_values=True))
                params.update(dict(parse_qsl(raw, keep_blank_values=True)))
                with rec._lock:
                    rec.requests.append({"method": self.command, "path": u.path, "params": params, "query": u.query,
                                         "body": raw, "headers": dict(self.headers)})
                    queue = rec.routes.get((self.command, u.path))
                    answer = (queue.popleft() if len(queue) > 1 else queue[0]) if queue else (404, {"code": -1,
                                                                                               "msg": "no route"})
                if answer == DROP:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if isinstance(answer, tuple) and answer[0] == "hang":
                    time.sleep(answer[1])
                    answer = (200, {})
                status, body = answer
                data = (json.dumps(body) if not isinstance(body, str) else body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json" if not isinstance(body, str) else "text/html")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = handle_any  # http.server's method names

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method: str, path: str, *responses: Any) -> None:
        """Answer ``method path`` with these, in turn (the last one repeats)."""
        with self._lock:
            self.routes[(method, path)] = deque(responses)

    def sent(self, method: str, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
