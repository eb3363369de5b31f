"""A tier change (webhook, upgrade, another process) reaches the API within 5 seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.enforcement import Enforcement
from portal.extensions import db
from portal.models import Tenant
from portal.plans import PricingTier
from tests.enforcement.support import FakeClock
from tests.factory import Account


def tier_seen(client: FlaskClient, account: Account) -> str:
    return client.get("/api/memories", headers=account.headers).headers["X-Tier"]


def test_an_orm_tier_change_applies_to_the_next_call(
    portal_app: Flask,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("free")
    assert tier_seen(client, account) == "free"
    with portal_app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        tenant.set_tier(PricingTier.PRO)
        db.session.commit()
    assert tier_seen(client, account) == "pro"


def test_a_change_the_orm_never_saw_applies_within_5_seconds(
    enforcement: Enforcement,
    client: FlaskClient,
    make_account: Callable[..., Account],
    clock: FakeClock,
) -> None:
    account = make_account("free")
    assert tier_seen(client, account) == "free"
    with enforcement.engine.begin() as connection:  # as another process or host would
        connection.execute(
            sa.update(Tenant)
            .where(Tenant.id == account.tenant_id)
            .values(tier="enterprise", tier_version=Tenant.tier_version + 1)
        )
    changed = time.monotonic()
    while tier_seen(client, account) != "enterprise":
        assert time.monotonic() - changed < 5.0
        time.sleep(0.1)
