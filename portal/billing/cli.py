"""``flask stripe ...``: create or find the catalog at Stripe, and billing housekeeping.

``flask stripe bootstrap`` is idempotent: it looks prices up by lookup key and the meter up by
event name first, and creates only what is missing, with deterministic idempotency keys.
Enterprise is sales-led and has no price.
"""

from __future__ import annotations

import time
from decimal import Decimal

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from portal.billing.card_mirror import backfill_billing
from portal.billing.metered import ensure_metered_item
from portal.billing.subscriptions import (
    current_subscription,
    expire_grace_periods,
    resync_tenant,
)
from portal.config import portal_url
from portal.errors import PortalError
from portal.extensions import db
from portal.models import Tenant
from portal.plans import (
    OVERAGE_METER_EVENT_NAME,
    OVERAGE_PRICE_LOOKUP_KEY,
    OVERAGE_UNIT_AMOUNT_DECIMAL,
    PLANS,
    PRICE_LOOKUP_KEYS,
    PricingTier,
)
from portal.stripe_gateway import StripeGateway, StripeMeter, StripePrice, get_gateway
from portal.web.formatting import format_money

PRODUCT_NAME = "CONTINUUM Pro"
METER_DISPLAY_NAME = "CONTINUUM API calls over quota"
OVERAGE_PRICE_NICKNAME = "Pro overage: $0.10 per 1,000 API calls"

stripe_cli = AppGroup("stripe", help="Stripe catalog and billing housekeeping.")


def _cents(amount: Decimal | None) -> int:
    if amount is None:
        raise ValueError("a self-serve price needs an amount")
    return int(amount * 100)


def bootstrap_catalog() -> list[str]:
    """Find or create the Pro product, its prices, the overage meter and the metered price;
    returns one line per object and what happened to it."""
    gateway = get_gateway()
    wanted = {
        key: interval
        for (tier, interval), key in PRICE_LOOKUP_KEYS.items()
        if tier == PricingTier.PRO
    }
    existing = gateway.prices_by_lookup_key([*wanted, OVERAGE_PRICE_LOOKUP_KEY])
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
        product_id = product_id or price.product_id
        lines.append(f"{what:7} {lookup_key}: {price.id} ({_describe(price)})")
    assert product_id is not None
    meter, what = _overage_meter(gateway)
    lines.append(f"{what:7} meter {meter.event_name}: {meter.id} ({meter.display_name})")
    price, what = _overage_price(gateway, existing.get(OVERAGE_PRICE_LOOKUP_KEY), product_id, meter)
    lines.append(f"{what:7} {OVERAGE_PRICE_LOOKUP_KEY}: {price.id} ({_describe(price)})")
    lines.append(_portal_configuration(gateway))
    lines.append("Enterprise is sales-led: no self-serve price.")
    return lines


def _portal_configuration(gateway: StripeGateway) -> str:
    """Find or create the billing portal configuration portal sessions use."""
    found = gateway.find_portal_configuration()
    if found is not None:
        return f"{'found':7} billing portal configuration: {found}"
    created = gateway.create_portal_configuration(portal_url("/billing/"))
    return f"{'created':7} billing portal configuration: {created}"


def bootstrap_webhook_endpoint(url: str) -> list[str]:
    """Create the webhook endpoint for every event type the portal handles, on the pinned API
    version; the lines include its signing secret, which Stripe shows only this once."""
    if not url.startswith("https://") and not url.startswith("http://"):
        raise click.BadParameter("must be an http(s) URL", param_hint="--webhook-url")
    from portal.webhooks.handlers import HANDLERS

    gateway = get_gateway()
    found = gateway.find_webhook_endpoint(url)
    if found is not None:
        return [
            f"found   webhook endpoint {found.id}: {found.url} (API version "
            f"{found.api_version}, {len(found.enabled_events)} event types); its signing secret "
            "is not shown again (roll it in the Stripe Dashboard if it is lost)"
        ]
    hook = gateway.create_webhook_endpoint(url, sorted(HANDLERS))
    return [
        f"created webhook endpoint {hook.id}: {hook.url} (API version {hook.api_version}, "
        f"{len(hook.enabled_events)} event types)",
        f"Signing secret (shown once; set STRIPE_WEBHOOK_SECRET to it): {hook.secret}",
    ]


def _overage_meter(gateway: StripeGateway) -> tuple[StripeMeter, str]:
    """The active meter for overage events, created if there is none."""
    meter = gateway.find_meter(OVERAGE_METER_EVENT_NAME)
    if meter is not None:
        return meter, "found"
    meter = gateway.create_meter(
        display_name=METER_DISPLAY_NAME,
        event_name=OVERAGE_METER_EVENT_NAME,
        customer_key="stripe_customer_id",
        value_key="value",
    )
    return meter, "created"


