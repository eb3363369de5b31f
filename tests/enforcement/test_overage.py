"""Pro overage through the example API, on the embedded store and on Redis: past the daily quota
calls are billed up to the spend cap, then refused with the cap's body; other tiers never."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.enforcement import Enforcement, check_rate_limit, get_overage, record_storage_usage
from portal.enforcement.directory import TenantPolicy
from portal.models import Tenant
from tests.enforcement.support import (
    PERIOD,
    ROOMY,
    START,
    FakeClock,
    outbox,
    pro_account,
    set_overage,
    set_usage_period,
    sql_counter,
)
from tests.factory import Account, Factory

#: START to the next UTC midnight.
TO_MIDNIGHT = 14 * 3600
CAP_BODY = {
    "error": "Monthly overage spend cap reached ($1.00)",
    "tier": "pro",
    "upgrade_url": "/billing/upgrade",
    "billing_url": "/billing/",
}


@pytest.fixture(params=["memory", "redis"])
def app_config(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> dict[str, Any]:
    """Every test here runs on the embedded store and on Redis; usage is flushed when a test
    says so (``flusher.flush()``), so the outbox rows it finds are the batches it made."""
    if request.param == "redis":
        app_config.update(request.getfixturevalue("redis_settings"))
    app_config["USAGE_FLUSH_SECONDS"] = 3600
    return app_config


def call(client: FlaskClient, account: Account) -> Any:
    return client.get("/api/memories", headers=account.headers)


def overage(response: Any) -> tuple[str | None, int | None, int | None]:
    """The ``X-Overage`` field's state, calls used and calls remaining (Nones without it)."""
    value = response.headers.get("X-Overage")
    if value is None:
        return None, None, None
    state, *parameters = value.split(";")
    numbers = dict(parameter.split("=") for parameter in parameters)
    return state, int(numbers["used"]), int(numbers["remaining"])


def admit_directly(enforcement: Enforcement, account: Account, calls: int) -> list[int]:
    """``calls`` admissions through the runtime (what ``@metered`` does, without HTTP's cost);
    returns the overage count of each."""
    policy = enforcement.directory.policy(account.tenant_id)
    assert policy is not None
    counts = []
    for _ in range(calls):
        decision, admission = enforcement.admit(policy, ("api_calls",))
        assert decision.allowed and admission is not None and admission.lease is not None
        counts.append(admission.overage_calls)
        enforcement.release(account.tenant_id, admission.lease)
    return counts


def test_a_1_dollar_cap_admits_the_quota_plus_exactly_10000_calls(
    client: FlaskClient, enforcement: Enforcement, factory: Factory, clock: FakeClock
) -> None:
    account = pro_account(factory, per_day=20, cap_cents=100)
    for number in range(1, 21):
        response = call(client, account)
        assert response.status_code == 200 and "X-Overage" not in response.headers, number
    first = call(client, account)
    assert first.status_code == 200
    assert first.headers["X-Overage"] == f"billed;used=1;remaining=9999;reset={PERIOD[1]}"
    assert first.headers["X-RateLimit-Remaining-Day"] == "0"
    assert admit_directly(enforcement, account, 9_989) == list(range(2, 9_991))
    for used in range(9_991, 10_001):
        response = call(client, account)
        assert response.status_code == 200
        assert overage(response) == ("billed", used, 10_000 - used)
    refused = call(client, account)
    assert refused.status_code == 429
    assert refused.get_json() == CAP_BODY
    assert refused.headers["Retry-After"] == str(TO_MIDNIGHT)
    assert refused.headers["RateLimit"] == f'"day";r=0;t={TO_MIDNIGHT}'
    assert refused.headers["X-Overage"] == f"capped;used=10000;remaining=0;reset={PERIOD[1]}"
    assert call(client, account).get_json() == CAP_BODY  # refusals count nothing
    enforcement.flusher.flush()
    assert sql_counter(enforcement, account.tenant_id, "api_calls") == 10_020
    assert sql_counter(enforcement, account.tenant_id, "api_calls_overage") == 10_000
    assert outbox(enforcement, account.tenant_id) == [(PERIOD[0], 10_000, int(START))]


def test_overage_off_refuses_at_the_quota_as_before(
    client: FlaskClient, factory: Factory, clock: FakeClock
) -> None:
    account = pro_account(factory, per_day=5)
    set_overage(factory.app, account.tenant_id, enabled=False)
    for _ in range(5):
        assert call(client, account).status_code == 200
    refused = call(client, account)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "Rate limit exceeded (5 calls/day)"
    assert "X-Overage" not in refused.headers


