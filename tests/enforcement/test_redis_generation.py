"""With Redis, a tier or overage change made in one process reaches the others on their next
call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.enforcement import Enforcement
from portal.models import Tenant
from tests.enforcement.support import FakeClock, pro_account, set_overage
from tests.factory import Account, Factory


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_settings: dict[str, Any]) -> dict[str, Any]:
    app_config.update(redis_settings)
    return app_config


def test_a_generation_bump_drops_other_processes_cached_tier(
    app: Flask,
    enforcement: Enforcement,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("free")
    other = Enforcement.from_settings(app.config)  # another process: its own cache, engine, Redis
    other.clock = clock
    with app.app_context():
        policy = other.directory.policy(account.tenant_id)
        assert policy is not None and policy.tier == "free"
        other.admit(policy, ["api_calls"])  # learns the current generation
        with enforcement.engine.begin() as connection:
            connection.execute(
                sa.update(Tenant).where(Tenant.id == account.tenant_id).values(tier="pro")
            )
        enforcement.directory.tenant_changed(account.tenant_id)  # what after_commit does
        cached = other.directory.policy(account.tenant_id)
        assert cached is not None and cached.tier == "free"  # still cached...
        other.admit(cached, ["api_calls"])  # ...until the next admission shows the new generation
        refreshed = other.directory.policy(account.tenant_id)
        assert refreshed is not None and refreshed.tier == "pro"
    other.stop()


def test_a_commit_that_changes_only_the_overage_settings_reaches_other_processes(
    app: Flask,
    enforcement: Enforcement,
    factory: Factory,
    clock: FakeClock,
) -> None:
    account = pro_account(factory, cap_cents=100)
    other = Enforcement.from_settings(app.config)
    other.clock = clock
    other.directory.detach()  # as in another process, it hears of ORM commits through Redis only
    with app.app_context():
        policy = other.directory.policy(account.tenant_id)
        assert policy is not None and policy.overage is not None
        assert (policy.overage.enabled, policy.overage.cap_cents) == (True, 100)
        other.admit(policy, ["api_calls"])  # learns the current generation
        set_overage(factory.app, account.tenant_id, enabled=False, cap_cents=5_000)
        cached = other.directory.policy(account.tenant_id)
        assert cached is not None and cached.overage is not None
        assert cached.overage.cap_cents == 100  # still cached...
        other.admit(cached, ["api_calls"])  # ...until the next admission shows the new generation
        refreshed = other.directory.policy(account.tenant_id)
        assert refreshed is not None and refreshed.overage is not None
        assert (refreshed.overage.enabled, refreshed.overage.cap_cents) == (False, 5_000)
    other.stop()
