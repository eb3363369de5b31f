"""The browser side of Checkout: start it, come back from it (success, cancel, saved card).

Problems the person can fix come back as a flash message on the page they came from;
Stripe being unreachable shows the friendly 503 page, with nothing half-written.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.billing import checkout
from portal.billing.subscriptions import on_trial
from portal.billing.views import bp
from portal.billing.views.pages import current_tenant
from portal.billing.views.pay_now import settle_after_adding
from portal.errors import BillingUnavailable, PortalError
from portal.extensions import db


def _back(endpoint: str, message: str, category: str) -> Response:
    flash(message, category)
    return redirect(url_for(endpoint), 303)


@bp.post("/billing/checkout", endpoint="checkout")
@login_required
def checkout_start() -> Response:
    """Send the person to Stripe Checkout for Pro, billed per the chosen interval."""
    try:
        started = checkout.start_upgrade(current_tenant(), request.form.get("interval"))
    except BillingUnavailable:
        raise
    except PortalError as error:
        return _back("billing.upgrade", error.message, "error")
    return redirect(started.url, 303)


@bp.get("/billing/success")
@login_required
def checkout_success() -> Response:
    """Back from a paid Checkout: confirm it with Stripe and apply the new limits at once."""
    try:
        result = checkout.complete_checkout(current_tenant(), request.args.get("session_id"))
    except BillingUnavailable:
        raise
    except PortalError as error:
        return _back("billing.index", error.message, "error")
    sub = result.subscription
    if on_trial(sub) and sub.trial_end:
        message = f"Your Pro trial has started. It runs until {sub.trial_end:%d %B %Y}."
    elif result.tier.value == "pro":
        message = "Welcome to Pro. Your new limits apply now."
    else:
        message = (
            "Checkout finished, but the first payment is not complete yet "
            f"(status: {sub.status}). Your plan changes as soon as it is."
        )
    return _back("billing.index", message, "success")


@bp.get("/billing/cancelled")
@login_required
def checkout_cancelled() -> Response:
    """Back from an abandoned Checkout."""
    return _back(
        "billing.upgrade",
        "Checkout was cancelled. Nothing was charged and your plan is unchanged.",
        "info",
    )


@bp.get("/billing/payment-methods/added")
@login_required
def card_added() -> Response:
    """Back from Checkout in setup mode: make the saved card the default."""
    try:
        card_id = checkout.complete_setup(current_tenant(), request.args.get("session_id"))
        db.session.commit()  # the card mirror has the new card, as the default
    except BillingUnavailable:
        raise
    except PortalError as error:
        return _back("billing.index", error.message, "error")
    paid = settle_after_adding(card_id)  # past due: the new card pays the open invoice now
    if paid is not None:
        return _back("billing.index", *paid)
    return _back("billing.index", "Your new card is saved and is now the default.", "success")
