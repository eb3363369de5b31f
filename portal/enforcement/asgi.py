"""The ASGI layer: pure ASGI middlewares (no ``BaseHTTPMiddleware``) over the framework-free
lifecycle (``lifecycle.py``), for the CONTINUUM API on FastAPI or any ASGI framework::

    app = FastAPI()
    install(app, os.environ)  # the runtime, from DATABASE_URL / REDIS_URL
    app.add_middleware(StorageLimitMiddleware, write_endpoints=["/api/memories"])
    app.add_middleware(FeatureAccessMiddleware, feature_map={"/api/federation": "federation"})
    app.add_middleware(BillingMiddleware, exclude_paths=["/health", "/docs", "/billing/webhook"])

Whatever order they are added in, the gates are checked before the admission (``Billing``
checks the gates it finds beneath it itself), so their refusals never count. Every blocking step
(SQL, the sync Redis store) runs in a worker thread, never on the event loop. FastAPI
dependencies (``metered``, ``requires_feature``, ``storage_quota``, ``current_caller``) live in
``dependencies.py`` and are re-exported here on first use. Importing this module loads neither
Flask nor FastAPI.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

from anyio import to_thread

from portal import metrics
from portal.enforcement.asgi_admit import LoopAdmission
from portal.enforcement.asgi_scope import (
    CALL_KEY,
    GATE_REFUSED_KEY,
    GATES_CHECKED_KEY,
    STATE_NAME,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    caller_of,
    content_length,
    matches,
    route_of,
    runtime_of,
    send_decision,
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
from portal.enforcement.runtime import Enforcement

#: Never metered: liveness, the API's documentation and Stripe's webhook.
DEFAULT_EXCLUDED = (
    "/health",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/billing/webhook",
    "/v1/billing/webhook",
)
DEFAULT_FEATURES = {"/api/federation": "federation", "/api/realtime": "realtime_sync"}
DEFAULT_WRITES = ("/api/memories", "/api/embeddings")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


def install(
    app: Any, settings: Mapping[str, Any] | None = None, *, enforcement: Enforcement | None = None
) -> Enforcement:
    """Give ``app`` (anything with a ``state``, e.g. FastAPI) its runtime: ``enforcement``, or
    one built from ``settings`` (DATABASE_URL, REDIS_URL...; default ``os.environ``). The
    middlewares and dependencies find it through the scope's app."""
    if enforcement is None:
        import os

        enforcement = Enforcement.from_settings(os.environ if settings is None else settings)
    setattr(app.state, STATE_NAME, enforcement)
    if "fastapi" in sys.modules and hasattr(app, "add_exception_handler"):
        from portal.enforcement.dependencies import enable

        enable(app)  # the dependencies' refusals get the spec's bodies
    return enforcement


#: The runtime of the request running now, so the plain functions (``record_storage_usage``...)


