"""Monthly <-> yearly with a proration preview; cancel at period end behind a step; resume."""

from __future__ import annotations

import re
from typing import Any

import pytest
from billing_support import upgrade_through_checkout, use_simulator
from flask import Flask

from portal.extensions import db
from portal.models import Subscription
from portal.web.formatting import format_money
from tests.factory import Account
from tests.outage import stripe_unreachable

HTMX = {"HX-Request": "true", "HX-Target": "subscription"}


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    return use_simulator(app_config, sim)


@pytest.fixture
def pro(account: Account, sim: Any) -> str:
    return upgrade_through_checkout(account, sim, "month")


def _mirror(app: Flask, tenant_id: int) -> Subscription:
    with app.app_context():
        sub = db.session.scalar(db.select(Subscription).where(Subscription.tenant_id == tenant_id))
        assert sub is not None
        db.session.expunge(sub)
        return sub


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name}"
    return match.group(1)


def test_preview_then_confirm_uses_the_previewed_proration_date(
    account: Account, pro: str, sim: Any
) -> None:
    preview = account.client.get("/billing/?change=year")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "Switch to yearly billing" in html
    due = re.search(r"Due today</th><td class=\"num\"><strong>([^<]+)</strong>", html)
    assert due and due.group(1).startswith("$")
    assert "Unused time on" in html and "$278.40" in html
    proration_date = _hidden(html, "proration_date")
    assert _hidden(html, "interval") == "year"

    confirmed = account.post(
        "/billing/change-plan", {"interval": "year", "proration_date": proration_date}
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"] == "/billing/#subscription"
    assert _mirror(account.app, account.tenant_id).interval == "year"
    remote = sim.client().v1.subscriptions.retrieve(pro)
    assert remote["items"].data[0].price.lookup_key == "continuum_pro_yearly"
    latest = sim.client().v1.invoices.retrieve(remote.latest_invoice)
    assert format_money(latest.amount_due, latest.currency) == due.group(1)
    page = account.client.get("/billing/").get_data(as_text=True)
    assert "You&#39;re now billed yearly" in page or "You're now billed yearly" in page
    assert "billed yearly ($278.40 per year)" in page


def test_htmx_preview_and_confirm_swap_only_the_component(account: Account, pro: str) -> None:
    fragment = account.client.get("/billing/?change=year", headers=HTMX)
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert html.lstrip().startswith('<section id="subscription"')
    assert "<html" not in html and "Invoices" not in html
    token = account.client.csrf_token("/billing/")
    done = account.client.post(
        "/billing/change-plan",
        data={
            "interval": "year",
            "proration_date": _hidden(html, "proration_date"),
            "csrf_token": token,
        },
        headers=HTMX,
    )
    body = done.get_data(as_text=True)
    assert done.status_code == 200
    assert body.lstrip().startswith('<section id="subscription"')
    assert "now billed yearly" in body and 'role="status"' in body
    assert done.headers["HX-Trigger"] == "billing-changed"
    invoices = account.client.get(
        "/billing/", headers={"HX-Request": "true", "HX-Target": "invoices"}
    ).get_data(as_text=True)
    assert invoices.lstrip().startswith('<section id="invoices"')
    assert 'hx-trigger="billing-changed from:body"' in invoices
    assert invoices.count(">Paid<") == 2


@pytest.mark.parametrize("proration_date", ["", "yesterday", "1", "99999999999999999999"])
def test_a_forged_or_stale_proration_date_is_refused(
    account: Account, pro: str, proration_date: str
) -> None:
    response = account.post(
        "/billing/change-plan", {"interval": "year", "proration_date": proration_date}
    )
    assert 400 <= response.status_code < 500
    assert "preview" in response.get_data(as_text=True).lower()
    assert _mirror(account.app, account.tenant_id).interval == "month"


def test_switching_to_the_current_interval_is_explained(account: Account, pro: str) -> None:
    html = account.client.get("/billing/?change=month").get_data(as_text=True)
    assert "already billed per month" in html
    bad = account.client.get("/billing/?change=%3Cscript%3E").get_data(as_text=True)
    assert "Choose monthly or yearly billing." in bad and "<script>" not in bad


def test_cancel_needs_a_confirmation_step_then_resume(account: Account, pro: str) -> None:
    step = account.client.get("/billing/?confirm=cancel").get_data(as_text=True)
    assert "Cancel Pro at the end of this period?" in step
    assert "Your data is kept." in step
    assert _mirror(account.app, account.tenant_id).cancel_at_period_end is False

    assert account.post("/billing/cancel").status_code == 303
    sub = _mirror(account.app, account.tenant_id)
    assert sub.cancel_at_period_end is True
    page = account.client.get("/billing/").get_data(as_text=True)
    assert "you can resume until then" in page and "Resume Pro" in page

    again = account.post("/billing/cancel")
    assert again.status_code == 409
    assert "already set to end" in again.get_data(as_text=True)

    assert account.post("/billing/resume").status_code == 303
    assert _mirror(account.app, account.tenant_id).cancel_at_period_end is False
    assert "Welcome back" in account.client.get("/billing/").get_data(as_text=True)


def test_resume_without_a_cancellation_is_refused(account: Account, pro: str) -> None:
    response = account.post("/billing/resume")
    assert response.status_code == 409
    assert "Only a plan set to end" in response.get_data(as_text=True)


def test_invoices_table_lists_the_first_invoice(account: Account, pro: str) -> None:
    html = account.client.get("/billing/").get_data(as_text=True)
    table = html[html.index('id="invoices"') :]
    assert "$29.00" in table and ">Paid<" in table
    assert re.search(r'href="http://127\.0\.0\.1:\d+/invoice/[^"]+"', table)
    assert re.search(r'href="http://127\.0\.0\.1:\d+/invoice/[^"]+/pdf"', table)


def test_actions_while_stripe_is_unreachable_explain_and_change_nothing(
    account: Account, pro: str
) -> None:
    """``pro`` is used for its side effect: a paid subscription the actions would change."""
    token = account.client.csrf_token("/billing/")
    with stripe_unreachable(account.app):
        plain = account.client.post("/billing/cancel", data={"csrf_token": token})
        htmx = account.client.post("/billing/cancel", data={"csrf_token": token}, headers=HTMX)
        preview = account.client.get("/billing/?change=year", headers=HTMX)
    assert plain.status_code == 503
    assert "could not reach our payment provider" in plain.get_data(as_text=True)
    # The page around the message comes from the local mirror, which needs no Stripe call.
    assert "Some billing details are unavailable." not in plain.get_data(as_text=True)
    assert "$29.00" in plain.get_data(as_text=True)
    assert htmx.status_code == 503
    body = htmx.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="subscription"') and 'role="alert"' in body
    assert preview.status_code == 200
    assert "could not reach our payment provider" in preview.get_data(as_text=True)
    assert _mirror(account.app, account.tenant_id).cancel_at_period_end is False
