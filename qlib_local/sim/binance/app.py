"""The Binance HTTP adapter: one pipeline for every route (faults, parameters, weight,
signature, order counts, then the route under the engine's lock).

Whatever a request holds, the answer is Binance's ``{"code", "msg"}`` with Binance's HTTP
status; an exception nobody expected is logged and answered -1001 (HTTP 503, as the OKX
front end answers its 50026), never a 500 with a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from qlib_local.sim.app import DroppedResponse, ResponseDropped
from qlib_local.sim.binance.context import BinanceState, Ctx
from qlib_local.sim.binance.errors import BinanceError, from_engine
from qlib_local.sim.binance.request import Params, authenticate
from qlib_local.sim.binance.routes import ROUTES, Handler
from qlib_local.sim.binance.weights import is_order, weight
from qlib_local.sim.protocol import OkxError

log = logging.getLogger(__name__)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _error(e: BinanceError, headers: dict[str, str] | None = None) -> Response:
    return _json(e.body(), e.status, headers)


async def _answer(state: BinanceState, request: Request, method: str, family: str, sub: str, fn: Handler,
                  signed: bool) -> Response:
    headers: dict[str, str] = {}
    try:
        query = request.scope.get("query_string", b"")
        body = await request.body()
        params = Params.read(query, body)
        ip = request.client.host if request.client else "?"
        ok, used = state.limiter.charge(family, ip, weight(method, family, sub, params))
        if family in ("fapi", "dapi", "api"):
            headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        if not ok or (method, f"/{family}{sub}") in state.limiter.refused:
            raise BinanceError(-1003, str(state.limiter.limits.get(family, 2400)))
        acct = None
        if signed:
            acct = authenticate(request.headers, query, body, params, state.engine.accounts, state.auth_clock())
        if acct is not None and is_order(method, family, sub):
            ok, c1, c10 = state.limiter.count_orders(family, acct.api_key, 1)
            headers["X-MBX-ORDER-COUNT-1M"], headers["X-MBX-ORDER-COUNT-10S"] = str(c1), str(c10)
            if not ok:
                raise BinanceError(-1015, msg="Too many new orders; current limit is "
                                              f"{state.limiter.order_limits[0]} orders per MINUTE.")
        with state.engine.lock:  # now is read under the lock: requests act in the clock's order
            now = state.clock.now_ms()
            state.engine.sync(now)
            ctx = Ctx(state, family, params, acct, now)
            try:
                result = fn(ctx)
            except OkxError as e:  # the engine refused: Binance's words for it
                raise from_engine(e) from None
        return _json(result, 200, headers)
    except BinanceError as e:
        return _error(e, headers)


def make_handler(state: BinanceState, method: str, family: str, sub: str, fn: Handler,
                 signed: bool) -> Callable[[Request], Any]:
    path = f"/{family}{sub}"

    async def handler(request: Request) -> Response:
        plan = state.faults.plan(path)
        if plan.hang_s:
            await asyncio.sleep(plan.hang_s)
            return _error(BinanceError(-1007, msg="Timeout waiting for response from backend server. "
                                                  "Send status unknown; execution status unknown."))
        if plan.latency_s:
            await asyncio.sleep(plan.latency_s)
        if plan.fail_status:
            e = BinanceError(-1001)
            return _json(e.body(), plan.fail_status)
        try:
            response = await _answer(state, request, method, family, sub, fn, signed)
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception:  # the catch-all: a bug must still answer like Binance, and be seen in the log
            log.exception("local exchange (binance): unexpected error answering %s %s", method, path)
            response = _error(BinanceError(-1001))
        state.faults.processed(path)
        if plan.drop:
            return DroppedResponse()
        return response

    return handler


def build_app(state: BinanceState) -> Starlette:
    by_path: dict[str, dict[str, Callable[[Request], Any]]] = {}
    for method, family, sub, fn, signed in ROUTES:
        by_path.setdefault(f"/{family}{sub}", {})[method] = make_handler(state, method, family, sub, fn, signed)

    def route(path: str, handlers: dict[str, Callable[[Request], Any]]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await handlers["GET" if request.method == "HEAD" else request.method](request)

        return Route(path, endpoint, methods=list(handlers))

    async def unexpected(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ResponseDropped):  # an injected fault, after the response started
            return _error(BinanceError(-1001))
        log.error("local exchange (binance): unexpected error on %s %s", request.method, request.url.path,
                  exc_info=exc)
        return _error(BinanceError(-1001))

    app = Starlette(routes=[route(p, h) for p, h in by_path.items()], exception_handlers={Exception: unexpected})
    app.state.sim = state
    return app
