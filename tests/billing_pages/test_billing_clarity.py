"""Billing clarity: the cancel reason kept for operators, the credit left by a downgrade,
confirm buttons that name the card, people's dates on invoice lines, and the one-click pay
button's wording (against the simulator)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from billing_support import upgrade_through_checkout, use_simulator
from flask import Flask

from portal.billing.cancellations import CancellationReason
from portal.billing.views.view_models import line_description
from portal.extensions import db
from portal.web.formatting import format_money
from tests.factory import Account, Factory, sign_in

HTMX = {"HX-Request": "true", "HX-Target": "subscription"}


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    return use_simulator(app_config, sim)


@pytest.fixture
def pro(account: Account, sim: Any) -> str:
    return upgrade_through_checkout(account, sim, "month")


def _reasons(app: Flask) -> list[tuple[str | None, str | None]]:
    with app.app_context():
        return [(r.reason, r.comment) for r in db.session.scalars(db.select(CancellationReason))]


def test_cancelling_keeps_the_optional_reason_for_the_operators(
    app: Flask, account: Account, pro: str, factory: Factory
) -> None:
    step = account.client.get("/billing/?confirm=cancel").get_data(as_text=True)
    assert 'name="reason"' in step and 'name="comment"' in step
    assert "Prefer not to say" in step
    done = account.post("/billing/cancel", {"reason": "too_expensive", "comment": "Pro is a lot"})
    assert done.status_code == 303
    assert _reasons(app) == [("too_expensive", "Pro is a lot")]

    staff = sign_in(app, factory.staff())
    page = staff.get(f"/admin/tenants/{account.tenant_id}").get_data(as_text=True)
    assert "Why they cancelled" in page
    assert "It costs too much" in page and "Pro is a lot" in page


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"reason": "because"}, "Choose a reason from the list"),
        ({"comment": "x" * 501}, "Keep the comment to 500 characters"),
    ],
)
def test_a_bad_reason_is_refused_and_nothing_is_cancelled(
    app: Flask, account: Account, pro: str, form: dict[str, str], message: str
) -> None:
    refused = account.post("/billing/cancel", form, headers=HTMX)
    assert refused.status_code == 400
    assert message in refused.get_data(as_text=True)
    assert _reasons(app) == []
    page = account.client.get("/billing/").get_data(as_text=True)
    assert "Cancel plan" in page  # still renewing


def test_cancelling_without_a_reason_stores_nothing(app: Flask, account: Account, pro: str) -> None:
    assert account.post("/billing/cancel", {"reason": "", "comment": "  "}).status_code == 303
    assert _reasons(app) == []


def test_credit_left_by_a_downgrade_is_shown(account: Account, sim: Any) -> None:
    upgrade_through_checkout(account, sim, "year")
    step = account.client.get("/billing/?change=month").get_data(as_text=True)
    proration = re.search(r'name="proration_date" value="(\d+)"', step)
    assert proration and "Confirm the switch" in step  # nothing to pay: credit instead
    switched = account.post(
        "/billing/change-plan", {"interval": "month", "proration_date": proration[1]}
    )
    assert switched.status_code == 303
    with account.app.app_context():
        customer = account.tenant().stripe_customer_id
    balance = sim.client().v1.customers.retrieve(customer).balance
    assert balance < 0
    page = unescape(account.client.get("/billing/").get_data(as_text=True))
    credit = format_money(-balance)
    assert f"{credit} credit</strong> on your account" in page


def test_the_switch_confirm_names_the_card_and_lines_use_peoples_dates(
    account: Account, pro: str
) -> None:
    step = unescape(account.client.get("/billing/?change=year").get_data(as_text=True))
    assert re.search(r"Confirm and pay \$[\d,.]+ with Visa •••• 4242", step)
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", step.split('<table class="proration"')[1])


def test_line_description_turns_iso_days_into_words() -> None:
    assert line_description("Remaining time on Pro after 2026-11-28", 100) == (
        "Remaining time on Pro after 28 Nov 2026"
    )
    assert line_description(None, -5) == "Credit for unused time"
    assert line_description("odd 2026-13-45 day", 1) == "odd 2026-13-45 day"
