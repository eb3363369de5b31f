"""The billing page's forms: switch interval, cancel, resume, overage and alerts, cards, and the
hosted portal.

Each action calls a domain function and answers in one of two ways: an htmx request aimed at
a component gets that component re-rendered with a notice; a plain form post gets a flash
and a 303 back to the page. A refused action re-renders the page with its message and the
error's status (404 for someone else's card, 409 for the last card). A notice says what
happened; the re-rendered component already says where the plan stands (dates, prices).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from flask import flash, make_response, redirect, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.billing import plan_changes
from portal.billing.alerts import ALERT_ROLES
from portal.billing.cancellations import parse_feedback, record_feedback
from portal.billing.card_mirror import refresh_customer
from portal.billing.checkout import open_billing_portal, start_add_payment_method
from portal.billing.invoice_mirror import backfill_invoices
from portal.billing.past_due import awaiting_payment
from portal.billing.payment_methods import remove_payment_method, set_default_payment_method
from portal.billing.views import bp
from portal.billing.views.overage_form import (
    OverageFormInvalid,
    overage_section,
    parse_form,
    save_form,
)
from portal.billing.views.pages import (
    BILLING_CHANGED,
    component_target,
    current_tenant,
    details_for,
    render_billing,
)
from portal.billing.views.pay_now import make_default_and_pay
from portal.billing.views.view_models import describe_subscription
from portal.config import portal_url
from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.models import Tenant
from portal.teams.activity import record_by_member
from portal.teams.context import current_role

log = logging.getLogger("continuum.billing")

_PAYMENT_METHOD_ID = re.compile(r"pm_[A-Za-z0-9_]{1,200}")

ActionResult = Response | tuple[str, int]


def _answer(component: str, action: Callable[[], str]) -> ActionResult:
    """Run ``action`` (which returns the success message) and answer for ``component``."""
    try:
        message = action()
    except PortalError as error:
        db.session.rollback()
        return _render(component, error.message, "error", error.status_code)
    if component == "subscription":
        _refresh_invoices(current_tenant())
    if component_target() == component:
        response = make_response(_render(component, message, "success", 200))
        if component == "subscription":
            # A plan change may have issued an invoice: the invoices component reloads.
            response.headers["HX-Trigger"] = BILLING_CHANGED
        return response
    flash(message, "success")
    return redirect(url_for("billing.index", _anchor=component), 303)


def _refresh_invoices(tenant: Tenant) -> None:
    """A plan change may have issued or paid an invoice: mirror Stripe's list now, in this
    request, so the page shows it (the invoice webhooks would, a moment later)."""
    try:
        backfill_invoices(tenant)
        refresh_customer(tenant)  # a downgrade may have left a credit
        db.session.commit()
    except PortalError as error:
        db.session.rollback()
        log.warning("tenant %s: invoices not refreshed after a plan change: %s", tenant.id, error)


def _render(
    component: str, message: str, tone: str, status: int, **context: Any
) -> tuple[str, int]:
    tenant = current_tenant()
    view = describe_subscription(tenant)
    return render_billing(
        status,
        tenant=tenant,
        view=view,
        details=details_for(tenant, view),
        notices={component: (message, tone)},
        **context,
    )


# --- the subscription ------------------------------------------------------------------------


@bp.post("/billing/change-plan")
@login_required
def change_plan() -> ActionResult:
    """Confirm a previewed monthly/yearly switch, prorated at the preview's date."""

    def switch() -> str:
        result = plan_changes.switch_interval(
            current_tenant(), request.form.get("interval"), request.form.get("proration_date", "")
        )
        yearly = result.subscription.interval == "year"
        record_by_member("plan_changed", f"billed {'yearly' if yearly else 'monthly'}")
        return f"You're now billed {'yearly' if yearly else 'monthly'}."

    return _answer("subscription", switch)


