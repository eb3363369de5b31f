"""Subscription items: licensed items have a quantity and are billed in advance for their
period; metered items have no quantity and are billed in arrears for the usage their price's
meter recorded in the period that ended."""

from __future__ import annotations

from collections.abc import Sequence

from stripe_sim import invoicing, metering, objects
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.objects import Obj, is_metered, unit_amount
from stripe_sim.simtime import new_id

DEFAULT_MODE = "flexible"  # the default for new subscriptions since 2025-09-30.clover


def new_item(sub_id: str, price: Obj, quantity: int | None, start: int, end: int) -> Obj:
    """A subscription item; a metered one carries no ``quantity`` at all, as in Stripe."""
    item: Obj = {
        "id": new_id("si", 14), "object": "subscription_item", "created": start,
        "discounts": [], "metadata": {}, "price": price, "plan": objects.plan_of(price),
        "quantity": quantity, "subscription": sub_id, "tax_rates": [],
        "current_period_start": start, "current_period_end": end, "billing_thresholds": None,
    }
    if is_metered(price):
        del item["quantity"]
    return item


def quantity_for(price: Obj, item: Obj, where: str, *, default: int | None = 1) -> int | None:
    """The quantity of a requested item: none for a metered price (Stripe refuses one),
    else the given quantity or ``default`` (``None`` means it is required)."""
    if is_metered(price):
        if "quantity" in item:
            raise StripeError(f"Quantity should not be specified where usage_type is `metered`. "
                              f"Remove quantity from `{where}`", param=where)
        return None
    if "quantity" not in item:
        if default is None:
            raise StripeError(f"Quantity is required. Add `quantity` to `{where}`", param=where)
        return default
    quantity = item["quantity"]
    if quantity < 1:
        raise StripeError("This value must be greater than or equal to 1.",
                          code="parameter_invalid_integer", param=f"{where}[quantity]")
    return int(quantity)


def check_prices(prices: Sequence[Obj], mode: str, where: str) -> None:
    """Prices on one subscription share a currency; their intervals may differ only in
    flexible billing mode (mixed-interval subscriptions)."""
    if len({p["currency"] for p in prices}) > 1:
        raise StripeError("Currency and interval fields must match across all plans on this "
                          "subscription. Found mismatch in currency field.", param=where)
    intervals = {(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in prices}
    if len(intervals) > 1 and mode != "flexible":
        raise StripeError("Currency and interval fields must match across all plans on this "
                          "subscription. Found mismatch in interval field. Items with different "
                          "intervals need billing_mode[type]=flexible.", param=where)
    ids = [p["id"] for p in prices]
    if len(set(ids)) != len(ids):
        raise StripeError("Cannot add multiple subscription items with the same price.",
                          param=where)


def billing_mode(requested: Obj | None, now: int) -> Obj:
    """The subscription's ``billing_mode``; flexible unless ``classic`` is asked for."""
    mode = (requested or {}).get("type", DEFAULT_MODE)
    if mode not in ("classic", "flexible"):
        raise StripeError("Invalid billing_mode[type]: must be one of classic or flexible",
                          param="billing_mode[type]")
    if (requested or {}).get("flexible") and mode != "flexible":
        raise StripeError("billing_mode[flexible] can only be set when billing_mode[type] is "
                          "flexible.", param="billing_mode[flexible]")
    return {"type": mode, "flexible": None}


def mode_of(sub: Obj) -> str:
    return str((sub.get("billing_mode") or {}).get("type", "classic"))


def product_name(sim: Sim, price: Obj) -> str:
    product = sim.store.get(price["product"], "product")
    return product["name"] if product else price["product"]


def unit_text(price: Obj) -> str:
    """A price per unit in currency units with at least two decimals (``0.0001``)."""
    dollars = (unit_amount(price) / 100).normalize()
    text = format(dollars, "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')} {price['currency'].upper()}"


def period_line(sim: Sim, sub: Obj, item: Obj) -> Obj:
    """The invoice line charging a licensed item for its current period."""
    price, quantity = item["price"], item["quantity"]
    return invoicing.line(
        amount=metering.amount(unit_amount(price), quantity), currency=price["currency"],
        description=f"{quantity} × {product_name(sim, price)} (at {unit_text(price)} / "
                    f"{price['recurring']['interval']})",
        period=(item["current_period_start"], item["current_period_end"]),
        subscription_id=sub["id"], item_id=item["id"], quantity=quantity,
        unit_amount=unit_amount(price))


def usage_line(sim: Sim, sub: Obj, item: Obj, start: int, end: int) -> Obj:
    """The invoice line charging a metered item for its meter's usage in ``[start, end)``."""
    price = item["price"]
    quantity = metering.usage_quantity(sim, price, sub["customer"], start, end)
    return invoicing.line(
        amount=metering.amount(unit_amount(price), quantity), currency=price["currency"],
        description=f"{quantity} × {product_name(sim, price)} (at {unit_text(price)} / "
                    f"{price['recurring']['interval']})",
        period=(start, end), subscription_id=sub["id"], item_id=item["id"], quantity=quantity,
        unit_amount=unit_amount(price))
