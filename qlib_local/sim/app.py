"""The HTTP adapter: Starlette routes speaking OKX V5 on top of the endpoints.

Every request goes through one pipeline (faults, then strict body parsing, auth, rate
limit, then the endpoint), so error answers are uniform: OKX's envelope, code and HTTP
status. Whatever a request holds, the answer is an envelope: an exception nobody expected
is logged and answered 50026, never as a 500 with a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qlib_local.sim.auth import authenticate
from qlib_local.sim.context import Ctx, Result, State
from qlib_local.sim.endpoints import ENDPOINTS
from qlib_local.sim.params import parse_body
from qlib_local.sim.protocol import OkxError, envelope

__all__ = ["ResponseDropped", "State", "build_app"]
log = logging.getLogger(__name__)


class ResponseDropped(Exception):
    """Raised on purpose after the response started: the server cuts the connection."""


class DroppedResponse(Response):
    """Starts a response and then aborts it: the client sees a broken connection."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        raise ResponseDropped("fault injection: response dropped after the request took effect")


class OkxJSONResponse(JSONResponse):
    """Compact ASCII JSON: a lone surrogate echoed from a request (a tag, a clOrdId) stays encodable."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return OkxJSONResponse(payload, status_code=status)


def _stamped(payload: dict[str, Any], trade: bool, in_time: int) -> dict[str, Any]:
    """Trade endpoints carry ``inTime``/``outTime`` (microseconds), errors included."""
    if trade:
        payload["inTime"], payload["outTime"] = str(in_time), str(time.time_ns() // 1000)
    return payload


def _system_error() -> Response:
    """OKX's 50026 in its envelope (HTTP 503, see ``protocol.CODES``)."""
    e = OkxError("50026")
    return _json(envelope([], e.code, e.msg), e.status)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """The app-level net under the per-endpoint catch-all (routing, middleware)."""
    if isinstance(exc, ResponseDropped):  # an injected fault, after the response started: nothing to send
        return _system_error()
    log.error("local exchange: unexpected error outside an endpoint on %s %s", request.method, request.url.path,
              exc_info=exc)
    return _system_error()


def _raw_target(request: Request) -> str:
    """Path and query exactly as the client sent them (what it signed)."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    qs = request.scope.get("query_string", b"")
    return raw_path.decode("latin-1") + ("?" + qs.decode("latin-1") if qs else "")


def _limit_key(state: State, request: Request, ctx: Ctx, method: str, path: str) -> tuple[str, dict[str, int] | None]:
    rule = state.limiter.rule(method, path)
    ip = request.client.host if request.client else "?"
    if rule is None:
        return ip, None
    if rule.scope == "ip":
        return ip, None
    if rule.scope == "ip_insttype":
        return f"{ip}|{ctx.q('instType')}", None
    user = ctx.acct.api_key if ctx.acct else ip
    if rule.scope == "user":
        return user, None
    items = ctx.body if isinstance(ctx.body, list) else [ctx.body if isinstance(ctx.body, dict) else ctx.query]
    counts = Counter(str(i.get("instId", "")) for i in items if isinstance(i, dict))
    if method == "GET":
        counts = Counter({ctx.q("instId"): 1})
    return user, dict(counts)


async def _answer(state: State, request: Request, method: str, path: str, fn: Callable[[Ctx], Result],
                  private: bool) -> tuple[dict[str, Any], int]:
    """Parse, authenticate, rate-limit and run one request: (envelope, HTTP status)."""
    raw = await request.body()
    now = state.clock.now_ms()
    try:
        body = parse_body(raw)
        acct = None
        if private:
            acct = authenticate(request.headers, method, _raw_target(request), raw,
                                state.engine.accounts, int(time.time() * 1000))
        ctx = Ctx(state, dict(request.query_params), body, acct, now)
        key, counts = _limit_key(state, request, ctx, method, path)
        if not state.limiter.allow(method, path, key, counts):
            raise OkxError("50011")
        with state.engine.lock:  # now is read under the lock: requests act in the clock's order
            ctx.now = state.clock.now_ms()
            state.engine.sync(ctx.now)
            result = fn(ctx)
        code, msg, data = result if isinstance(result, tuple) else ("0", "", result)
        return envelope(data, code, msg), 200
    except OkxError as e:
        return envelope([], e.code, e.msg), e.status


def make_handler(state: State, method: str, path: str, fn: Callable[[Ctx], Result], private: bool,
                 trade: bool) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        plan = state.faults.plan(path)
        if plan.hang_s:
            await asyncio.sleep(plan.hang_s)
            return _json(envelope([], "50001", OkxError("50001").msg), 504)
        if plan.latency_s:
            await asyncio.sleep(plan.latency_s)
        if plan.fail_status:
            return _json(envelope([], "50001", OkxError("50001").msg), plan.fail_status)
        in_time = time.time_ns() // 1000
        try:
            payload, status = await _answer(state, request, method, path, fn, private)
            response = _json(_stamped(payload, trade, in_time), status)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        except Exception:  # the catch-all: a bug must still answer like OKX, and be seen in the log
            log.exception("local exchange: unexpected error answering %s %s", method, path)
            e = OkxError("50026")
            response = _json(_stamped(envelope([], e.code, e.msg), trade, in_time), e.status)
        state.faults.processed(path)
        if plan.drop:
            return DroppedResponse()
        return response

    return handler


def build_app(state: State) -> Starlette:
    """Routes for every endpoint; unknown paths answer like OKX's 404."""
    by_path: dict[str, dict[str, Callable[[Request], Any]]] = {}
    for method, path, fn, private, trade in ENDPOINTS:
        by_path.setdefault(path, {})[method] = make_handler(state, method, path, fn, private, trade)

    def route(path: str, handlers: dict[str, Callable[[Request], Any]]) -> Route:
        async def endpoint(request: Request) -> Response:
            # Starlette adds HEAD to every GET route; it is answered as the GET (without a body)
            return await handlers["GET" if request.method == "HEAD" else request.method](request)

        return Route(path, endpoint, methods=list(handlers))

    app = Starlette(routes=[route(p, h) for p, h in by_path.items()], exception_handlers={Exception: _unexpected})
    app.state.sim = state
    return app
