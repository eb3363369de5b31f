"""Two installations (two databases) sharing one Stripe account never collide on customer
idempotency keys: each key names its installation's random namespace (issue 12, item 8)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from portal import create_app
from portal.billing.customers import ensure_customer
from portal.extensions import db
from portal.installation import Installation, installation_namespace
from portal.models import Tenant
from tests.factory import Factory


def _customer_for_first_tenant(app: Any, email: str) -> str:
    factory = Factory(app)
    account = factory.account(email=email)
    with app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        return ensure_customer(tenant)


def test_two_databases_on_one_stripe_account_get_their_own_customers(
    app, app_config, sqlite_template: Path, tmp_path: Path
):
    other_path = tmp_path / "other.sqlite3"
    shutil.copyfile(sqlite_template, other_path)
    other = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{other_path}"})
    try:
        # Both databases are fresh: both first tenants have id 1.
        first = _customer_for_first_tenant(app, "one@example.com")
        second = _customer_for_first_tenant(other, "two@example.com")
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    assert first != second


def test_the_namespace_is_made_once_and_kept(app):
    with app.app_context():
        namespace = installation_namespace()
        app.extensions.pop("continuum.installation")
        assert installation_namespace() == namespace
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Installation)) == 1
    assert len(namespace) == 16