class _Gate:
    """What the gate middlewares share; ``BillingMiddleware`` above runs their check itself."""

    def __init__(self, app: ASGIApp, enforcement: Enforcement | None) -> None:
        self.app = app
        self.enforcement = enforcement

    def refusal(
        self, enforcement: Enforcement, caller: ApiCaller, scope: Scope, route: str
    ) -> Decision | None:
        raise NotImplementedError

    def applies(self, scope: Scope) -> bool:
        raise NotImplementedError

    def check(self, enforcement: Enforcement, scope: Scope, route: str) -> Decision | None:
        """Blocking: the caller (a 401 refuses too), then this gate."""
        caller = caller_of(enforcement, scope)
        if isinstance(caller, Decision):
            return caller
        return self.refusal(enforcement, caller, scope, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(GATES_CHECKED_KEY) or not self.applies(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        enforcement = runtime_of(scope, self.enforcement)
        route = route_of(scope)
        refusal = await to_thread.run_sync(self.check, enforcement, scope, route)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        scope[GATE_REFUSED_KEY] = True  # a BillingMiddleware above takes its admission back
        await send_decision(send, refused(refusal, started))


class FeatureAccessMiddleware(_Gate):
    """403 unless the caller's tier has the feature its path needs (``feature_map``: path
    prefix -> feature)."""

    def __init__(
        self,
        app: ASGIApp,
        feature_map: Mapping[str, str] | None = None,
        *,
        enforcement: Enforcement | None = None,
    ) -> None:
        super().__init__(app, enforcement)
        from portal.plans import Feature

        self.feature_map = dict(DEFAULT_FEATURES if feature_map is None else feature_map)
        for feature in self.feature_map.values():
            Feature(feature)  # a typo fails when the app is built, not on the first call
        # ``matches`` with each prefix's subtree built once, not on every call.
        self._prefixes = tuple(
            (prefix, prefix.rstrip("/") + "/", feature)
            for prefix, feature in self.feature_map.items()
        )

    def feature(self, path: str) -> str | None:
        for prefix, tree, feature in self._prefixes:
            if path == prefix or path.startswith(tree):
                return feature
        return None

    def applies(self, scope: Scope) -> bool:
        return self.feature(scope["path"]) is not None

    def refusal(
        self, enforcement: Enforcement, caller: ApiCaller, scope: Scope, route: str
    ) -> Decision | None:
        feature = self.feature(scope["path"])
        return None if feature is None else feature_refusal(enforcement, caller, feature, route)


class StorageLimitMiddleware(_Gate):
    """507 when a write (POST, PUT, PATCH) to one of ``write_endpoints`` finds the tenant's
    storage full, or would fill it past the limit by its declared Content-Length."""

    def __init__(
        self,
        app: ASGIApp,
        write_endpoints: Iterable[str] | None = None,
        *,
        enforcement: Enforcement | None = None,
    ) -> None:
        super().__init__(app, enforcement)
        self.write_endpoints = tuple(DEFAULT_WRITES if write_endpoints is None else write_endpoints)

    def applies(self, scope: Scope) -> bool:
        path = scope["path"]
        return scope.get("method") in WRITE_METHODS and any(
            matches(path, prefix) for prefix in self.write_endpoints
        )

    def refusal(
        self, enforcement: Enforcement, caller: ApiCaller, scope: Scope, route: str
    ) -> Decision | None:
        length = content_length(scope)
        incoming = StorageSnapshot(bytes_used=length) if length else None
        return storage_refusal(enforcement, caller, incoming, route)


def _gates_beneath(app: Any) -> list[_Gate]:
    """The gate middlewares in the stack beneath a middleware (Starlette's ``.app`` chain)."""
    gates: list[_Gate] = []
    seen = 0
    while app is not None and seen < 64:
        if isinstance(app, _Gate):
            gates.append(app)
        app, seen = getattr(app, "app", None), seen + 1
    return gates


def _enter(
    enforcement: Enforcement, scope: Scope, gates: list[_Gate], started: float
) -> Call | Decision:
    """Blocking, in one worker thread: identify, the gates that apply, the admission."""
    caller = caller_of(enforcement, scope)
    if isinstance(caller, Decision):
        return refused(caller, started)
    route = route_of(scope)
    for gate in gates:
        if gate.applies(scope):
            refusal = gate.refusal(enforcement, caller, scope, route)
            if refusal is not None:
                return refused(refusal, started)
    return admit(enforcement, caller, route, started)


class BillingMiddleware:
    """Authenticate the API key, check the gates beneath, admit, meter and add the rate-limit
    headers to every metered response; ``exclude_paths`` (prefixes) are never metered.

    A streamed response keeps its slot (its lease renewed while chunks flow) until its final
    body message or the client's disconnect. A 5xx is refunded. Lifespan starts the usage
    flusher and, at shutdown, writes what is pending and stops it.
    """

    def __init__(
        self,
        app: ASGIApp,
        exclude_paths: Iterable[str] | None = None,
        *,
        enforcement: Enforcement | None = None,
    ) -> None:
        self.app = app
        self.exclude_paths = tuple(DEFAULT_EXCLUDED if exclude_paths is None else exclude_paths)
        # ``matches`` for every prefix at once: the path itself, or under it on a boundary.
        self._excluded_paths = frozenset(self.exclude_paths)
        self._excluded_trees = tuple(prefix.rstrip("/") + "/" for prefix in self.exclude_paths)
        self.enforcement = enforcement
        self._gates: list[_Gate] | None = None
        self._loop_admission: LoopAdmission | None = None

    def excluded(self, path: str) -> bool:
        return path in self._excluded_paths or path.startswith(self._excluded_trees)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(scope, receive), send)
            return
        if scope["type"] != "http" or self.excluded(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        enforcement = runtime_of(scope, self.enforcement)
        if self._gates is None:
            self._gates = _gates_beneath(self.app)
        entered = await self._on_loop(enforcement, scope, started)
        if entered is None:
            entered = await to_thread.run_sync(_enter, enforcement, scope, self._gates, started)
        if isinstance(entered, Decision):
            await send_decision(send, entered)
            tier = entered.body.get("tier") if entered.body else None
            metrics.api_call(entered.status, tier, entered.limit, time.perf_counter() - started)
            return
        scope[GATES_CHECKED_KEY] = True
        scope[CALL_KEY] = entered
        await _Metered(entered, scope, time.perf_counter() - started).run(self.app, receive, send)

    async def _on_loop(
        self, enforcement: Enforcement, scope: Scope, started: float
    ) -> Call | Decision | None:
        """The admission without a thread when nothing in it blocks (``asgi_admit``)."""
        features: list[str] = []
        path = scope["path"]
        for gate in self._gates or ():
            if isinstance(gate, FeatureAccessMiddleware):
                feature = gate.feature(path)
                if feature is not None:
                    features.append(feature)
            elif gate.applies(scope):
                return None  # the storage gate reads SQL
        loop = self._loop_admission
        if loop is None or loop.enforcement is not enforcement:
            loop = self._loop_admission = LoopAdmission(enforcement)
        return await loop.try_admit(scope, route_of(scope), features, started)

    def _lifespan_receive(self, scope: Scope, receive: Receive) -> Receive:
        async def observed() -> Message:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                enforcement = runtime_of(scope, self.enforcement)
                if enforcement.flusher.idle:
                    enforcement.flusher.start()
            elif kind == "lifespan.shutdown":
                if self._loop_admission is not None:
                    await self._loop_admission.close()
                await to_thread.run_sync(runtime_of(scope, self.enforcement).stop)
            return message

        return observed


class _Metered:
    """One admitted call on its way through the app: headers at the response's start, the
    slot released at its final body message, on disconnect, or when the app fails."""

    def __init__(self, call: Call, scope: Scope, admitting_seconds: float) -> None:
        self.call = call
        self.scope = scope
        #: Enforcement's own time before the app ran (the operator metrics' histogram).
        self.admitting_seconds = admitting_seconds
        self.started = False
        half = call.enforcement.lease_seconds / 2
        self.half = half
        self.renew_at = call.enforcement.clock() + half

    async def run(self, app: ASGIApp, receive: Receive, send: Send) -> None:
        call = self.call

        async def watched_receive() -> Message:
            message = await receive()
            if message.get("type") == "http.disconnect":
                call.release()
            return message

        async def metered_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *await self._headers(message)]
                self.started = True
                status = int(message["status"])
                metrics.api_call(status, call.caller.tier, None, self.admitting_seconds)
            elif kind == "http.response.body":
                if message.get("more_body", False):
                    await self._maybe_renew()
                else:
                    call.release()
            await send(message)

        try:
            await app(self.scope, watched_receive, metered_send)
        except BaseException:
            if not self.started and not call.finished:
                await to_thread.run_sync(call.finish, 500)  # the server answers 500: refunded
            call.release()
            raise
        call.release()

    async def _headers(self, message: Message) -> list[tuple[bytes, bytes]]:
        call, status = self.call, int(message["status"])
        if self.scope.get(GATE_REFUSED_KEY):
            headers = await to_thread.run_sync(call.take_back)
            found = headers.headers
        elif status >= 400:  # refunds and outcome counts touch the store
            found = await to_thread.run_sync(lambda: call.finish(status, streamed=True))
        else:
            found = call.finish(status, streamed=True)  # no I/O: the release waits for the end
        return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in found.items()]

    async def _maybe_renew(self) -> None:
        enforcement = self.call.enforcement
        now = enforcement.clock()
        if now >= self.renew_at and not self.call.finished:
            self.renew_at = now + self.half
            await to_thread.run_sync(self.call.renew)


_DEPENDENCY_NAMES = frozenset({"metered", "requires_feature", "storage_quota", "current_caller"})


def __getattr__(name: str) -> Any:
    if name in _DEPENDENCY_NAMES:
        from portal.enforcement import dependencies

        value = getattr(dependencies, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
