"""The metered overage item on Pro subscriptions: added when a tenant turns overage on, or by
``flask stripe resync``; new Checkout sessions carry it from the start (``checkout``).

Every overage call bills against the price ``continuum_pro_api_calls`` on the Billing Meter that
``flask stripe bootstrap`` sets up.
"""

from __future__ import annotations

import logging

from portal.billing.subscriptions import current_subscription, sync_subscription, valid
from portal.errors import Conflict
from portal.extensions import db
from portal.models import Subscription, Tenant
from portal.plans import OVERAGE_PRICE_LOOKUP_KEY, PricingTier
from portal.stripe_gateway import get_gateway

log = logging.getLogger("continuum.billing")


def ensure_metered_item(tenant: Tenant) -> Subscription:
    """The tenant's Pro subscription, with the metered item added at Stripe if it lacks one.

    The item is added with an idempotency key naming the subscription and the price, so a
    double click or two processes add it once; the mirror is then re-synced and committed.
    """
    sub = current_subscription(tenant)
    if sub is None or sub.tier != PricingTier.PRO.value or not valid(sub):
        raise Conflict(
            "Overage needs an active Pro subscription. Open the billing page to check your plan."
        )
    if sub.metered_item_id:
        return sub
    gateway = get_gateway()
    remote = gateway.retrieve_subscription(sub.stripe_subscription_id)
    if remote.metered_item_id is None:
        price = gateway.price_by_lookup_key(OVERAGE_PRICE_LOOKUP_KEY)
        item_id = gateway.add_subscription_item(remote.id, price.id)
        log.info("tenant %s: added metered item %s to %s", tenant.id, item_id, remote.id)
    result = sync_subscription(tenant, remote.id)
    db.session.commit()
    if result is None or result.subscription.metered_item_id is None:
        raise Conflict("Overage billing could not be added to your plan. Please try again.")
    return result.subscription
