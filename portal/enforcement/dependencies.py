"""FastAPI dependencies over the lifecycle, for route-level enforcement::

    @app.post("/api/federation", dependencies=[Depends(requires_feature("federation"))])
    def federate(caller: ApiCaller = Depends(current_caller)): ...

Behind ``BillingMiddleware`` they reuse the caller it identified, and a gate's refusal makes
the middleware take its admission back (never counted). Without the middleware, put
``Depends(metered)`` first: it admits the call, adds the rate-limit headers and ends the call
when the response is done (a raised 5xx is refunded). Refusals are answered with the spec's JSON
bodies, through the ``Refused`` handler that ``install(app)`` adds to a FastAPI app.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

from anyio import to_thread
from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse

from portal import metrics
from portal.enforcement.asgi_scope import (
    CALL_KEY,
    GATE_REFUSED_KEY,
    caller_of,
    content_length,
    route_of,
    runtime_of,
)
from portal.enforcement.engine import Decision, StorageSnapshot
from portal.enforcement.lifecycle import (
    ApiCaller,
    Call,
    admit,
    feature_refusal,
    refused,
    storage_refusal,
)
from portal.plans import Feature


class Refused(Exception):
    """One of our gates refused the call: rendered by ``refusal_handler``."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.status)
        self.decision = decision


async def refusal_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, Refused)
    decision = error.decision
    if decision.status in (403, 507):
        request.scope[GATE_REFUSED_KEY] = True  # a metering layer takes its admission back
    return JSONResponse(decision.body or {}, decision.status, headers=decision.headers)


def enable(app: object) -> None:
    """Let ``app`` (FastAPI) answer the dependencies' refusals with the spec's bodies."""
    app.add_exception_handler(Refused, refusal_handler)  # type: ignore[attr-defined]


async def current_caller(request: Request) -> ApiCaller:
    """The authenticated caller (identified once per request; 401 otherwise)."""
    enforcement = runtime_of(request.scope)
    caller = await to_thread.run_sync(caller_of, enforcement, request.scope)
    if isinstance(caller, Decision):
        raise Refused(caller)
    return caller


async def metered(request: Request, response: Response) -> AsyncIterator[ApiCaller]:
    """Admit the call (unless ``BillingMiddleware`` did), add its headers, end it afterwards."""
    scope = request.scope
    if scope.get(CALL_KEY) is not None:  # the middleware meters it
        yield await current_caller(request)
        return
    started = time.perf_counter()
    enforcement = runtime_of(scope)
    try:
        caller = await current_caller(request)
    except Refused as refusal:  # a 401 (or a 503): counted as the Flask decorator counts it
        decision = refusal.decision
        metrics.api_call(decision.status, None, decision.limit, time.perf_counter() - started)
        raise
    entered = await to_thread.run_sync(admit, enforcement, caller, route_of(scope), started)
    if isinstance(entered, Decision):
        metrics.api_call(entered.status, caller.tier, entered.limit, time.perf_counter() - started)
        raise Refused(entered)
    call: Call = entered
    admitting = time.perf_counter() - started
    scope[CALL_KEY] = call
    response.headers.update(call.decision.headers)
    try:
        yield caller
    except Refused:  # a gate beneath refused it: never counted
        await to_thread.run_sync(call.take_back)
        raise
    except HTTPException as error:
        status = error.status_code
        await to_thread.run_sync(lambda: call.finish(status))
        metrics.api_call(status, caller.tier, None, admitting)
        raise
    except Exception:
        await to_thread.run_sync(lambda: call.finish(500))
        raise
    status = response.status_code or 200
    if scope.get(GATE_REFUSED_KEY):
        await to_thread.run_sync(call.take_back)
    else:
        await to_thread.run_sync(lambda: call.finish(status))
    metrics.api_call(status, caller.tier, None, admitting)


def requires_feature(feature: str) -> Callable[[Request], Awaitable[ApiCaller]]:
    """A dependency refusing with 403 unless the caller's tier includes ``feature``."""
    Feature(feature)  # a typo fails at import time

    async def dependency(request: Request) -> ApiCaller:
        caller = await current_caller(request)
        enforcement = runtime_of(request.scope)
        route = route_of(request.scope)
        refusal = await to_thread.run_sync(feature_refusal, enforcement, caller, feature, route)
        if refusal is not None:
            raise Refused(refused(refusal, time.perf_counter()))
        return caller

    return dependency


Incoming = Callable[[Request], Awaitable[StorageSnapshot | None]]


async def declared_by_content_length(request: Request) -> StorageSnapshot | None:
    length = content_length(request.scope)
    return StorageSnapshot(bytes_used=length) if length else None


def storage_quota(
    incoming: Incoming = declared_by_content_length,
) -> Callable[[Request], Awaitable[ApiCaller]]:
    """A dependency refusing a write with 507 when it finds the storage full, or when what it
    adds (``await incoming(request)``, by default the declared Content-Length) would cross it."""

    async def dependency(request: Request) -> ApiCaller:
        caller = await current_caller(request)
        adding = await incoming(request)
        enforcement = runtime_of(request.scope)
        route = route_of(request.scope)
        refusal = await to_thread.run_sync(storage_refusal, enforcement, caller, adding, route)
        if refusal is not None:
            raise Refused(refused(refusal, time.perf_counter()))
        return caller

    return dependency
