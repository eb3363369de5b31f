"""Dunning, trial and usage-alert emails go to the owners and billing members, not to
developers or viewers."""

from __future__ import annotations

from datetime import timedelta

from portal.billing import dunning
from portal.billing.alerts import alert_recipients
from portal.db import utcnow


def test_billing_mail_goes_to_owners_and_billing_members(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    finance = factory.member(owner.tenant_id, "billing", "finance@example.com")
    factory.member(owner.tenant_id, "developer", "dev@example.com")
    factory.member(owner.tenant_id, "viewer", "viewer@example.com")
    with app.app_context():
        tenant = owner.tenant()
        assert alert_recipients(tenant.id) == [owner.email, finance.email]
        assert dunning.send_payment_failed(tenant, 2900, "usd", None, None)
        assert dunning.send_trial_ending(tenant, utcnow() + timedelta(days=3), "month")
    messages = smtp_server.wait_for(4)
    to = sorted((str(m["To"]), str(m["Subject"])) for m in messages)
    assert [address for address, _ in to] == sorted(
        [owner.email, owner.email] + [finance.email] * 2
    )
    assert all("dev@" not in address and "viewer@" not in address for address, _ in to)
    assert {subject for _, subject in to} == {
        "Action needed: your CONTINUUM payment failed",
        "Your CONTINUUM Pro trial ends soon",
    }
