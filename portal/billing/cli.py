"""``flask stripe ...``: create or find the catalog at Stripe, and billing housekeeping.

``flask stripe bootstrap`` is idempotent: it looks prices up by lookup key first and creates
only what is missing, with deterministic idempotency keys. Enterprise is sales-led and has
no price.
"""

from __future__ import annotations

from decimal import Decimal

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from portal.billing.subscriptions import expire_grace_periods, resync_tenant
from portal.extensions import db
from portal.models import Tenant
from portal.plans import PLANS, PRICE_LOOKUP_KEYS, PricingTier
from portal.stripe_gateway import StripePrice, get_gateway
from portal.web.formatting import format_money

PRODUCT_NAME = "CONTINUUM Pro"

stripe_cli = AppGroup("stripe", help="Stripe catalog and billing housekeeping.")


def _cents(amount: Decimal | None) -> int:
    if amount is None:
        raise ValueError("a self-serve price needs an amount")
    return int(amount * 100)


def bootstrap_catalog() -> list[str]:
    """Find or create the Pro product and its prices; returns one line per price and what
    happened to it."""
    gateway = get_gateway()
    wanted = {
        key: interval
        for (tier, interval), key in PRICE_LOOKUP_KEYS.items()
        if tier == PricingTier.PRO
    }
    existing = gateway.prices_by_lookup_key(list(wanted))
    product_id = next((price.product_id for price in existing.values()), None)
    lines = []
    for lookup_key, interval in wanted.items():
        price = existing.get(lookup_key)
        what = "found"
        if price is None:
            product_id = product_id or gateway.create_product(PRODUCT_NAME, "continuum_pro")
            amount = _cents(PLANS[PricingTier.PRO].price(interval))
            price = gateway.create_price(product_id, lookup_key, amount, interval.value)
            what = "created"
        lines.append(f"{what:7} {lookup_key}: {price.id} ({_describe(price)})")
    lines.append("Enterprise is sales-led: no self-serve price.")
    return lines


def _describe(price: StripePrice) -> str:
    amount = format_money(price.unit_amount or 0, price.currency)
    return f"{amount} per {price.interval}, product {price.product_id}"


@stripe_cli.command("bootstrap")
def bootstrap_command() -> None:
    """Create or find the CONTINUUM Pro product and its monthly and yearly prices."""
    for line in bootstrap_catalog():
        click.echo(line)


@stripe_cli.command("resync")
def resync_command() -> None:
    """Re-read every tenant's subscriptions from Stripe, e.g. after webhooks were missed."""
    linked = sa.select(Tenant).where(Tenant.stripe_customer_id.is_not(None))
    tenants = db.session.scalars(linked).all()
    for tenant in tenants:
        for result in resync_tenant(tenant):
            sub = result.subscription
            click.echo(
                f"tenant {tenant.id}: {sub.stripe_subscription_id} {sub.status} -> "
                f"{result.tier.value}"
            )


@stripe_cli.command("expire-grace")
def expire_grace_command() -> None:
    """Move tenants whose past-due grace period ran out to the Free tier."""
    from portal.billing.dunning import send_downgraded

    for tenant in expire_grace_periods():
        send_downgraded(tenant)
        click.echo(f"tenant {tenant.id}: past-due grace period over, now on Free")
