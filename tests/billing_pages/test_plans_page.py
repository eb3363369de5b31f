"""The plans page (/billing/upgrade): catalog numbers, the interval toggle, the current plan."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from portal.plans import PLANS, YEARLY_SAVING_PERCENT, PricingTier
from portal.web.formatting import format_megabytes, format_number, format_price
from tests.factory import Account, Factory


def _checked(html: str, interval: str) -> bool:
    tag = re.search(rf'<input[^>]*id="interval-{interval}"[^>]*>', html, re.S)
    assert tag, f"no {interval} radio"
    return " checked" in tag.group(0)


def test_anonymous_visitor_sees_all_three_plans_from_the_catalog(client: FlaskClient) -> None:
    response = client.get("/billing/upgrade")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for plan in PLANS.values():
        limits = plan.limits
        assert f'id="plan-{plan.tier.value}"' in html
        assert format_number(limits.api_calls_per_day) in html
        assert format_number(limits.memories) in html
        assert format_megabytes(limits.storage_mb) in html
        assert plan.support in html
        assert plan.overage in html
    pro = PLANS[PricingTier.PRO]
    assert format_price(pro.monthly_price) in html
    assert format_price(pro.yearly_price) in html
    assert f"save {YEARLY_SAVING_PERCENT}%" in html
    assert "Federation (normal priority)" in html
    assert "Federation (critical priority)" in html
    assert "Sign up to upgrade" in html
    assert "Your plan" not in html


def test_toggle_defaults_to_monthly_and_follows_the_query(client: FlaskClient) -> None:
    assert _checked(client.get("/billing/upgrade").get_data(as_text=True), "month")
    yearly = client.get("/billing/upgrade?interval=year").get_data(as_text=True)
    assert _checked(yearly, "year") and not _checked(yearly, "month")
    nonsense = client.get("/billing/upgrade?interval=%00weekly").get_data(as_text=True)
    assert _checked(nonsense, "month")


def test_yearly_price_is_shown_per_month_too(client: FlaskClient) -> None:
    pro = PLANS[PricingTier.PRO]
    per_month = format_price((pro.yearly_price / 12).quantize(pro.monthly_price))
    assert per_month in client.get("/billing/upgrade").get_data(as_text=True)


def test_free_tenant_gets_a_checkout_form_with_the_interval_radios(account: Account) -> None:
    html = account.client.get("/billing/upgrade").get_data(as_text=True)
    assert re.search(
        r'<article class="plan-card current[^"]*"[^>]*aria-labelledby="plan-free"', html
    )
    form = re.search(
        r'<form id="pro-checkout" method="post" action="([^"]+)">(.*?)</form>', html, re.S
    )
    assert form and form.group(1) == "/billing/checkout"
    assert 'name="csrf_token"' in form.group(2)
    assert html.count('form="pro-checkout"') == 2
    assert "Upgrade to Pro" in html


def test_pro_tenant_sees_its_plan_marked_and_a_switch_link(
    account: Account, factory: Factory
) -> None:
    factory.subscription(account.tenant_id, "active", interval="month")
    html = account.client.get("/billing/upgrade").get_data(as_text=True)
    assert re.search(
        r'<article class="plan-card current[^"]*"[^>]*aria-labelledby="plan-pro"', html
    )
    assert 'id="pro-checkout"' not in html
    assert "Manage your plan" in html
    assert "/billing/?change=year#subscription" in html
    assert _checked(html, "month")
    assert "Switch to Free" in html


def test_yearly_pro_tenant_starts_on_the_yearly_toggle(account: Account, factory: Factory) -> None:
    factory.subscription(account.tenant_id, "active", interval="year")
    html = account.client.get("/billing/upgrade").get_data(as_text=True)
    assert _checked(html, "year")
    assert "/billing/?change=month#subscription" in html


def test_enterprise_card_leads_to_the_contact_form(client: FlaskClient) -> None:
    html = client.get("/billing/upgrade").get_data(as_text=True)
    assert 'href="/billing/enterprise"' in html


def test_the_overage_lines_say_what_the_product_does(client: FlaskClient, factory: Factory) -> None:
    from portal.extensions import db
    from portal.models import Tenant
    from portal.plans import OVERAGE_CENTS_PER_1000_CALLS, overage_cost_cents
    from portal.web.formatting import format_money

    html = client.get("/billing/upgrade").get_data(as_text=True)
    pro = PLANS[PricingTier.PRO].overage
    assert pro in html
    # Off until the customer turns it on, at the metered price's rate, under a monthly cap.
    assert pro.startswith("Optional:")
    assert f"{format_money(OVERAGE_CENTS_PER_1000_CALLS)} per 1,000 API calls" in pro
    assert overage_cost_cents(2_500) == 25
    assert "monthly cap you set" in pro
    tenant_id = factory.tenant(tier="pro")
    with factory.app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant is not None and tenant.overage_enabled is False
    assert "refused" in PLANS[PricingTier.FREE].overage
    assert PLANS[PricingTier.ENTERPRISE].overage == "By contract"
