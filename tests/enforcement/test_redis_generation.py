"""With Redis, a tier change made in one process reaches the others on their next call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.enforcement import Enforcement
from portal.models import Tenant
from tests.enforcement.support import FakeClock
from tests.factory import Account


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
