"""``flask stripe ...``: create or find the catalog at Stripe, and billing housekeeping.

``flask stripe bootstrap`` is idempotent: it looks prices up by lookup key first and creates
only what is missing, with deterministic idempotency keys. Enterprise is sales-led and has
no price.
"""

from __future__ import annotations

from decimal import Decimal

import click
from flask.cli import AppGroup

from .plans import PLANS, PRICE_LOOKUP_KEYS, BillingInterval, PricingTier
from .stripe_gateway import StripePrice, get_gateway
from .subscriptions import expire_grace_periods

PRODUCT_NAME = "CONTINUUM Pro"

stripe_cli = AppGroup("stripe", help="Stripe catalog and billing housekeeping.")


def _cents(amount: Decimal | None) -> int:
    if amount is None:
        raise ValueError("a self-serve price needs an amount")
    return int(amount * 100)


def bootstrap_catalog() -> list[tuple[str, StripePrice]]:
    """Find or create the Pro product and its prices; returns (found|created, price) pairs."""
    gateway = get_gateway()
    wanted = {
        key: interval
        for (tier, interval), key in PRICE_LOOKUP_KEYS.items()
        if tier == PricingTier.PRO
    }
    existing = gateway.prices_by_lookup_key(list(wanted))
    product_id = next((price.product_id for price in existing.values()), None)
    outcome = []
    for lookup_key, interval in wanted.items():
        if lookup_key in existing:
            outcome.append(("found", existing[lookup_key]))
            continue
        product_id = product_id or gateway.create_product(PRODUCT_NAME, "continuum_pro")
        plan = PLANS[PricingTier.PRO]
        amount = plan.monthly_price if interval == BillingInterval.MONTH else plan.yearly_price
        price = gateway.create_price(product_id, lookup_key, _cents(amount), interval.value)
        outcome.append(("created", price))
    return outcome


@stripe_cli.command("bootstrap")
def bootstrap_command() -> None:
    """Create or find the CONTINUUM Pro product and its monthly and yearly prices."""
    for what, price in bootstrap_catalog():
        amount = f"${(price.unit_amount or 0) / 100:.2f}"
        click.echo(
            f"{what:7} {price.lookup_key}: {price.id} ({amount} per {price.interval}, "
            f"product {price.product_id})"
        )
    click.echo("Enterprise is sales-led: no self-serve price.")


@stripe_cli.command("expire-grace")
def expire_grace_command() -> None:
    """Move tenants whose past-due grace period ran out to the Free tier."""
    from .dunning import send_downgraded

    for tenant in expire_grace_periods():
        send_downgraded(tenant)
        click.echo(f"tenant {tenant.id}: past-due grace period over, now on Free")
