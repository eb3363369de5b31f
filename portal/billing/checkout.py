"""Upgrading through Stripe Checkout, and adding a card through Checkout in setup mode.

The success pages never trust the query string: they retrieve the session from Stripe,
check it belongs to the signed-in tenant, then sync through ``sync_subscription``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flask import current_app

from portal.billing.customers import ensure_customer
from portal.billing.one_subscription import check_before_checkout, settle_duplicates
from portal.billing.payment_methods import set_default_payment_method
from portal.billing.subscriptions import (
    SyncResult,
    current_subscription,
    past_due,
    sync_subscription,
    valid,
)
from portal.config import portal_url
from portal.errors import Conflict, NotFound, PortalError
from portal.extensions import db
from portal.models import Tenant
from portal.plans import (
    OVERAGE_PRICE_LOOKUP_KEY,
    BillingInterval,
    PricingTier,
    get_stripe_price_id,
)
from portal.stripe_gateway import StripeCheckoutSession, get_gateway

log = logging.getLogger("continuum.billing")

_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")


def parse_interval(value: str | None) -> BillingInterval:
    aliases = {"month": "month", "monthly": "month", "year": "year", "yearly": "year"}
    try:
        return BillingInterval(aliases[(value or "").strip().lower()])
    except KeyError:
        raise PortalError("Choose monthly or yearly billing.") from None


@dataclass(frozen=True)
class CheckoutStart:
    session_id: str
    url: str


def start_upgrade(tenant: Tenant, interval: str | None) -> CheckoutStart:
    """Create a Checkout Session for Pro billed per ``interval``; returns where to send them."""
    billing_interval = parse_interval(interval)
    if tenant.tier == PricingTier.ENTERPRISE.value:
        raise Conflict("This account is on an Enterprise contract; talk to us to change it.")
    existing = current_subscription(tenant)
    if existing is not None and past_due(existing):
        raise Conflict(
            "The last payment for your plan failed. Update your card on the billing page "
            "instead of starting a second subscription."
        )
    if existing is not None and valid(existing):
        raise Conflict(
            "This account already has a Pro subscription. Change its billing interval or "
            "resume it from the billing page instead."
        )
    gateway = get_gateway()
    price = gateway.price_by_lookup_key(get_stripe_price_id(PricingTier.PRO, billing_interval))
    # Every Pro subscription carries the metered overage item from the start (it bills
    # nothing until the tenant turns overage on), so turning it on later needs no change.
    metered = gateway.price_by_lookup_key(OVERAGE_PRICE_LOOKUP_KEY)
    customer_id = ensure_customer(tenant)
    reusable = check_before_checkout(customer_id, price.id)
    if reusable is not None and reusable.url:
        log.info("tenant %s: reusing open checkout %s", tenant.id, reusable.id)
        return CheckoutStart(session_id=reusable.id, url=reusable.url)
    session = gateway.create_subscription_checkout(
        customer_id=customer_id,
        tenant_id=tenant.id,
        price_id=price.id,
        metered_price_id=metered.id,
        flexible_billing=billing_interval != BillingInterval.MONTH,
        success_url=portal_url("/billing/success?session_id={CHECKOUT_SESSION_ID}"),
        cancel_url=portal_url("/billing/cancelled"),
        trial_days=current_app.config["STRIPE_TRIAL_DAYS"],
    )
    log.info("tenant %s: started checkout %s (%s)", tenant.id, session.id, billing_interval)
    return CheckoutStart(session_id=session.id, url=_checkout_url(session))


def _checkout_url(session: StripeCheckoutSession) -> str:
    if not session.url:
        raise PortalError("Checkout could not be opened. Please try again.", status_code=502)
    return session.url


def _own_session(tenant: Tenant, session_id: str | None, mode: str) -> StripeCheckoutSession:
    """Retrieve ``session_id`` from Stripe and make sure it is this tenant's ``mode`` session."""
    if not session_id or not _SESSION_ID.match(session_id):
        raise PortalError("That checkout link is incomplete. Open the billing page instead.")
    session = get_gateway().retrieve_checkout_session(session_id)
    belongs = (
        session.client_reference_id == str(tenant.id)
        and session.customer_id is not None
        and session.customer_id == tenant.stripe_customer_id
        and session.mode == mode
    )
    if not belongs:
        log.warning("tenant %s presented checkout %s of someone else", tenant.id, session_id)
        raise NotFound("That checkout does not belong to this account.")
    if session.status != "complete":
        raise PortalError(
            "That checkout was not completed, so nothing changed. You can start it again "
            "from the plans page."
        )
    return session


