"""A clock for the enforcement tests to travel in time with, and tenant settings they change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from portal.enforcement.stores.memory import DaySeed, PeriodSeed
from portal.enforcement.stores.redis import RedisStore, connect
from portal.extensions import db
from portal.models import Subscription, Tenant

#: 2026-11-21 10:00:00 UTC, on a minute boundary: tests add seconds to it.
START = 1_795_255_200.0


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
