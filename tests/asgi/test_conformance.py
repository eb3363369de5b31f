"""One conformance suite for both adapters (Flask decorators, ASGI middlewares and FastAPI
dependencies) on both stores: the same limits, bodies, headers and counting rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.enforcement import Enforcement
from portal.enforcement.engine import day_window
from portal.enforcement.lifecycle import endpoint_outcomes
from portal.extensions import db
from portal.models import Tenant, UsageCounter
from portal.plans import TIER_LIMITS, PricingTier
from tests.asgi.conftest import Answer, Api
from tests.enforcement.support import FakeClock, pro_account
from tests.factory import Account, Factory

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
FREE = TIER_LIMITS[PricingTier.FREE]


def memories(api: Api, account: Account) -> Answer:
    return api.call("GET", "/api/memories", headers=account.headers)


def test_the_minute_limit_at_its_boundary(
    api: Api, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    per_minute = FREE.api_calls_per_minute
    for used in range(1, per_minute + 1):
        answer = memories(api, account)
        assert answer.status == 200, used
        assert answer.headers["X-RateLimit-Remaining-Minute"] == str(per_minute - used)
        assert all(name in answer.headers for name in RATE_HEADERS)
    refused = memories(api, account)
    assert refused.status == 429
    assert refused.body == {
        "error": f"Rate limit exceeded ({per_minute} calls/minute)",
        "tier": "free",
        "upgrade_url": "/billing/upgrade",
    }
    assert refused.headers["Retry-After"] == "60"  # the clock stands on a minute boundary
    assert refused.headers["RateLimit"] == '"minute";r=0;t=60'
    assert refused.headers["RateLimit-Policy"] == (
        f'"minute";q={per_minute};w=60, "day";q={FREE.api_calls_per_day};w=86400'
    )
    clock.advance(60)
    assert memories(api, account).status == 200


def test_the_day_limit_at_its_boundary(
    api: Api, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    for _ in range(FREE.api_calls_per_day):
        assert memories(api, account).status == 200
        clock.advance(7)  # 100 calls over 700 s: never the minute's limit
    refused = memories(api, account)
    assert refused.status == 429
    assert refused.body is not None and "calls/day" in refused.body["error"]
    assert refused.headers["X-RateLimit-Remaining-Day"] == "0"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "An API key is required"),
        ({"Authorization": "Basic abc"}, "The Authorization header must be"),
        ({"X-API-Key": "nope"}, "That is not a CONTINUUM API key"),
        ({"X-API-Key": "ck_test_" + "a" * 43}, "This API key is unknown"),
    ],
)
def test_bad_keys_get_401(
    api: Api, clock: FakeClock, headers: dict[str, str], message: str
) -> None:
    answer = api.call("GET", "/api/memories", headers=headers)
    assert answer.status == 401
    assert answer.body["error"].startswith(message)
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="continuum"'


def test_unmetered_paths_need_no_key(api: Api) -> None:
    assert api.call("GET", "/health").status == 200
    assert api.call("GET", "/docs").status == 200


def test_every_answer_says_nosniff(api: Api, factory: Factory, clock: FakeClock) -> None:
    """Answers, refusals (401, 403) and streams alike, once (httpx joins repeats with commas)."""
    free, pro = factory.account("free", key=True), factory.account("pro", key=True)
    answers = [
        api.call("GET", "/health"),
        api.call("GET", "/api/memories", headers=pro.headers),
        api.call("GET", "/api/memories"),
        api.call("POST", "/api/federation", json={"memory_ids": []}, headers=free.headers),
        api.call("GET", "/api/realtime", headers=pro.headers),
    ]
    assert [answer.status for answer in answers] == [200, 200, 401, 403, 200]
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_free_403_on_federation_counts_nothing(
    api: Api, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    before = memories(api, account)
    for _ in range(FREE.api_calls_per_minute + 5):  # more than a minute's worth
        refused = api.call(
            "POST", "/api/federation", json={"memory_ids": []}, headers=account.headers
        )
        assert refused.status == 403
        assert refused.body == {
            "error": "Feature 'federation' not available on free tier",
            "feature": "federation",
            "current_tier": "free",
            "upgrade_url": "/billing/upgrade",
        }
        assert (
            refused.headers["X-RateLimit-Remaining-Day"]
            == before.headers["X-RateLimit-Remaining-Day"]
        )
        assert (
            refused.headers["X-RateLimit-Remaining-Minute"]
            == before.headers["X-RateLimit-Remaining-Minute"]
        )
    after = memories(api, account)
    assert after.status == 200
    assert int(after.headers["X-RateLimit-Remaining-Day"]) == FREE.api_calls_per_day - 2


def test_a_handler_that_raises_gives_500_and_its_quota_back(
    api: Api, make_account: Callable[..., Account], clock: FakeClock, enforcement: Enforcement
) -> None:
    account = make_account("free")
    first = memories(api, account)
    for _ in range(3):
        assert api.call("GET", "/api/boom", headers=account.headers).status == 500
    second = memories(api, account)
    assert int(second.headers["X-RateLimit-Remaining-Day"]) == (
        int(first.headers["X-RateLimit-Remaining-Day"]) - 1
    )
    assert enforcement.live_counts(account.tenant_id).concurrent == 0
    day = day_window(clock())
    outcomes = endpoint_outcomes(enforcement, account.tenant_id, "/api/boom", day, day)
    assert outcomes["server_error"] == 3 and outcomes["succeeded"] == 0


def test_a_full_storage_507_is_not_counted(
    api: Api, portal_app: Flask, factory: Factory, clock: FakeClock, enforcement: Enforcement
) -> None:
    account = factory.account("free", key=True)
    factory.storage(account.tenant_id, memories=FREE.memories)
    before = memories(api, account)
    refused = api.call("POST", "/api/memories", json={"content": "x"}, headers=account.headers)
    assert refused.status == 507
    assert refused.body["error"] == f"Storage limit exceeded ({FREE.memories} memories)"
    assert refused.body["tier"] == "free"
    after = memories(api, account)
    assert int(after.headers["X-RateLimit-Remaining-Day"]) == (
        int(before.headers["X-RateLimit-Remaining-Day"]) - 1
    )
    day = day_window(clock())
    outcomes = endpoint_outcomes(enforcement, account.tenant_id, "/api/memories", day, day)
    assert outcomes["refused_storage"] == 1
    assert outcomes["succeeded"] == 2  # the two GETs


def test_outcomes_reach_usage_counter(
    api: Api, make_account: Callable[..., Account], clock: FakeClock, enforcement: Enforcement
) -> None:
    account = make_account("free")
    assert memories(api, account).status == 200
    bad = api.call("GET", "/api/search", headers=account.headers)  # free has semantic search?
    api.call("POST", "/api/memories", json={"content": ""}, headers=account.headers)
    enforcement.flusher.flush()
    with enforcement.engine.connect() as connection:
        rows = dict(
            connection.execute(
                sa.select(UsageCounter.metric, UsageCounter.value).where(
                    UsageCounter.tenant_id == account.tenant_id
                )
            ).all()
        )
    assert rows["outcome:client_error:/api/memories"] == 1  # the empty memory's 400
    kind = "client_error" if bad.status == 400 else "refused_plan"
    assert rows[f"outcome:{kind}:/api/search"] == 1


def test_a_stream_ends_its_call(
    api: Api, factory: Factory, clock: FakeClock, enforcement: Enforcement
) -> None:
    account = factory.account("pro", key=True)
    answer = api.call("GET", "/api/realtime", headers=account.headers)
    assert answer.status == 200
    assert answer.headers["X-Tier"] == "pro"
    assert enforcement.live_counts(account.tenant_id).concurrent == 0


def test_a_tier_change_applies_to_the_next_call(
    api: Api, portal_app: Flask, make_account: Callable[..., Account], clock: FakeClock
) -> None:
    account = make_account("free")
    assert memories(api, account).headers["X-Tier"] == "free"
    with portal_app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        tenant.set_tier(PricingTier.PRO)
        db.session.commit()
    upgraded = memories(api, account)
    assert upgraded.headers["X-Tier"] == "pro"
    assert upgraded.headers["X-RateLimit-Limit-Day"] == str(
        TIER_LIMITS[PricingTier.PRO].api_calls_per_day
    )


def test_the_overage_cap_429(
    api: Api, factory: Factory, clock: FakeClock, enforcement: Enforcement
) -> None:
    account = pro_account(factory, per_day=2, cap_cents=1)  # 1 cent = 100 overage calls
    for _ in range(2 + 100):
        assert memories(api, account).status == 200
    refused = memories(api, account)
    assert refused.status == 429
    assert refused.body == {
        "error": "Monthly overage spend cap reached ($0.01)",
        "tier": "pro",
        "upgrade_url": "/billing/upgrade",
        "billing_url": "/billing/",
    }
    assert refused.headers["Retry-After"] == str(14 * 3600)
    assert refused.headers["X-Overage"].startswith("capped;used=100;remaining=0;")