def complete_checkout(tenant: Tenant, session_id: str | None) -> SyncResult:
    """Sync the subscription a completed Checkout Session started, so its limits apply now."""
    session = _own_session(tenant, session_id, "subscription")
    if not session.subscription_id:
        raise PortalError("That checkout has no subscription yet. Reload in a moment.")
    result = sync_subscription(tenant, session.subscription_id)
    if result is None:
        raise NotFound("That checkout does not belong to this account.")
    notices = settle_duplicates(tenant, on_page=True)
    db.session.commit()
    for notice in notices:
        notice()
    adopt_checkout_card(tenant, session.subscription_id)
    return result


def adopt_checkout_card(tenant: Tenant, subscription_id: str) -> str | None:
    """Make the card paid at Checkout the customer's default, unless it has one already.

    Stripe's Checkout attaches the card and pins it on the new subscription only; without a
    customer default, the billing page shows no default card and an item or invoice made
    outside the subscription would have nothing to charge. Returns the card made default.
    """
    gateway = get_gateway()
    if not tenant.stripe_customer_id:
        return None
    if gateway.retrieve_customer(tenant.stripe_customer_id).default_payment_method_id:
        return None
    card = gateway.retrieve_subscription(subscription_id).default_payment_method_id
    if card is None:
        return None
    gateway.set_default_payment_method(tenant.stripe_customer_id, card)
    log.info("tenant %s: the card paid at checkout, %s, is the default now", tenant.id, card)
    return card


def start_add_payment_method(tenant: Tenant) -> CheckoutStart:
    """Checkout in setup mode: the tenant saves a new card at Stripe."""
    customer_id = ensure_customer(tenant)
    session = get_gateway().create_setup_checkout(
        customer_id=customer_id,
        tenant_id=tenant.id,
        success_url=portal_url("/billing/payment-methods/added?session_id={CHECKOUT_SESSION_ID}"),
        cancel_url=portal_url("/billing/"),
    )
    return CheckoutStart(session_id=session.id, url=_checkout_url(session))


def complete_setup(tenant: Tenant, session_id: str | None) -> str:
    """Make the card saved by a setup-mode session the default; returns its id."""
    session = _own_session(tenant, session_id, "setup")
    if not session.setup_intent_id:
        raise PortalError("That checkout saved no card. Please add the card again.")
    return adopt_setup_intent(tenant, session.setup_intent_id)


def adopt_setup_intent(tenant: Tenant, setup_intent_id: str) -> str:
    """Make the card a succeeded setup intent saved the default; returns its id."""
    intent = get_gateway().retrieve_setup_intent(setup_intent_id)
    if intent.status != "succeeded" or not intent.payment_method_id:
        raise PortalError("The new card was not confirmed. Please add it again.")
    set_default_payment_method(tenant, intent.payment_method_id)
    return intent.payment_method_id


def open_billing_portal(tenant: Tenant, return_url: str) -> str:
    """The URL of Stripe's hosted billing portal for the tenant, coming back to ``return_url``."""
    if not tenant.stripe_customer_id:
        raise Conflict("The billing portal opens once you have upgraded.")
    return get_gateway().create_billing_portal_session(tenant.stripe_customer_id, return_url)
