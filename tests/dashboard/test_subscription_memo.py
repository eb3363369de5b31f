"""``current_subscription`` is read once per request and tenant, and read again after the
request writes: the dashboard asks three times, the usage page twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.billing.subscriptions import current_subscription
from portal.extensions import db
from portal.models import Subscription, Tenant
from tests.dashboard.test_overage_card import overage_on
from tests.factory import Factory


def subscription_reads(app: Flask, call: Any) -> int:
    """How many SELECTs of the subscription table ``call()`` runs."""
    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM subscription" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    return len(seen)


@pytest.mark.both_dbs
@pytest.mark.parametrize("path", ["/", "/usage"])
def test_a_page_reads_the_subscription_once(
    app: Flask, factory: Factory, db_backend: str, path: str
) -> None:
    account, _, _ = overage_on(factory)

    def get() -> None:
        response = account.client.get(path)
        assert response.status_code == 200

    assert subscription_reads(app, get) == 1


def test_a_write_in_the_request_reads_the_subscription_again(app: Flask, factory: Factory) -> None:
    account = factory.account("pro", name="Acme")
    factory.subscription(account.tenant_id, "active", period_end=datetime.now(UTC) + timedelta(9))
    with app.test_request_context("/"):
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        first = current_subscription(tenant)
        assert first is not None and first.status == "active"
        assert current_subscription(tenant) is first
        assert subscription_reads(app, lambda: current_subscription(tenant)) == 0

        # A statement that writes (the webhook handlers update rows this way).
        db.session.execute(
            sa.update(Subscription).where(Subscription.id == first.id).values(status="past_due")
        )
        db.session.expire_all()
        assert subscription_reads(app, lambda: current_subscription(tenant)) == 1
        assert first.status == "past_due"

        # An unflushed change is flushed by the next read, which sees it.
        first.status = "canceled"
        assert subscription_reads(app, lambda: current_subscription(tenant)) == 1
        db.session.rollback()

        # A commit or a rollback forgets too.
        assert subscription_reads(app, lambda: current_subscription(tenant)) == 1
        db.session.commit()
        assert subscription_reads(app, lambda: current_subscription(tenant)) == 1


def test_outside_a_request_it_reads_every_time(app: Flask, factory: Factory) -> None:
    account = factory.account("pro", name="Acme")
    with app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        assert subscription_reads(app, lambda: current_subscription(tenant)) == 1
        assert subscription_reads(app, lambda: current_subscription(tenant)) == 1