@pytest.mark.parametrize("tier", ["free", "enterprise"])
def test_other_tiers_never_get_overage_even_with_the_flag_set(
    client: FlaskClient, factory: Factory, clock: FakeClock, tier: str
) -> None:
    account = factory.account(tier, overrides={**ROOMY, "api_calls_per_day": 3}, key=True)
    set_overage(factory.app, account.tenant_id, cap_cents=1_000_000)
    for _ in range(3):
        assert call(client, account).status_code == 200
    refused = call(client, account)
    assert refused.status_code == 429
    assert refused.get_json() == {
        "error": "Rate limit exceeded (3 calls/day)",
        "tier": tier,
        "upgrade_url": "/billing/upgrade",
    }


def test_the_minute_limit_holds_past_the_quota(
    client: FlaskClient, factory: Factory, clock: FakeClock
) -> None:
    account = pro_account(factory, per_day=2, api_calls_per_minute=5)
    statuses = [call(client, account) for _ in range(6)]
    assert [overage(r)[1] for r in statuses[:5]] == [None, None, 1, 2, 3]
    assert statuses[5].status_code == 429
    assert statuses[5].get_json()["error"] == "Rate limit exceeded (5 calls/minute)"
    clock.advance(60)
    assert overage(call(client, account))[1] == 4


def test_the_concurrency_limit_holds_past_the_quota(
    enforcement: Enforcement, factory: Factory, clock: FakeClock
) -> None:
    account = pro_account(factory, per_day=1, concurrent_requests=2)
    policy = enforcement.directory.policy(account.tenant_id)
    assert policy is not None
    held = [enforcement.admit(policy, ("api_calls",)) for _ in range(2)]
    assert [admission.billed for _, admission in held] == [False, True]  # type: ignore[union-attr]
    refused, _ = enforcement.admit(policy, ("api_calls",))
    assert refused.limit == "concurrent"
    enforcement.release(account.tenant_id, held[1][1].lease)  # type: ignore[union-attr, arg-type]
    decision, admission = enforcement.admit(policy, ("api_calls",))
    assert decision.allowed and admission is not None and admission.overage_calls == 2


def test_the_cap_resets_when_the_period_renews(
    client: FlaskClient, enforcement: Enforcement, factory: Factory, clock: FakeClock
) -> None:
    """The period ends at 11:00 today: the day's quota is still spent, the cap starts over,
    before the renewal webhook (rolled forward a month) and after it (the mirror's new period)."""
    end = START + 3600
    start = end - 30 * 86_400
    account = pro_account(factory, per_day=5, cap_cents=1, period=(start, end))  # 100 calls
    admit_directly(enforcement, account, 5 + 100)
    assert call(client, account).status_code == 429
    clock.advance(3600)
    renewed = call(client, account)
    assert overage(renewed)[1] == 1
    next_end = end + 30 * 86_400  # a month on: Nov 21 11:00 to Dec 21 11:00
    assert renewed.headers["X-Overage"].endswith(f";reset={int(next_end)}")
    sub_id = factory.subscription(account.tenant_id).id  # the renewal, mirrored by the webhook
    set_usage_period(factory.app, sub_id, end, next_end)
    assert overage(call(client, account))[1] == 2
    enforcement.flusher.flush()
    assert outbox(enforcement, account.tenant_id) == [  # one batch: one row per period
        (int(start), 100, int(end) - 1),  # flushed after its period: stamped at its last second
        (int(end), 2, int(end)),
    ]


def test_a_cap_change_or_switching_off_applies_to_the_next_call(
    client: FlaskClient, enforcement: Enforcement, factory: Factory, clock: FakeClock
) -> None:
    account = pro_account(factory, per_day=0, cap_cents=1)
    admit_directly(enforcement, account, 100)
    assert call(client, account).status_code == 429
    set_overage(factory.app, account.tenant_id, cap_cents=2)  # a Tenant commit: overage only
    raised = call(client, account)
    assert (raised.status_code, overage(raised)) == (200, ("billed", 101, 99))
    set_overage(factory.app, account.tenant_id, enabled=False, cap_cents=2)
    assert call(client, account).get_json()["error"] == "Rate limit exceeded (0 calls/day)"


