"""One paid subscription per tenant.

Before a Checkout Session is created, Stripe itself is asked (not only our mirror, which a
missed success page or a late webhook leaves behind): a live subscription or a completed
subscription checkout refuses the upgrade; an open checkout for the same price is reused, and
one for another price is expired so only the newest can be paid.

Two tabs can still race past that check and pay twice. Every sync then looks for a second
paying subscription: the oldest is kept, the newer one is canceled at once with its unused time
credited to the customer's balance (the next invoice draws on it), the change is logged, and
the owner gets an email (and a notice on the page, when the owner is the one syncing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import flash, has_request_context

from portal.billing.customers import owner_email
from portal.billing.subscriptions import (
    ENDED_STATUSES,
    apply_subscription,
    subscriptions_of,
    valid,
)
from portal.config import portal_url
from portal.errors import BillingUnavailable, Conflict, PortalError
from portal.mail import MailError, send_email
from portal.models import Subscription, Tenant
from portal.stripe_gateway import StripeCheckoutSession, get_gateway

log = logging.getLogger("continuum.billing")

#: Stripe statuses of a subscription that is paying, or will be asked to pay again. An
#: ``incomplete`` start (first payment not made) expires on its own and does not block.
BLOCKING_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid", "paused"})

ALREADY_SUBSCRIBED = (
    "This account already has a Pro subscription at Stripe (perhaps paid in another tab). "
    "Open the billing page to see it; nothing new was started."
)


def check_before_checkout(customer_id: str, price_id: str) -> StripeCheckoutSession | None:
    """Refuse when Stripe has a live subscription or a paid checkout for the customer; return
    an open subscription checkout for ``price_id`` to reuse (expiring those for other prices)."""
    gateway = get_gateway()
    subs = gateway.list_subscriptions(customer_id)
    if any(sub.status in BLOCKING_STATUSES for sub in subs):
        raise Conflict(ALREADY_SUBSCRIBED)
    ended = {sub.id for sub in subs if sub.status in ENDED_STATUSES}
    for done in gateway.list_checkout_sessions(customer_id, "complete"):
        if done.mode == "subscription" and done.subscription_id not in ended:
            raise Conflict(ALREADY_SUBSCRIBED)
    reusable = None
    for session in gateway.list_checkout_sessions(customer_id, "open"):
        if session.mode != "subscription":
            continue
        if reusable is None and session.url and session.metadata.get("price_id") == price_id:
            reusable = session
            continue
        _expire(session.id)
    return reusable


def _expire(session_id: str) -> None:
    """An older checkout left open in another tab could be paid too: only one may be."""
    gateway = get_gateway()
    try:
        gateway.expire_checkout_session(session_id)
    except BillingUnavailable:
        raise
    except PortalError:
        # Another request expired it first, or it was paid a moment ago.
        if gateway.retrieve_checkout_session(session_id).status == "complete":
            raise Conflict(ALREADY_SUBSCRIBED) from None


def settle_duplicates(
    tenant: Tenant, *, on_page: bool = False, ask_stripe: bool = True
) -> list[Callable[[], object]]:
    """Cancel every paying subscription but the oldest (created first at Stripe; on a tie, the
    one mirrored first), with a prorated credit; returns the
    notices to send once the change is committed (empty when there was one or none).
    ``on_page``: the owner is syncing from a page, which then shows the notice too.
    ``ask_stripe=False``: only the mirrored subscriptions are compared (a webhook sync of a
    subscription that was already paying: see ``Delivery.sync``)."""
    if not tenant.stripe_customer_id or not any(valid(s) for s in subscriptions_of(tenant)):
        return []
    # The other tab's subscription may not be mirrored yet: ask Stripe for all of them.
    for remote in get_gateway().list_subscriptions(tenant.stripe_customer_id) if ask_stripe else []:
        if remote.status in BLOCKING_STATUSES:
            apply_subscription(tenant, remote)
    paying = [sub for sub in subscriptions_of(tenant) if valid(sub)]
    if len(paying) < 2:
        return []
    kept = min(paying, key=_started)
    notices: list[Callable[[], object]] = []
    for duplicate in paying:
        if duplicate is kept:
            continue
        canceled = get_gateway().cancel_with_credit(duplicate.stripe_subscription_id)
        apply_subscription(tenant, canceled)
        log.warning(
            "tenant %s: second paid subscription %s canceled with a prorated credit; %s is kept",
            tenant.id,
            duplicate.stripe_subscription_id,
            kept.stripe_subscription_id,
        )
        notices.append(_notice(tenant, on_page))
    return notices


def _started(sub: Subscription) -> tuple[float, int]:
    started = sub.started_at or sub.created_at
    return (started.timestamp() if started else 0.0, sub.id)


DUPLICATE_MESSAGE = (
    "Your account was subscribed to Pro twice (two checkouts were paid). We kept the first "
    "subscription and canceled the second at once; its unused time is credited to your "
    "account and comes off your next invoice."
)


def _notice(tenant: Tenant, on_page: bool) -> Callable[[], object]:
    def tell() -> object:
        if on_page and has_request_context():
            flash(DUPLICATE_MESSAGE, "warning")
        address = owner_email(tenant)
        if not address:
            log.warning("tenant %s has no owner address; duplicate notice not sent", tenant.id)
            return False
        try:
            send_email(
                address,
                "Your second CONTINUUM Pro subscription was canceled",
                f"Hello,\n\n{DUPLICATE_MESSAGE}\n\nYour billing page:\n"
                f"{portal_url('/billing/')}\n\nThe CONTINUUM team\n",
            )
        except MailError:
            return False  # logged by portal.mail; the cancellation stands
        return True

    return tell
