"""Fixtures for the enforcement tests: the example API served beside the portal, tenants with
keys (from the shared factory), a clock to travel in time, and Redis settings private to each
test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from examples.continuum_api import create_api_app
from portal import create_app
from portal.enforcement import Enforcement, enforcement_for
from portal.enforcement.stores.base import CounterStore
from portal.enforcement.stores.memory import DaySeed, MemoryStore, PeriodSeed
from portal.extensions import db
from tests.enforcement.support import FakeClock, redis_store
from tests.factory import Account, Factory


@pytest.fixture
def redis_settings(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """REDIS_URL plus a key prefix used by this test only; its keys are deleted afterwards.

    The timeout is generous: on a busy test machine a 100 ms one turns slow replies into 503s,
    which the Redis-down tests cover on their own.
    """
    url: str = request.getfixturevalue("redis_url")
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield {"REDIS_URL": url, "ENFORCEMENT_REDIS_PREFIX": prefix, "ENFORCEMENT_REDIS_TIMEOUT": 2.0}
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


StoreMaker = Callable[..., CounterStore]


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Iterator[StoreMaker]:
    """Makes counter stores of one kind (the test runs once per kind): ``make_store(day_seed=,
    period_seed=)``, closed after the test. Redis stores share the test's key prefix."""
    with ExitStack() as stack:

        def make(day_seed: DaySeed | None = None, period_seed: PeriodSeed | None = None) -> Any:
            if request.param == "memory":
                return MemoryStore(day_seed, period_seed)
            settings: dict[str, Any] = request.getfixturevalue("redis_settings")
            return stack.enter_context(redis_store(settings, day_seed, period_seed))

        yield make


@pytest.fixture
def store(make_store: StoreMaker) -> CounterStore:
    """A counter store without seeds, in memory and on Redis."""
    return make_store()


@pytest.fixture
def portal_app(app_config: dict[str, Any]) -> Iterator[Flask]:
    portal = create_app(app_config)
    yield portal
    enforcement_for(portal).stop()
    with portal.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(portal_app: Flask, app_config: dict[str, Any]) -> Flask:
    """The example CONTINUUM API, sharing the portal's enforcement runtime and database."""
    return create_api_app(app_config, enforcement=enforcement_for(portal_app))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client of the example API (JSON and API keys: no forms, no CSRF tokens)."""
    return app.test_client()


@pytest.fixture
def enforcement(app: Flask) -> Enforcement:
    return enforcement_for(app)


@pytest.fixture
def clock(enforcement: Enforcement) -> FakeClock:
    fake = FakeClock()
    enforcement.clock = fake
    return fake


@pytest.fixture
def factory(portal_app: Flask) -> Factory:
    """The test-data factory on the portal app: ``app`` here is the example API, which keeps no
    ORM session of its own."""
    return Factory(portal_app)


@pytest.fixture
def make_account(factory: Factory) -> Callable[..., Account]:
    """A tenant on ``tier`` (with enterprise ``overrides``), its owner and one API key."""

    def make(tier: str = "free", overrides: dict[str, int] | None = None) -> Account:
        return factory.account(tier, overrides=overrides, key=True)

    return make