def test_a_cap_change_made_elsewhere_applies_within_2_seconds(
    client: FlaskClient, enforcement: Enforcement, factory: Factory, clock: FakeClock
) -> None:
    account = pro_account(factory, per_day=0, cap_cents=1)
    admit_directly(enforcement, account, 100)
    assert call(client, account).status_code == 429
    with enforcement.engine.begin() as connection:  # as another host would, unseen by the ORM
        connection.execute(
            sa.update(Tenant).where(Tenant.id == account.tenant_id).values(overage_cap_cents=2)
        )
    changed = time.monotonic()
    while call(client, account).status_code == 429:
        assert time.monotonic() - changed < 2.5
        time.sleep(0.1)


def test_calls_our_gates_refuse_are_neither_counted_nor_billed(
    app: Flask, client: FlaskClient, factory: Factory, clock: FakeClock
) -> None:
    account = pro_account(factory, per_day=0)
    with app.app_context():
        record_storage_usage(account.tenant_id, 100_000, 0, 0)  # at the memories limit
    refused = client.post("/api/memories", json={"content": "x"}, headers=account.headers)
    assert refused.status_code == 507
    assert "X-Overage" not in refused.headers
    assert refused.headers["X-RateLimit-Remaining-Minute"] == str(10**6)  # not counted
    assert overage(call(client, account))[1] == 1
    free = factory.account("free", key=True)
    forbidden = client.post("/api/federation", json={"memory_ids": []}, headers=free.headers)
    assert forbidden.status_code == 403
    assert forbidden.headers["X-RateLimit-Remaining-Day"] == "100"


def test_the_plain_functions_see_the_overage(
    app: Flask, enforcement: Enforcement, factory: Factory, clock: FakeClock
) -> None:
    account = pro_account(factory, per_day=2, cap_cents=1)
    admit_directly(enforcement, account, 2 + 40)
    with app.app_context():
        assert check_rate_limit(account.tenant_id, "pro") == (True, None)
        status = get_overage(account.tenant_id)
        assert status is not None and (status.calls, status.remaining) == (40, 60)
        assert (status.window.period_start, status.window.period_end) == PERIOD
        enforcement.flusher.flush()
        assert get_overage(account.tenant_id) == status  # the outbox now, not the store
        admit_directly(enforcement, account, 60)
        assert check_rate_limit(account.tenant_id, "pro") == (
            False,
            "Monthly overage spend cap reached ($0.01)",
        )
        assert get_overage(factory.account("free").tenant_id) is None


def test_only_pro_policies_carry_overage_terms(
    enforcement: Enforcement, factory: Factory, make_account: Callable[..., Account]
) -> None:
    pro = pro_account(factory, cap_cents=2_500)
    policies: list[TenantPolicy | None] = [
        enforcement.directory.policy(account.tenant_id)
        for account in (pro, make_account("free"), make_account("enterprise"))
    ]
    terms = policies[0].overage  # type: ignore[union-attr]
    assert terms is not None and (terms.enabled, terms.allowance) == (True, 250_000)
    assert (terms.mirror_start, terms.mirror_end) == PERIOD
    assert [policy.overage for policy in policies[1:]] == [None, None]  # type: ignore[union-attr]


def test_a_restarted_store_starts_the_period_from_the_outbox(
    app: Flask,
    app_config: dict[str, Any],
    enforcement: Enforcement,
    factory: Factory,
    clock: FakeClock,
) -> None:
    """A new process (and, on Redis, one whose data was lost) counts on from SQL."""
    account = pro_account(factory, per_day=0, cap_cents=1)
    policy = enforcement.directory.policy(account.tenant_id)
    assert policy is not None
    for _ in range(30):
        _, admission = enforcement.admit(policy, ("api_calls",))
        enforcement.release(account.tenant_id, admission.lease)  # type: ignore[union-attr, arg-type]
    enforcement.flusher.flush()
    if app_config.get("REDIS_URL"):
        client = redis.Redis.from_url(app_config["REDIS_URL"])
        client.delete(*client.scan_iter(f"{app_config['ENFORCEMENT_REDIS_PREFIX']}*"))
        client.close()
    restarted = Enforcement.from_settings(app.config)
    restarted.clock = clock
    try:
        with app.app_context():
            fresh = restarted.directory.policy(account.tenant_id)
            assert fresh is not None
            decision, admission = restarted.admit(fresh, ("api_calls",))
        assert admission is not None
        assert (admission.day_count, admission.overage_calls) == (31, 31)
        assert decision.headers["X-Overage"].startswith("billed;used=31;remaining=69;")
    finally:
        restarted.stop()
