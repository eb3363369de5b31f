"""The async Redis path: admissions on the event loop with the sync store's script and keys, so
a Flask worker and an ASGI worker on one Redis share one set of counters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from flask import Flask

from examples.continuum_api import create_api_app
from examples.continuum_fastapi import create_app as create_fastapi_app
from portal.enforcement import Enforcement, enforcement_for
from portal.enforcement.stores.redis_async import AsyncRedisAdmissions
from portal.plans import TIER_LIMITS, PricingTier
from tests.asgi.conftest import run_lifespan
from tests.factory import Account


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, **redis_settings}


@pytest.fixture
def asgi_runtime(app_config: dict[str, Any]) -> Iterator[Enforcement]:
    """A second runtime on the same database and Redis: another worker, another process."""
    runtime = Enforcement.from_settings(app_config)
    yield runtime
    runtime.stop()


def test_flask_and_asgi_workers_share_one_redis(
    portal_app: Flask,
    asgi_runtime: Enforcement,
    app_config: dict[str, Any],
    make_account: Callable[..., Account],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = make_account("free")
    flask_api = create_api_app(app_config)
    flask_client, flask_runtime = flask_api.test_client(), enforcement_for(flask_api)
    fastapi_app = create_fastapi_app(enforcement=asgi_runtime)
    on_loop: list[int] = []
    original = AsyncRedisAdmissions.acquire

    async def counted(self: AsyncRedisAdmissions, tenant_id: int, *args: Any) -> Any:
        on_loop.append(tenant_id)
        return await original(self, tenant_id, *args)

    monkeypatch.setattr(AsyncRedisAdmissions, "acquire", counted)
    per_minute = TIER_LIMITS[PricingTier.FREE].api_calls_per_minute
    statuses: list[int] = []
    # The minute limit counts the current UTC minute: keep the twelve calls inside one.
    left_in_minute = 60 - time.time() % 60
    if left_in_minute < 10:
        time.sleep(left_in_minute + 0.5)
    with start_blocking_portal() as portal:
        transport = httpx.ASGITransport(app=fastapi_app)

        async def asgi_call() -> int:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/api/memories", headers=account.headers)
                return response.status_code

        for number in range(per_minute + 2):
            if number % 2:
                statuses.append(portal.call(asgi_call))
                runtime = asgi_runtime
            else:
                statuses.append(
                    flask_client.get("/api/memories", headers=account.headers).status_code
                )
                runtime = flask_runtime
            # The ended call's slot goes back now, as its releaser thread would within 5 ms: on
            # a loaded machine the other runtime's next call could come first (Free allows 2
            # at once), and only the minute limit is under test here.
            runtime.store.primary.send_releases()  # type: ignore[attr-defined]
        portal.call(run_lifespan, fastapi_app)
    flask_runtime.stop()
    assert statuses == [200] * per_minute + [429, 429]  # one minute's quota across both
    assert len(on_loop) >= per_minute // 2 - 1  # after the first (a key lookup), on the loop
