"""Fixtures of the conformance suite: the example API on Flask and on FastAPI (through httpx's
ASGI transport), both sharing the portal's enforcement runtime, on the embedded store and on
Redis. Each test runs on all four."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from flask import Flask

from examples.continuum_api import create_api_app
from examples.continuum_fastapi import create_app as create_fastapi_app
from portal.enforcement import Enforcement, enforcement_for
from tests.enforcement import conftest as shared
from tests.enforcement.support import FakeClock

T = TypeVar("T")

# The enforcement tests' fixtures, shared.
factory = shared.factory
make_account = shared.make_account
portal_app = shared.portal_app
redis_settings = shared.redis_settings


@pytest.fixture(params=["memory", "redis"])
def app_config(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> dict[str, Any]:
    if request.param == "redis":
        app_config.update(request.getfixturevalue("redis_settings"))
    return app_config


@dataclass
class Answer:
    """One response, whichever the adapter: status, headers (any case) and JSON body."""

    status: int
    headers: Any  # Werkzeug's or httpx's: both read a name in any case
    body: Any


class FlaskApi:
    def __init__(self, app: Flask) -> None:
        app.config["PROPAGATE_EXCEPTIONS"] = False  # a raising view answers 500, as in production
        self.app = app
        self.client = app.test_client()

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        response = self.client.open(path, method=method, buffered=True, **kwargs)
        body = response.get_json(silent=True)
        return Answer(response.status_code, response.headers, body)


class AsgiApi:
    """The ASGI app through httpx's transport, on one event loop for the whole test (as under
    uvicorn: the async Redis client's connections belong to their loop)."""

    def __init__(self, app: Any, portal: BlockingPortal) -> None:
        self.app = app
        self.portal = portal
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url="http://api.test"
            ) as client:
                return await client.request(method, path, **kwargs)

        response = self.portal.call(send)
        try:
            body = response.json()
        except ValueError:
            body = None
        return Answer(response.status_code, response.headers, body)

    def shut_down(self) -> None:
        """Run the app's lifespan through to its shutdown (the flusher's last flush, the async
        Redis client closed)."""
        self.portal.call(run_lifespan, self.app)


def run_async(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``anyio.run`` in a thread of its own: a session-wide browser (Playwright's sync API)
    keeps an event loop running in the main thread, where a second one cannot start."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = anyio.run(function, *args)
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


async def run_lifespan(app: Any) -> list[str]:
    """Startup then shutdown, as a server does; returns the app's answers."""
    sent: list[str] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "app": app}, receive, send)
    return sent


Api = FlaskApi | AsgiApi


@pytest.fixture
def enforcement(portal_app: Flask) -> Enforcement:
    return enforcement_for(portal_app)


@pytest.fixture
def clock(enforcement: Enforcement) -> FakeClock:
    fake = FakeClock()
    enforcement.clock = fake
    return fake


def _boom() -> dict[str, bool]:
    raise RuntimeError("the handler failed")


@pytest.fixture(params=["flask", "fastapi"])
def api(
    request: pytest.FixtureRequest, app_config: dict[str, Any], enforcement: Enforcement
) -> Iterator[Api]:
    """The example API on one adapter, plus GET /api/boom, a metered route that raises."""
    if request.param == "flask":
        from portal.enforcement import metered

        flask_app = create_api_app(app_config, enforcement=enforcement)
        flask_app.add_url_rule("/api/boom", "boom", metered(_boom))
        yield FlaskApi(flask_app)
    else:
        fastapi_app = create_fastapi_app(enforcement=enforcement)
        fastapi_app.add_api_route("/api/boom", _boom)
        with start_blocking_portal() as portal:
            asgi = AsgiApi(fastapi_app, portal)
            yield asgi
            asgi.shut_down()
