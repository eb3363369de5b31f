"""Every limit of every tier at its exact boundary, through the example API's decorators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from portal.enforcement import Enforcement
from portal.enforcement.metering import day_to_date
from portal.models import UsageCounter
from portal.plans import TIER_LIMITS, PricingTier
from tests.enforcement.support import FakeClock
from tests.factory import Account, Factory


@pytest.fixture(params=["memory", "redis"])
def app_config(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> dict[str, Any]:
    """Every test here runs on the embedded store and on Redis."""
    if request.param == "redis":
        app_config.update(request.getfixturevalue("redis_settings"))
    return app_config


RATE_HEADERS = (
    "X-RateLimit-Limit-Day",
    "X-RateLimit-Limit-Minute",
    "X-RateLimit-Remaining-Day",
    "X-RateLimit-Remaining-Minute",
    "X-RateLimit-Reset",
    "X-Tier",
    "X-Request-Duration-Ms",
    "RateLimit-Policy",
    "RateLimit",
)
TIERS = [tier.value for tier in PricingTier]


def call(client: FlaskClient, account: Account, path: str = "/api/memories") -> Any:
    return client.get(path, headers=account.headers)


def seed_calls_today(factory: Factory, account: Account, clock: FakeClock, calls: int) -> None:
    """Calls already made today, as a previous run of the process left them in SQL."""
    factory.usage(account.tenant_id, "api_calls", calls, day_to_date(int(clock()) // 86_400))


@pytest.mark.parametrize("tier", TIERS)
def test_minute_limit_admits_exactly_the_limit(
    client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock, tier: str
) -> None:
    limit = TIER_LIMITS[PricingTier(tier)].api_calls_per_minute
    account = make_account(tier)
    for number in range(1, limit + 1):
        response = call(client, account)
        assert response.status_code == 200, number
    assert response.headers["X-RateLimit-Remaining-Minute"] == "0"
    refused = call(client, account)
    assert refused.status_code == 429
    assert refused.get_json() == {
        "error": f"Rate limit exceeded ({limit} calls/minute)",
        "tier": tier,
        "upgrade_url": "/billing/upgrade",
    }
    assert refused.headers["Retry-After"] == "60"
    assert refused.headers["RateLimit"] == '"minute";r=0;t=60'


def test_free_day_limit_the_100th_call_passes_and_the_101st_is_refused(
    client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    for minute in range(10):
        for _ in range(10):
            assert call(client, account).status_code == 200, (minute, clock())
        clock.advance(60)
    refused = call(client, account)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "Rate limit exceeded (100 calls/day)"
    assert refused.headers["X-RateLimit-Remaining-Day"] == "0"
    assert refused.headers["X-RateLimit-Remaining-Minute"] == "10"
    assert refused.headers["Retry-After"] == str(86_400 - 36_000 - 600)  # 10:10 UTC


@pytest.mark.parametrize("tier", TIERS)
def test_day_limit_boundary_of_every_tier(
    factory: Factory,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
    tier: str,
) -> None:
    limit = TIER_LIMITS[PricingTier(tier)].api_calls_per_day
    account = make_account(tier)
    seed_calls_today(factory, account, clock, limit - 1)
    last = call(client, account)
    assert last.status_code == 200
    assert last.headers["X-RateLimit-Remaining-Day"] == "0"
    refused = call(client, account)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == f"Rate limit exceeded ({limit} calls/day)"
    assert refused.headers["RateLimit"].startswith('"day";r=0;')


def test_enterprise_overrides_replace_the_tier_limits(
    client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("enterprise", {"api_calls_per_minute": 3, "api_calls_per_day": 5000})
    assert [call(client, account).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = call(client, account)
    assert refused.get_json()["error"] == "Rate limit exceeded (3 calls/minute)"
    assert refused.headers["X-RateLimit-Limit-Day"] == "5000"
    assert refused.headers["RateLimit-Policy"] == '"minute";q=3;w=60, "day";q=5000;w=86400'


def test_the_minute_window_resets_on_the_next_minute(
    client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    clock.advance(45)
    for _ in range(10):
        assert call(client, account).status_code == 200
    refused = call(client, account)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "15"
    clock.advance(14.5)
    assert call(client, account).status_code == 429
    clock.advance(0.5)
    again = call(client, account)
    assert again.status_code == 200
    assert again.headers["X-RateLimit-Remaining-Minute"] == "9"
    assert again.headers["X-RateLimit-Remaining-Day"] == "89"


def test_the_day_window_resets_at_utc_midnight(
    factory: Factory,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("free")
    seed_calls_today(factory, account, clock, 100)
    assert call(client, account).status_code == 429
    clock.advance(86_400 - 36_000 - 1)  # 23:59:59 UTC
    assert call(client, account).status_code == 429
    clock.advance(1)
    fresh = call(client, account)
    assert fresh.status_code == 200
    assert fresh.headers["X-RateLimit-Remaining-Day"] == "99"


def test_every_metered_response_carries_the_headers(
    client: FlaskClient, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("pro")
    clock.advance(47)
    ok = call(client, account)
    forbidden = client.get("/api/search?q=x", headers=make_account("free").headers)
    for response in (ok, forbidden):
        for header in RATE_HEADERS:
            assert header in response.headers, header
    assert ok.headers["X-Tier"] == "pro"
    assert ok.headers["X-RateLimit-Limit-Minute"] == "100"
    assert ok.headers["X-RateLimit-Limit-Day"] == "10000"
    assert ok.headers["X-RateLimit-Remaining-Minute"] == "99"
    assert ok.headers["X-RateLimit-Reset"] == str(int(clock()) - 47 + 60)
    assert ok.headers["RateLimit-Policy"] == '"minute";q=100;w=60, "day";q=10000;w=86400'
    assert ok.headers["RateLimit"] == '"minute";r=99;t=13'
    assert float(ok.headers["X-Request-Duration-Ms"]) >= 0
    assert "Retry-After" not in ok.headers


def test_health_is_not_metered(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert "X-RateLimit-Limit-Day" not in response.headers


def test_refused_calls_are_not_counted(
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
    enforcement: Enforcement,
) -> None:
    account = make_account("free")
    statuses = [call(client, account).status_code for _ in range(15)]
    assert statuses.count(200) == 10
    enforcement.flusher.flush()
    with enforcement.engine.connect() as connection:
        rows = dict(
            connection.execute(
                sa.select(UsageCounter.metric, UsageCounter.value).where(
                    UsageCounter.tenant_id == account.tenant_id
                )
            ).all()
        )
    # The five refusals are not calls: only their outcome is recorded.
    assert rows == {
        "api_calls": 10,
        "api_calls:/api/memories": 10,
        "outcome:refused_rate_limit:/api/memories": 5,
    }


@pytest.mark.parametrize("tier", TIERS)
def test_concurrency_limit_boundary_of_every_tier(
    app: Any,
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    clock: FakeClock,
    tier: str,
) -> None:
    limits = TIER_LIMITS[PricingTier(tier)]
    account = make_account(tier)
    with app.app_context():
        policy = enforcement.directory.policy(account.tenant_id)
    assert policy is not None
    held = [enforcement.admit(policy, ["api_calls"]) for _ in range(limits.concurrent_requests)]
    assert all(decision.allowed for decision, _ in held)
    refused, _ = enforcement.admit(policy, ["api_calls"])
    assert refused.status == 429
    assert refused.body == {
        "error": f"Rate limit exceeded ({limits.concurrent_requests} concurrent requests)",
        "tier": tier,
        "upgrade_url": "/billing/upgrade",
    }
    _, first = held[0]
    assert first is not None and first.lease is not None
    enforcement.release(account.tenant_id, first.lease)
    assert enforcement.admit(policy, ["api_calls"])[0].allowed
