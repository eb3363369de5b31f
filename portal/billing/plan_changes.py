"""Changing a live subscription: swap monthly/yearly (preview first), cancel, cancel now, resume.

Each change is made at Stripe, then the returned subscription is mirrored through
``apply_subscription`` under the tenant lock, exactly as the webhook would.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import current_app

from portal.billing.checkout import parse_interval
from portal.billing.dunning import send_downgraded
from portal.billing.subscriptions import (
    SyncResult,
    apply_subscription,
    current_subscription,
    ended,
    lock_tenant,
    on_grace_period,
)
from portal.errors import Conflict, NotFound, PortalError
from portal.extensions import db
from portal.models import Subscription, Tenant
from portal.plans import PricingTier, get_stripe_price_id
from portal.stripe_gateway import StripeInvoiceLine, StripeSubscription, get_gateway

log = logging.getLogger("continuum.billing")


def _live_subscription(tenant: Tenant) -> Subscription:
    sub = current_subscription(tenant)
    if sub is None or ended(sub):
        raise NotFound("This account has no active subscription.")
    return sub


def _remote(tenant: Tenant) -> StripeSubscription:
    """The tenant's live subscription as Stripe has it now (prices and periods to act on)."""
    return get_gateway().retrieve_subscription(_live_subscription(tenant).stripe_subscription_id)


def _apply(tenant: Tenant, remote: StripeSubscription) -> SyncResult:
    """Mirror what Stripe answered; a move to Free is stored first, then mailed."""
    lock_tenant(tenant)
    result = apply_subscription(tenant, remote)
    db.session.commit()
    if result.downgraded:
        send_downgraded(tenant)
    return result


# --- monthly <-> yearly ----------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalSwitchPreview:
    interval: str
    proration_date: int
    amount_due: int
    total: int
    currency: str
    lines: list[StripeInvoiceLine]


def _billing_now() -> int:
    """Now, as Stripe sees it: the test clock's frozen time when one is configured."""
    clock = current_app.config["STRIPE_TEST_CLOCK"]
    if clock:
        return get_gateway().retrieve_test_clock(clock).frozen_time
    return int(time.time())


def _within_period(remote: StripeSubscription, moment: int) -> bool:
    start, end = remote.current_period_start, remote.current_period_end
    return start is None or end is None or int(start.timestamp()) <= moment <= int(end.timestamp())


def _target_price(remote: StripeSubscription, interval: str | None) -> tuple[str, str]:
    billing_interval = parse_interval(interval)
    if remote.interval == billing_interval.value:
        raise Conflict(f"The plan is already billed per {billing_interval.value}.")
    lookup_key = get_stripe_price_id(PricingTier.PRO, billing_interval)
    return billing_interval.value, get_gateway().price_by_lookup_key(lookup_key).id


def preview_interval_switch(tenant: Tenant, interval: str | None) -> IntervalSwitchPreview:
    """What switching to ``interval`` would charge now; confirm with the same proration_date."""
    remote = _remote(tenant)
    target, price_id = _target_price(remote, interval)
    proration_date = _billing_now()
    if not _within_period(remote, proration_date):
        raise Conflict("The current billing period is changing right now; try again shortly.")
    invoice = get_gateway().preview_price_swap(remote, price_id, proration_date)
    return IntervalSwitchPreview(
        interval=target,
        proration_date=proration_date,
        amount_due=invoice.amount_due,
        total=invoice.total,
        currency=invoice.currency,
        lines=invoice.lines,
    )


def switch_interval(tenant: Tenant, interval: str | None, proration_date: int | str) -> SyncResult:
    """Swap to ``interval`` prorated at the previewed ``proration_date``."""
    try:
        moment = int(proration_date)
    except (TypeError, ValueError):
        raise PortalError("The change has no valid preview date; preview it again.") from None
    remote = _remote(tenant)
    _, price_id = _target_price(remote, interval)
    if not _within_period(remote, moment):
        raise Conflict("That preview is out of date (the billing period moved). Preview again.")
    updated = get_gateway().swap_price(remote, price_id, moment)
    log.info("tenant %s: switched %s to %s billing", tenant.id, remote.id, updated.interval)
    return _apply(tenant, updated)


# --- cancel and resume -----------------------------------------------------------------------


def cancel_at_period_end(tenant: Tenant) -> SyncResult:
    """Stop renewing: Pro stays until the paid period ends, then the account is Free."""
    sub = _live_subscription(tenant)
    if sub.cancel_at_period_end:
        raise Conflict("The plan is already set to end with this billing period.")
    updated = get_gateway().set_cancel_at_period_end(sub.stripe_subscription_id, True)
    log.info("tenant %s: %s cancels at period end", tenant.id, sub.stripe_subscription_id)
    return _apply(tenant, updated)


def resume(tenant: Tenant) -> SyncResult:
    """Undo a cancel-at-period-end; only possible before the period ends."""
    sub = current_subscription(tenant)
    if sub is None or not on_grace_period(sub):
        raise Conflict(
            "Only a plan set to end at the close of its period can be resumed, and only "
            "before that date. Start a new subscription from the plans page instead."
        )
    updated = get_gateway().set_cancel_at_period_end(sub.stripe_subscription_id, False)
    log.info("tenant %s: resumed %s", tenant.id, sub.stripe_subscription_id)
    return _apply(tenant, updated)


def cancel_now(tenant: Tenant) -> SyncResult:
    """End the subscription immediately; the account is Free from now on."""
    sub = _live_subscription(tenant)
    updated = get_gateway().cancel_subscription(sub.stripe_subscription_id)
    log.info("tenant %s: canceled %s now", tenant.id, sub.stripe_subscription_id)
    return _apply(tenant, updated)