@bp.post("/billing/cancel")
@login_required
def cancel() -> ActionResult:
    """Cancel at period end (the confirmation step is ``/billing/?confirm=cancel``), keeping
    the optional reason for the operators (``portal.billing.cancellations``)."""
    try:
        feedback = parse_feedback(request.form.get("reason"), request.form.get("comment"))
    except PortalError as error:
        return _render("subscription", error.message, "error", 400, step="cancel")

    def cancel_plan() -> str:
        result = plan_changes.cancel_at_period_end(current_tenant())
        record_feedback(
            result.subscription.tenant_id, result.subscription.stripe_subscription_id, feedback
        )
        record_by_member("plan_changed", "cancellation at the end of the period")
        db.session.commit()
        thanks = " Thank you for telling us why." if feedback.given else ""
        return f"Cancellation scheduled. You will not be charged again.{thanks}"

    return _answer("subscription", cancel_plan)


@bp.post("/billing/resume")
@login_required
def resume() -> ActionResult:
    def resume_plan() -> str:
        result = plan_changes.resume(current_tenant())
        record_by_member("plan_changed", f"{result.subscription.tier} resumed")
        return f"Welcome back: your {result.subscription.tier.capitalize()} plan continues."

    return _answer("subscription", resume_plan)


# --- overage and alerts ----------------------------------------------------------------------


@bp.post("/billing/overage")
@login_required
def overage() -> ActionResult:
    """Turn overage on or off, set the monthly spend cap and switch the email alerts."""
    tenant = current_tenant()
    if current_role() not in ALERT_ROLES:
        return _render("overage", "Only the account's owner can change these.", "error", 403)
    try:
        form = parse_form(request.form, tenant)
    except OverageFormInvalid as invalid:
        section = overage_section(tenant, invalid)
        return _render("overage", invalid.summary, "error", 400, overage=section)
    except PortalError as error:  # overage on a plan that has none: upgrade, or by contract
        return _render("overage", error.message, "error", error.status_code)
    return _answer("overage", lambda: save_form(tenant, form))


# --- cards -----------------------------------------------------------------------------------


def _card_id(payment_method_id: str) -> str:
    """Refuse ids that cannot be a card before asking Stripe about them."""
    if not _PAYMENT_METHOD_ID.fullmatch(payment_method_id):
        raise NotFound("There is no such card on this account.")
    return payment_method_id


@bp.post("/billing/payment-methods/<payment_method_id>/default")
@login_required
def set_default_card(payment_method_id: str) -> ActionResult:
    if awaiting_payment(current_tenant()) is not None:
        # Past due: the chosen card pays the open invoice at once (portal.billing.past_due).
        return make_default_and_pay(_card_id(payment_method_id))

    def make_default() -> str:
        card = set_default_payment_method(current_tenant(), _card_id(payment_method_id))
        db.session.commit()  # the card mirror has the new default
        return f"{card.label} is now your default card."

    return _answer("payment-methods", make_default)


@bp.post("/billing/payment-methods/<payment_method_id>/remove")
@login_required
def remove_card(payment_method_id: str) -> ActionResult:
    def remove() -> str:
        card = remove_payment_method(current_tenant(), _card_id(payment_method_id))
        db.session.commit()  # the card mirror no longer has it
        return f"{card.label} was removed."

    return _answer("payment-methods", remove)


@bp.post("/billing/payment-methods/add")
@login_required
def add_card() -> ActionResult:
    """Send the tenant to Checkout in setup mode to save a new card."""
    return _to_stripe("payment-methods", lambda: start_add_payment_method(current_tenant()).url)


# --- pages Stripe hosts ----------------------------------------------------------------------


@bp.post("/billing/portal")
@login_required
def portal() -> ActionResult:
    """Open Stripe's hosted billing portal, which returns to this page."""
    return_url = portal_url(url_for("billing.index"))
    return _to_stripe("subscription", lambda: open_billing_portal(current_tenant(), return_url))


def _to_stripe(component: str, open_page: Callable[[], str]) -> ActionResult:
    """Redirect to the Stripe page ``open_page`` returns, or say on ``component`` why not."""
    try:
        url = open_page()
    except PortalError as error:
        return _render(component, error.message, "error", error.status_code)
    return redirect(url, 303)
