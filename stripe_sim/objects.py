"""Builders for the Stripe objects the simulator returns, in the pinned API version's shapes.

Every field set here exists on Stripe's own example of the resource (the contract tests check
this). Keys starting with ``_`` are the simulator's private bookkeeping and never leave it.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from stripe_sim.simtime import new_id

Obj = dict[str, Any]


def list_object(data: list[Obj], url: str, has_more: bool = False) -> Obj:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def deleted(obj: Obj) -> Obj:
    return {"id": obj["id"], "object": obj["object"], "deleted": True}


def product(created: int, name: str, **fields: Any) -> Obj:
    return {
        "id": new_id("prod", 14), "object": "product", "active": True, "created": created,
        "default_price": None, "description": None, "images": [], "livemode": False,
        "marketing_features": [], "metadata": {}, "name": name, "package_dimensions": None,
        "shippable": None, "statement_descriptor": None, "tax_code": None, "type": "service",
        "unit_label": None,
        "updated": created, "url": None, **fields,
    }


def price(created: int, product_id: str, currency: str, unit_amount: Decimal,
          recurring: Obj | None, **fields: Any) -> Obj:
    """A per-unit price; ``unit_amount`` is in cents and may be fractional (then the integer
    ``unit_amount`` is null and only ``unit_amount_decimal`` carries it, as in Stripe)."""
    return {
        "id": new_id("price"), "object": "price", "active": True, "billing_scheme": "per_unit",
        "created": created, "currency": currency, "custom_unit_amount": None,
        "livemode": False, "lookup_key": None, "metadata": {}, "nickname": None,
        "product": product_id,
        "recurring": None if recurring is None else {
            "interval": recurring["interval"],
            "interval_count": recurring.get("interval_count", 1),
            "meter": recurring.get("meter"),
            "usage_type": recurring.get("usage_type", "licensed"), "trial_period_days": None,
        },
        "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
        "type": "one_time" if recurring is None else "recurring",
        "unit_amount": int(unit_amount) if unit_amount == unit_amount.to_integral_value()
        else None,
        "unit_amount_decimal": decimal_string(unit_amount), **fields,
    }


def decimal_string(value: Decimal) -> str:
    """Stripe's decimal string: no exponent, no trailing zeros (``"0.01"``, ``"4900"``)."""
    text = format(value.normalize(), "f")
    return text


def unit_amount(price_obj: Obj) -> Decimal:
    """The price per unit in cents, exactly (from ``unit_amount_decimal``)."""
    return Decimal(price_obj["unit_amount_decimal"])


def is_metered(price_obj: Obj) -> bool:
    recurring = price_obj["recurring"]
    return bool(recurring) and recurring["usage_type"] == "metered"


def plan_of(price_obj: Obj) -> Obj:
    """The legacy ``plan`` view of a recurring price, still sent on subscription items."""
    recurring = price_obj["recurring"]
    return {
        "id": price_obj["id"], "object": "plan", "active": price_obj["active"],
        "amount": price_obj["unit_amount"], "amount_decimal": price_obj["unit_amount_decimal"],
        "billing_scheme": "per_unit", "created": price_obj["created"],
        "currency": price_obj["currency"], "interval": recurring["interval"],
        "interval_count": recurring["interval_count"], "livemode": False,
        "metadata": price_obj["metadata"], "meter": recurring.get("meter"),
        "nickname": price_obj["nickname"], "product": price_obj["product"], "tiers_mode": None,
        "transform_usage": None, "trial_period_days": None,
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def customer(created: int, **fields: Any) -> Obj:
    return {
        "id": new_id("cus", 14), "object": "customer", "address": None, "balance": 0,
        "created": created, "currency": None, "default_source": None, "delinquent": False,
        "description": None, "discount": None, "email": None,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None, "default_payment_method": None, "footer": None,
            "rendering_options": None,
        },
        "livemode": False, "metadata": {}, "name": None, "next_invoice_sequence": 1,
        "phone": None, "preferred_locales": [], "shipping": None, "tax_exempt": "none",
        "test_clock": None, **fields,
    }


def payment_method(created: int, card: Obj, name: str | None, email: str | None) -> Obj:
    return {
        "id": new_id("pm"), "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {"city": None, "country": None, "line1": None, "line2": None,
                        "postal_code": None, "state": None},
            "email": email, "name": name, "phone": None, "tax_id": None,
        },
        "card": {
            "brand": card["brand"],
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": "US", "display_brand": card["brand"], "exp_month": card["exp_month"],
            "exp_year": card["exp_year"], "fingerprint": card["fingerprint"],
            "funding": "credit", "generated_from": None, "last4": card["last4"],
            "networks": {"available": [card["brand"]], "preferred": None},
            "three_d_secure_usage": {"supported": True}, "wallet": None,
            "regulated_status": "unregulated",
        },
        "created": created, "customer": None, "livemode": False, "metadata": {},
        "type": "card", "customer_account": None,
        "_behaviour": card["behaviour"],
    }


def setup_intent(created: int, customer_id: str, payment_method_id: str) -> Obj:
    intent_id = new_id("seti")
    return {
        "id": intent_id, "object": "setup_intent", "application": None,
        "automatic_payment_methods": None, "cancellation_reason": None,
        "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}", "created": created,
        "customer": customer_id, "description": None, "flow_directions": None,
        "last_setup_error": None, "latest_attempt": None, "livemode": False, "mandate": None,
        "metadata": {}, "next_action": None, "on_behalf_of": None,
        "payment_method": payment_method_id, "payment_method_configuration_details": None,
        "payment_method_options": None, "payment_method_types": ["card"],
        "single_use_mandate": None, "status": "succeeded", "usage": "off_session",
        "excluded_payment_method_types": None,
    }


def test_clock(created: int, frozen_time: int, name: str | None) -> Obj:
    return {
        "id": new_id("clock"), "object": "test_helpers.test_clock", "created": created,
        "deletes_after": created + 30 * 86400, "frozen_time": frozen_time, "livemode": False,
        "name": name, "status": "ready", "status_details": {},
    }


def event(created: int, kind: str, data_object: Obj, previous: Obj | None,
          request: Obj, api_version: str, pending_webhooks: int) -> Obj:
    data: Obj = {"object": data_object}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": new_id("evt"), "object": "event", "api_version": api_version, "created": created,
        "data": data, "livemode": False, "pending_webhooks": pending_webhooks,
        "request": request, "type": kind,
    }


def public(value: Any) -> Any:
    """A copy without the simulator's private ``_`` keys, as sent over the wire."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def merge_metadata(current: dict[str, str], update: dict[str, str] | str) -> dict[str, str]:
    """Stripe's metadata update: keys merge, an empty value unsets a key, ``""`` clears all."""
    if isinstance(update, str):  # "" clears every key
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
