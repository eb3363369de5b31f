"""The test factory makes what the portal itself would store, or every other test proves less."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from portal.db import utcnow
from portal.extensions import db
from portal.keys.api_keys import find_active_key
from portal.models import Tenant
from tests.conftest import AuthActions
from tests.factory import Factory


@pytest.mark.both_dbs
def test_an_account_signs_in_through_the_real_form(
    app: Flask, factory: Factory, auth: AuthActions
) -> None:
    account = factory.account()
    assert account.email == "owner@example.com"
    assert auth.login().status_code == 302
    assert account.email in auth.client.get("/keys").get_data(as_text=True)


@pytest.mark.both_dbs
def test_the_key_is_a_real_key_of_the_tenant(app: Flask, factory: Factory) -> None:
    account = factory.account("pro", name="Acme", overrides={"api_calls_per_day": 7}, key=True)
    with app.app_context():
        api_key = find_active_key(account.key)
        assert api_key is not None and api_key.id == account.key_id
        tenant = account.tenant()
        assert api_key.tenant_id == tenant.id
        assert (tenant.name, tenant.tier) == ("Acme", "pro")
        assert tenant.limits.api_calls_per_day == 7
    assert account.email == "acme@example.com"
    assert account.headers == {"X-API-Key": account.key}


def test_the_client_is_signed_in_as_the_owner_only(factory: Factory) -> None:
    mine, theirs = factory.account(), factory.account()
    assert theirs.email == "owner-2@example.com"
    page = mine.client.get("/keys")
    assert page.status_code == 200
    assert mine.email in page.get_data(as_text=True)
    assert theirs.email not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("status", "days_left", "tier"),
    [("active", 20, "pro"), ("trialing", 20, "pro"), ("canceled", -1, "free")],
)
def test_a_subscription_sets_the_tier_as_sync_would(
    app: Flask, factory: Factory, status: str, days_left: int, tier: str
) -> None:
    account = factory.account()
    sub = factory.subscription(
        account.tenant_id, status, period_end=utcnow() + timedelta(days=days_left)
    )
    assert (sub.status, sub.tenant_id) == (status, account.tenant_id)
    with app.app_context():
        assert db.session.get(Tenant, account.tenant_id).tier == tier


def test_account_without_key_has_no_headers(factory: Factory) -> None:
    with pytest.raises(AssertionError, match="without a key"):
        _ = factory.account().headers
