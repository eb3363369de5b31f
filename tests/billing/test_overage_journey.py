"""Pro overage from end to end, every part real: API calls through the enforcement library, the
usage flush into the outbox, the reporter over HTTP to the simulator's meter, a test-clock renewal
that invoices the plan and the overage, the cap's reset, and each usage alert once over SMTP.

The quota is overridden to 20 calls a day (and the minute limit lifted) so the $1 cap's 10,000
overage calls take seconds, not a day.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from examples.continuum_api import create_api_app
from portal.billing.alerts import send_due_alerts
from portal.enforcement import enforcement_for
from portal.models import utcnow
from tests.conftest import MailSink
from tests.factory import Factory

from .conftest import Billing
from .meter_support import meter_total, mirror_subscription, overage_meter, report_once, reporter

QUOTA = 20
CAP_CENTS = 100  # $1.00: 10,000 calls at $0.10 per 1,000
CAP_CALLS = 10_000


def _api(app: Flask, app_config: dict[str, Any]) -> Any:
    return create_api_app(app_config, enforcement=enforcement_for(app)).test_client()


def test_a_pro_tenant_goes_past_its_quota_stops_at_its_cap_and_is_billed_to_the_call(
    smtp_server: MailSink,
    billing: Billing,
    factory: Factory,
    clock: Callable[[int], int],
    app_config: dict[str, Any],
) -> None:
    account = factory.account(
        key=True,
        email="owner@example.com",
        overrides={"api_calls_per_day": QUOTA, "api_calls_per_minute": 1_000_000},
    )
    sub_id = billing.subscribe(account.tenant_id)
    first = mirror_subscription(billing, sub_id)
    assert first.metered_item_id, "a new Pro subscription carries the metered item"
    assert first.usage_period_start is not None and first.usage_period_end is not None
    turned_on = billing.client.put(
        "/v1/billing/overage",
        json={"enabled": True, "monthly_cap_cents": CAP_CENTS},
        headers={"Authorization": f"Bearer {account.key}"},
    )
    assert turned_on.status_code == 200, turned_on.get_json()

    api = _api(billing.app, app_config)
    headers = account.headers
    statuses: dict[int, int] = {}
    billed = 0
    for _ in range(QUOTA + CAP_CALLS):
        answer = api.get("/api/search?q=x", headers=headers)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        billed += answer.headers.get("X-Overage", "").startswith("billed")
    assert statuses == {200: QUOTA + CAP_CALLS}
    assert billed == CAP_CALLS
    refused = api.get("/api/search?q=x", headers=headers)
    assert refused.status_code == 429
    assert refused.get_json() == {
        "error": "Monthly overage spend cap reached ($1.00)",
        "tier": "pro",
        "upgrade_url": "/billing/upgrade",
        "billing_url": "/billing/",
    }
    assert int(refused.headers["Retry-After"]) > 0

    # The flush writes the outbox; the reporter sends it; the simulator's meter agrees.
    enforcement_for(billing.app).flusher.flush()
    assert report_once(billing.app, reporter(billing.app)) >= 1
    customer_id = billing.customer_id(account.tenant_id)
    assert customer_id is not None
    assert meter_total(billing.sim, overage_meter(billing.app), customer_id) == CAP_CALLS

    # The alerts: 80% and 100% of the day's quota, 50%, 80% and 100% of the cap, once each.
    with billing.app.app_context():
        assert send_due_alerts(utcnow()) == 5
        assert send_due_alerts(utcnow()) == 0
    mails = smtp_server.wait_for(5)
    assert len(smtp_server.to("owner@example.com")) == 5, [m["Subject"] for m in mails]

    # Renewal: the plan for the new period and exactly $1.00 of overage for the one that ended.
    period = int((first.usage_period_end - first.usage_period_start).total_seconds())
    clock(period + 3600)
    invoices = billing.stripe.v1.invoices.list({"customer": customer_id})
    renewal = invoices.data[0]
    amounts = sorted(line.amount for line in renewal.lines.data)
    assert amounts == [100, 2900], [(line.description, line.amount) for line in renewal.lines.data]

    # The cap resets with the new period: the next call past today's quota is admitted again.
    after = mirror_subscription(billing, sub_id)
    assert after.usage_period_start is not None
    assert after.usage_period_start >= first.usage_period_end
    again = api.get("/api/search?q=x", headers=headers)
    assert again.status_code == 200
    assert again.headers["X-Overage"].startswith("billed")