def _overage_price(
    gateway: StripeGateway, price: StripePrice | None, product_id: str, meter: StripeMeter
) -> tuple[StripePrice, str]:
    """The metered overage price on ``meter``; a price under the lookup key that bills another
    meter or another amount (the meter was replaced) hands the lookup key to a new one."""
    if price is not None and _is_overage_price(price, meter):
        return price, "found"
    created = gateway.create_metered_price(
        product_id=product_id,
        lookup_key=OVERAGE_PRICE_LOOKUP_KEY,
        meter_id=meter.id,
        unit_amount_decimal=OVERAGE_UNIT_AMOUNT_DECIMAL,
        nickname=OVERAGE_PRICE_NICKNAME,
        transfer_lookup_key=price is not None,
    )
    return created, "created" if price is None else "replaced"


def _is_overage_price(price: StripePrice, meter: StripeMeter) -> bool:
    amount = price.unit_amount_decimal
    return (
        price.metered
        and price.meter_id == meter.id
        and price.interval == "month"
        and price.currency == "usd"
        and amount is not None
        and Decimal(amount) == Decimal(OVERAGE_UNIT_AMOUNT_DECIMAL)
    )


def _describe(price: StripePrice) -> str:
    if price.metered:
        amount = f"{price.unit_amount_decimal} cents per unit on meter {price.meter_id}"
        return f"{amount}, billed per {price.interval} in arrears, product {price.product_id}"
    amount = format_money(price.unit_amount or 0, price.currency)
    return f"{amount} per {price.interval}, product {price.product_id}"


@stripe_cli.command("bootstrap")
@click.option(
    "--webhook-url",
    default=None,
    help="Also create the webhook endpoint at this URL and print its signing secret once.",
)
def bootstrap_command(webhook_url: str | None) -> None:
    """Create or find the CONTINUUM Pro product, its monthly and yearly prices, the overage
    Billing Meter, the metered overage price and the billing portal configuration; with
    --webhook-url, create the webhook endpoint too."""
    for line in bootstrap_catalog():
        click.echo(line)
    if webhook_url:
        for line in bootstrap_webhook_endpoint(webhook_url):
            click.echo(line)


@stripe_cli.command("resync")
def resync_command() -> None:
    """Re-read every tenant's subscriptions, invoices and cards from Stripe, e.g. after webhooks
    were missed, and add the metered overage item to Pro subscriptions that lack it."""
    linked = sa.select(Tenant).where(Tenant.stripe_customer_id.is_not(None))
    tenants = db.session.scalars(linked).all()
    for tenant in tenants:
        for result in resync_tenant(tenant):
            sub = result.subscription
            click.echo(
                f"tenant {tenant.id}: {sub.stripe_subscription_id} {sub.status} -> "
                f"{result.tier.value}"
            )
        cards, mirrored = backfill_billing(tenant)
        db.session.commit()
        click.echo(f"tenant {tenant.id}: {mirrored} invoice(s) and {cards} card(s) mirrored")
        current = current_subscription(tenant)
        if tenant.tier == PricingTier.PRO.value and current and not current.metered_item_id:
            try:
                with_item = ensure_metered_item(tenant)
            except PortalError as error:
                click.echo(f"tenant {tenant.id}: metered item not added: {error.message}")
                continue
            click.echo(
                f"tenant {tenant.id}: added the metered overage item "
                f"{with_item.metered_item_id} to {with_item.stripe_subscription_id}"
            )


@stripe_cli.command("expire-grace")
def expire_grace_command() -> None:
    """Move tenants whose past-due grace period ran out to the Free tier."""
    from portal.billing.dunning import send_downgraded

    for tenant in expire_grace_periods():
        send_downgraded(tenant)
        click.echo(f"tenant {tenant.id}: past-due grace period over, now on Free")


@stripe_cli.command("report-usage")
@click.option("--watch", is_flag=True, help="Keep reporting every METER_REPORT_SECONDS.")
def report_usage_command(watch: bool) -> None:
    """Send pending overage to Stripe's meter (once, or in a loop with --watch)."""
    from flask import current_app

    from portal.billing.meter_reporter import reporter_for

    reporter = reporter_for(current_app._get_current_object())  # type: ignore[attr-defined]
    while True:
        result = reporter.report_once()
        if result.rows or result.retries or result.failures or not watch:
            click.echo(
                f"reported {result.rows} events ({result.calls} calls, {result.duplicates} "
                f"already at Stripe); {result.retries} to retry; {result.failures} refused"
            )
        if not watch:
            return
        time.sleep(reporter.settings.interval_seconds)
