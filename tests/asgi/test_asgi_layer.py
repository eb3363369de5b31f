"""What only the ASGI layer does: no Flask loaded, lifespan, streamed bodies held and released,
the client's disconnect, and the route-level ``Depends(metered)``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse

from portal.enforcement import Enforcement
from portal.enforcement.asgi import BillingMiddleware, install, metered
from tests.asgi.conftest import run_async, run_lifespan
from tests.enforcement.support import FakeClock
from tests.factory import Account

WEB_MODULES = ("flask", "flask_sqlalchemy", "flask_wtf", "flask_login", "portal.extensions")


def test_building_from_settings_loads_no_flask(database_url: str) -> None:
    """A fresh interpreter imports the ASGI layer and builds an app from settings."""
    script = f"""
import json, sys
from fastapi import FastAPI
from portal.enforcement.asgi import BillingMiddleware, FeatureAccessMiddleware, install
app = FastAPI()
install(app, {{"DATABASE_URL": {database_url!r}}})
app.add_middleware(FeatureAccessMiddleware)
app.add_middleware(BillingMiddleware)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "werkzeug")
                        or m == "portal.extensions")))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_lifespan_starts_and_stops_the_flusher(database_url: str) -> None:
    app = FastAPI()
    enforcement = install(app, {"DATABASE_URL": database_url})
    app.add_middleware(BillingMiddleware)
    seen: list[bool] = []
    app.router.on_startup.append(lambda: seen.append(enforcement.flusher.idle))
    assert run_async(run_lifespan, app) == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert seen == [False]  # started before the app's own startup ran
    thread = enforcement.flusher._thread
    assert thread is not None and not thread.is_alive()  # stopped at shutdown


def _streaming_app(enforcement: Enforcement, clock: FakeClock, chunks: int) -> FastAPI:
    app = FastAPI()
    install(app, enforcement=enforcement)
    app.add_middleware(BillingMiddleware)

    @app.get("/api/stream")
    def stream() -> StreamingResponse:
        def body() -> Any:
            for number in range(chunks):
                clock.advance(10)  # 10 s a chunk: longer than the 30 s lease in all
                yield f"data: {number}\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    return app


def test_a_stream_longer_than_its_lease_keeps_its_slot(
    enforcement: Enforcement, clock: FakeClock, make_account: Callable[..., Account]
) -> None:
    account = make_account("free")  # one concurrent request
    app = _streaming_app(enforcement, clock, chunks=8)
    concurrent: list[int] = []
    original = enforcement.store.renew

    def renew(tenant_id: int, lease: str, now: float, seconds: float) -> None:
        original(tenant_id, lease, now, seconds)
        concurrent.append(enforcement.live_counts(tenant_id).concurrent)

    enforcement.store.renew = renew  # type: ignore[method-assign,assignment]

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/api/stream", headers=account.headers)

    response = run_async(run)
    assert response.status_code == 200 and response.text.count("data:") == 8
    assert concurrent and all(held == 1 for held in concurrent)  # 80 s on, still held
    assert enforcement.live_counts(account.tenant_id).concurrent == 0


def test_a_client_disconnect_releases_the_slot(
    enforcement: Enforcement, clock: FakeClock, make_account: Callable[..., Account]
) -> None:
    account = make_account("free")

    async def endless(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await receive()  # the client went away: the app stops without a final message

    middleware = BillingMiddleware(endless, enforcement=enforcement)
    headers = [(k.lower().encode(), v.encode()) for k, v in account.headers.items()]
    scope = {"type": "http", "method": "GET", "path": "/api/x", "headers": headers}
    held: list[int] = []

    async def run() -> None:
        async def receive() -> dict[str, Any]:
            held.append(enforcement.live_counts(account.tenant_id).concurrent)
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            pass

        await middleware(scope, receive, send)

    run_async(run)
    assert held == [1]
    assert enforcement.live_counts(account.tenant_id).concurrent == 0


def test_route_level_metered(
    enforcement: Enforcement, clock: FakeClock, make_account: Callable[..., Account]
) -> None:
    account = make_account("free")
    app = FastAPI()
    install(app, enforcement=enforcement)

    @app.get("/api/plain", dependencies=[Depends(metered)])
    def plain() -> dict[str, bool]:
        return {"ok": True}

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.get("/api/plain", headers=account.headers) for _ in range(11)]

    answers = run_async(run)
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert answers[0].headers["X-RateLimit-Remaining-Minute"] == "9"
    assert answers[-1].json()["error"] == "Rate limit exceeded (10 calls/minute)"
    assert enforcement.live_counts(account.tenant_id).concurrent == 0


def test_excluded_paths_match_whole_segments() -> None:
    billing = BillingMiddleware(FastAPI(), exclude_paths=["/health", "/docs/"])
    excluded = ("/health", "/health/lag", "/docs/", "/docs/x")
    assert all(billing.excluded(path) for path in excluded)
    assert not any(billing.excluded(path) for path in ("/healthz", "/api/health", "/doc", "/"))
