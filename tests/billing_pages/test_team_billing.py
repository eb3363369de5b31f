"""Billing by a team's billing member: they upgrade, cancel and resume; each plan change is in
the team's activity log under their name; a developer of the same team is refused all of it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from billing_support import upgrade_through_checkout, use_simulator

from portal.extensions import db
from portal.teams.models import TeamActivity
from tests.factory import Account


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    return use_simulator(app_config, sim)


def test_billing_member_changes_the_plan_and_the_log_says_so(
    account: Account, factory: Any, sim: Any
) -> None:
    finance = factory.member(account.tenant_id, "billing", "finance@example.com")
    dev = factory.member(account.tenant_id, "developer", "dev@example.com")
    upgrade_through_checkout(finance, sim, "month")
    assert finance.post("/billing/cancel").status_code == 303
    assert finance.post("/billing/resume").status_code == 303
    for path in ("/billing/cancel", "/billing/checkout", "/billing/portal"):
        refused = dev.post(path)
        assert refused.status_code == 403
        assert "does not include billing" in refused.get_data(as_text=True)
    with account.app.app_context():
        entries = db.session.execute(
            sa.select(TeamActivity.actor_email, TeamActivity.subject)
            .where(TeamActivity.action == "plan_changed")
            .order_by(TeamActivity.id)
        ).all()
    assert entries == [
        ("finance@example.com", "free → pro"),
        ("finance@example.com", "cancellation at the end of the period"),
        ("finance@example.com", "pro resumed"),
    ]
    log = account.client.get("/team/activity").get_data(as_text=True)
    assert "changed the plan: free → pro" in log


def test_a_change_no_member_made_is_logged_with_its_cause(factory: Any) -> None:
    from datetime import timedelta

    from portal.billing.subscriptions import expire_grace_periods
    from portal.db import utcnow

    account = factory.account(tier="pro", email="late@example.com")
    factory.subscription(
        account.tenant_id,
        "past_due",
        past_due_since=utcnow() - timedelta(days=30),
        refresh_tier=False,
    )
    with account.app.app_context():
        expire_grace_periods()
        db.session.commit()
        entries = db.session.execute(
            sa.select(TeamActivity.actor_email, TeamActivity.subject)
            .where(TeamActivity.action == "plan_changed")
            .order_by(TeamActivity.id)
        ).all()
    assert entries[-1] == ("CONTINUUM (scheduled job)", "pro → free")
