"""Teams and webhooks: a tier change Stripe reports is in the team's activity log as Stripe's,
and the downgrade email goes to the owners and billing members, not to developers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.teams.models import TeamActivity
from tests.factory import Factory

from .conftest import Billing


def test_a_stripe_downgrade_is_logged_as_stripe_and_mailed_to_billing_roles(
    smtp_server: Any, billing: Billing, factory: Factory
) -> None:
    owner = factory.account(name="Acme")
    factory.member(owner.tenant_id, "billing", "finance@example.com")
    factory.member(owner.tenant_id, "developer", "dev@example.com")
    sub_id = billing.subscribe(owner.tenant_id)
    billing.send("customer.subscription.created", billing.subscription_json(sub_id))
    billing.stripe.v1.subscriptions.cancel(sub_id)
    assert (
        billing.send("customer.subscription.deleted", billing.subscription_json(sub_id)).status_code
        == 200
    )
    with billing.app.app_context():
        entries = db.session.execute(
            sa.select(TeamActivity.actor_email, TeamActivity.subject)
            .where(TeamActivity.tenant_id == owner.tenant_id)
            .order_by(TeamActivity.id)
        ).all()
    assert entries == [("Stripe", "free → pro"), ("Stripe", "pro → free")]
    mails = smtp_server.wait_for(2)
    assert sorted(str(m["To"]) for m in mails) == [owner.email, "finance@example.com"]
