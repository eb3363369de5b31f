"""Billing lifecycle email: payment failed, trial ending, downgraded to Free. Each goes to
the tenant's owners and billing members (``portal.billing.alerts.alert_recipients``).

Mail is sent after the change it reports has been committed; a mail server that is down is
logged and never undoes or fails the billing change itself.
"""

from __future__ import annotations

import logging
from datetime import datetime

from portal.billing.alerts import alert_recipients
from portal.config import portal_url
from portal.mail import MailError, send_email
from portal.models import Tenant
from portal.plans import PLANS, PricingTier
from portal.web.formatting import format_money, format_price

log = logging.getLogger("continuum.billing")


def payment_method_url() -> str:
    """Where a tenant fixes its card: the billing page's payment-method section."""
    return portal_url("/billing/#payment-methods")


def _send(tenant: Tenant, subject: str, body: str) -> bool:
    """One email to each owner and billing member; True when at least one went out."""
    addresses = alert_recipients(tenant.id)
    if not addresses:
        log.warning("tenant %s has no owner or billing address; %r not sent", tenant.id, subject)
        return False
    sent = False
    for address in addresses:
        try:
            send_email(address, subject, body)
        except MailError:
            continue  # already logged by portal.mail; the billing change stands
        sent = True
    return sent


def send_payment_failed(
    tenant: Tenant,
    amount_due: int,
    currency: str,
    next_attempt: datetime | None,
    grace_ends: datetime | None,
) -> bool:
    retry = (
        f"We will try the card again on {next_attempt:%d %B %Y}."
        if next_attempt
        else "We will not retry this payment automatically."
    )
    keep = (
        f"Your Pro limits stay in place until {grace_ends:%d %B %Y}; after that the account "
        "moves to the Free tier (your data is kept)."
        if grace_ends
        else "If the payment is not made, the account moves to the Free tier (data is kept)."
    )
    body = (
        f"Hello,\n\nWe could not charge {format_money(amount_due, currency)} for your CONTINUUM "
        f"Pro subscription. {retry}\n\n{keep}\n\nUpdate your payment method here:\n"
        f"{payment_method_url()}\n\nThe CONTINUUM team\n"
    )
    return _send(tenant, "Action needed: your CONTINUUM payment failed", body)


def send_payment_action_required(tenant: Tenant, hosted_invoice_url: str | None) -> bool:
    link = hosted_invoice_url or payment_method_url()
    body = (
        "Hello,\n\nYour bank asked you to confirm the latest CONTINUUM payment. Until you do, "
        f"the payment is not complete.\n\nConfirm it here:\n{link}\n\nThe CONTINUUM team\n"
    )
    return _send(tenant, "Action needed: confirm your CONTINUUM payment", body)


def send_trial_ending(tenant: Tenant, trial_end: datetime | None, interval: str | None) -> bool:
    price = PLANS[PricingTier.PRO].price(interval)
    when = f"on {trial_end:%d %B %Y}" if trial_end else "soon"
    body = (
        f"Hello,\n\nYour CONTINUUM Pro trial ends {when}. After that your card is charged "
        f"{format_price(price)} per {interval or 'month'}. To change or cancel, visit:\n"
        f"{portal_url('/billing/')}\n\nThe CONTINUUM team\n"
    )
    return _send(tenant, "Your CONTINUUM Pro trial ends soon", body)


def send_downgraded(tenant: Tenant) -> bool:
    limits = PLANS[PricingTier.FREE].limits
    body = (
        "Hello,\n\nYour CONTINUUM account is now on the Free tier. All your data is kept; the "
        f"Free limits apply from now on ({limits.api_calls_per_day:,} API calls a day, "
        f"{limits.memories:,} memories).\n\nUpgrade again at any time:\n"
        f"{portal_url('/billing/upgrade')}\n\nThe CONTINUUM team\n"
    )
    return _send(tenant, "Your CONTINUUM account is now on the Free tier", body)
