"""What the ASGI middlewares and the FastAPI dependencies share: the request's scope read
(key headers, Content-Length, path), the runtime and caller kept per request, and refusals sent
as JSON. No web framework is imported."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from portal.enforcement.engine import Decision
from portal.enforcement.lifecycle import ApiCaller, identify
from portal.enforcement.runtime import Enforcement, register_finder

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where a request's caller, its admitted call and our marks are kept: the scope lives exactly
#: as long as the request, and every layer beneath sees the same dict.
CALLER_KEY = "continuum.caller"
CALL_KEY = "continuum.call"
GATES_CHECKED_KEY = "continuum.gates_checked"
GATE_REFUSED_KEY = "continuum.gate_refused"
STATE_NAME = "continuum_enforcement"

#: work in handlers; worker threads and FastAPI's threadpool copy it with the context.
_running: ContextVar[Enforcement | None] = ContextVar("continuum_enforcement", default=None)
register_finder(_running.get)


def runtime_of(scope: Scope, fallback: Enforcement | None = None) -> Enforcement:
    """The runtime of the app serving ``scope`` (see ``install``), or ``fallback``."""
    found: Enforcement | None = fallback
    if found is None:
        found = getattr(getattr(scope.get("app"), "state", None), STATE_NAME, None)
    if found is None:
        raise RuntimeError("Enforcement is not set up on this app: call install(app) first.")
    if _running.get() is not found:
        _running.set(found)
    return found


def key_headers(scope: Scope) -> tuple[str | None, str | None]:
    """The Authorization and X-API-Key headers' values (the first of each)."""
    authorization = api_key = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1")
    return authorization, api_key


def caller_of(enforcement: Enforcement, scope: Scope) -> ApiCaller | Decision:
    """The request's caller, identified once per request (blocking: run it in a thread)."""
    caller: ApiCaller | None = scope.get(CALLER_KEY)
    if caller is not None:
        return caller
    found = identify(enforcement, *key_headers(scope))
    if isinstance(found, ApiCaller):
        scope[CALLER_KEY] = found
    return found


def content_length(scope: Scope) -> int:
    """The request body's declared bytes (0 when undeclared or unreadable)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return 0
    return 0


def matches(path: str, prefix: str) -> bool:  # a path prefix, on segment boundaries
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def route_of(scope: Scope) -> str:
    """The endpoint a call is counted under: the route's template when the framework found one
    (``/api/items/{id}``), else the path."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else str(scope.get("path", ""))


async def send_decision(send: Send, decision: Decision) -> None:
    """Send a refusal as JSON with its headers."""
    body = json.dumps(decision.body or {}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in decision.headers.items()
    ]
    await send({"type": "http.response.start", "status": decision.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
