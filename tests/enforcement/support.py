"""Shared pieces of the enforcement tests: a clock to travel in time with, the tenant settings
they change, a Redis store on the test's prefix, and what SQL recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from portal.enforcement import Enforcement
from portal.enforcement.stores.memory import DaySeed, PeriodSeed
from portal.enforcement.stores.redis import RedisStore, connect
from portal.extensions import db
from portal.models import MeterReport, Subscription, Tenant, UsageCounter
from tests.factory import Account, Factory

#: 2026-11-21 10:00:00 UTC, on a minute boundary: tests add seconds to it.
START = 1_795_255_200.0

#: The metered item's period around START (2026-11-21 10:00 UTC): Nov 15 to Dec 15.
PERIOD = (1_794_700_800, 1_797_292_800)
ROOMY = {"api_calls_per_minute": 10**6, "concurrent_requests": 1000}


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def set_overage(app: Flask, tenant_id: int, *, enabled: bool = True, cap_cents: int = 100) -> None:
    """Turn the tenant's overage on or off with a spend cap, committed through the ORM as the
    billing page does (so the enforcement caches hear about it at once)."""
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.overage_enabled = enabled
        tenant.overage_cap_cents = cap_cents
        db.session.commit()


def set_usage_period(app: Flask, subscription_id: int, start: float, end: float) -> None:
    """Mirror a metered item's current period onto the subscription row (as a sync would)."""
    with app.app_context():
        sub = db.session.get(Subscription, subscription_id)
        assert sub is not None
        sub.usage_period_start = datetime.fromtimestamp(start, UTC)
        sub.usage_period_end = datetime.fromtimestamp(end, UTC)
        db.session.commit()


@contextmanager
def redis_store(
    settings: dict[str, Any],
    day_seed: DaySeed | None = None,
    period_seed: PeriodSeed | None = None,
) -> Iterator[RedisStore]:
    """A Redis store on the test's own key prefix (``redis_settings``), closed afterwards."""
    client = connect(settings["REDIS_URL"], settings["ENFORCEMENT_REDIS_TIMEOUT"])
    store = RedisStore(client, settings["ENFORCEMENT_REDIS_PREFIX"], day_seed, period_seed)
    try:
        yield store
    finally:
        store.close()


def pro_account(
    factory: Factory,
    *,
    per_day: int = 20,
    cap_cents: int = 100,
    period: tuple[float, float] = PERIOD,
    **limits: int,
) -> Account:
    """A Pro tenant with a subscription whose metered item's period is ``period``, overage on
    with ``cap_cents``, and ``per_day`` calls a day (a small quota keeps the tests fast)."""
    overrides = {**ROOMY, "api_calls_per_day": per_day, **limits}
    account = factory.account("pro", overrides=overrides, key=True)
    sub = factory.subscription(account.tenant_id)
    set_usage_period(factory.app, sub.id, *period)
    set_overage(factory.app, account.tenant_id, cap_cents=cap_cents)
    return account


def sql_counter(enforcement: Enforcement, tenant_id: int, metric: str) -> int:
    query = sa.select(sa.func.coalesce(sa.func.sum(UsageCounter.value), 0)).where(
        UsageCounter.tenant_id == tenant_id, UsageCounter.metric == metric
    )
    with enforcement.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def outbox(enforcement: Enforcement, tenant_id: int) -> list[tuple[int, int, int]]:
    """The tenant's outbox rows: (period start, quantity, event time)."""
    query = (
        sa.select(MeterReport.period_start, MeterReport.quantity, MeterReport.event_time)
        .where(MeterReport.tenant_id == tenant_id)
        .order_by(MeterReport.id)
    )
    with enforcement.engine.connect() as connection:
        return [
            (row.period_start, row.quantity, row.event_time) for row in connection.execute(query)
        ]
