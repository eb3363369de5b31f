"""Products and prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stripe.params import (
    PriceCreateParams,
    PriceListParams,
    PriceRetrieveParams,
    PriceUpdateParams,
    ProductCreateParams,
    ProductListParams,
    ProductRetrieveParams,
    ProductUpdateParams,
)

from stripe_sim import objects
from stripe_sim.api import endpoint, load, paginate, simulated_only
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError, missing_param
from stripe_sim.simtime import real_now

INTERVALS = ("day", "week", "month", "year")


@endpoint("POST", "/v1/products", ProductCreateParams,
          {"name", "description", "metadata", "active", "id"})
def create_product(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    product = objects.product(real_now(), params["name"],
                              description=params.get("description"),
                              metadata=params.get("metadata") or {},
                              active=params.get("active", True))
    if "id" in params:
        if sim.store.get(params["id"]) is not None:
            raise StripeError(f"Product already exists: {params['id']}",
                              code="resource_already_exists", param="id")
        product["id"] = params["id"]
    return sim.store.put(product)


@endpoint("GET", "/v1/products/<product_id>", ProductRetrieveParams)
def retrieve_product(sim: Sim, params: dict[str, Any], product_id: str) -> dict[str, Any]:
    return load(sim, "product", product_id)


@endpoint("POST", "/v1/products/<product_id>", ProductUpdateParams,
          {"name", "description", "metadata", "active", "default_price"})
def update_product(sim: Sim, params: dict[str, Any], product_id: str) -> dict[str, Any]:
    product = load(sim, "product", product_id)
    for field in ("name", "description", "default_price"):
        if field in params:
            product[field] = params[field] or None
    if "active" in params:
        product["active"] = params["active"]
    if "metadata" in params:
        product["metadata"] = objects.merge_metadata(product["metadata"], params["metadata"])
    product["updated"] = real_now()
    return sim.store.put(product)


@endpoint("GET", "/v1/products", ProductListParams,
          {"active", "limit", "starting_after", "ending_before"})
def list_products(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    products = sim.store.all("product")
    if "active" in params:
        products = [p for p in products if p["active"] == params["active"]]
    return paginate(products, params, "/v1/products")


@endpoint("POST", "/v1/prices", PriceCreateParams,
          {"currency", "unit_amount", "unit_amount_decimal", "billing_scheme", "recurring",
           "product", "product_data", "lookup_key", "transfer_lookup_key", "nickname",
           "metadata", "active"})
def create_price(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    now = real_now()
    if params.get("billing_scheme", "per_unit") != "per_unit":
        raise StripeError("The Stripe simulator supports billing_scheme `per_unit` only.",
                          param="billing_scheme")
    amount = _unit_amount(params)
    recurring = _recurring(sim, params.get("recurring"))
    if "product" in params:
        product_id = load(sim, "product", params["product"], param="product")["id"]
    elif "product_data" in params:
        product_id = sim.store.put(objects.product(now, params["product_data"]["name"]))["id"]
    else:
        raise missing_param("product")
    lookup_key = params.get("lookup_key")
    _claim_lookup_key(sim, lookup_key, params.get("transfer_lookup_key", False))
    price = objects.price(now, product_id, params["currency"].lower(), amount, recurring,
                          lookup_key=lookup_key, nickname=params.get("nickname"),
                          metadata=params.get("metadata") or {},
                          active=params.get("active", True))
    return sim.store.put(price)


def _unit_amount(params: dict[str, Any]) -> Decimal:
    """Exactly one of ``unit_amount`` (integer cents) and ``unit_amount_decimal`` (cents with
    at most 12 decimal places), as Stripe requires for per-unit prices."""
    if "unit_amount" in params and "unit_amount_decimal" in params:
        raise StripeError("You may only specify one of these parameters: unit_amount, "
                          "unit_amount_decimal.", code="parameters_exclusive",
                          param="unit_amount_decimal")
    if "unit_amount_decimal" in params:
        amount: Decimal = params["unit_amount_decimal"]
        if amount < 0 or -amount.as_tuple().exponent > 12:  # type: ignore[operator]
            raise StripeError("Invalid unit_amount_decimal: it must be a non-negative amount "
                              "in cents with at most 12 decimal places.",
                              param="unit_amount_decimal")
        return amount
    if params.get("unit_amount") is None:
        raise missing_param("unit_amount")
    if params["unit_amount"] < 0:
        raise StripeError("Invalid non-negative integer.", code="parameter_invalid_integer",
                          param="unit_amount")
    return Decimal(params["unit_amount"])


def _recurring(sim: Sim, recurring: dict[str, Any] | None) -> dict[str, Any] | None:
    """Check ``recurring``: a known interval, and a meter exactly when usage is metered
    (Stripe removed meter-less metered prices in 2025-03-31.basil)."""
    if recurring is None:
        return None
    simulated_only(recurring, {"interval", "interval_count", "usage_type", "meter"},
                   "recurring")
    if recurring["interval"] not in INTERVALS:
        raise StripeError("Invalid recurring[interval]: must be one of day, week, month, or "
                          "year", param="recurring[interval]")
    if recurring.get("interval_count", 1) < 1:
        raise StripeError("Invalid recurring[interval_count]: must be at least 1.",
                          param="recurring[interval_count]")
    usage_type = recurring.get("usage_type", "licensed")
    if usage_type not in ("licensed", "metered"):
        raise StripeError("Invalid recurring[usage_type]: must be one of licensed or metered",
                          param="recurring[usage_type]")
    if usage_type == "metered" and not recurring.get("meter"):
        raise StripeError("Metered prices require a meter: pass recurring[meter] with the id "
                          "of an active billing meter.", code="parameter_missing",
                          param="recurring[meter]")
    if usage_type == "licensed" and recurring.get("meter"):
        raise StripeError("recurring[meter] can only be set when recurring[usage_type] is "
                          "`metered`.", param="recurring[meter]")
    if usage_type == "metered":
        meter = load(sim, "billing.meter", recurring["meter"], "billing meter",
                     "recurring[meter]")
        if meter["status"] != "active":
            raise StripeError(f"The meter {meter['id']} is not active.",
                              param="recurring[meter]")
    return recurring


@endpoint("GET", "/v1/prices/<price_id>", PriceRetrieveParams)
def retrieve_price(sim: Sim, params: dict[str, Any], price_id: str) -> dict[str, Any]:
    return load(sim, "price", price_id)


@endpoint("POST", "/v1/prices/<price_id>", PriceUpdateParams,
          {"active", "metadata", "nickname", "lookup_key", "transfer_lookup_key"})
def update_price(sim: Sim, params: dict[str, Any], price_id: str) -> dict[str, Any]:
    price = load(sim, "price", price_id)
    if "active" in params:
        price["active"] = params["active"]
    if "nickname" in params:
        price["nickname"] = params["nickname"] or None
    if "metadata" in params:
        price["metadata"] = objects.merge_metadata(price["metadata"], params["metadata"])
    if "lookup_key" in params:
        _claim_lookup_key(sim, params["lookup_key"], params.get("transfer_lookup_key", False),
                          price_id)
        price["lookup_key"] = params["lookup_key"] or None
    return sim.store.put(price)


def _claim_lookup_key(sim: Sim, lookup_key: str | None, transfer: bool,
                      owner_id: str | None = None) -> None:
    """Free ``lookup_key`` for a price: taken elsewhere it is an error unless transferred."""
    if not lookup_key:
        return
    for holder in sim.store.all("price", lookup_key=lookup_key):
        if holder["id"] == owner_id:
            continue
        if not transfer:
            raise StripeError(f"A price (`{holder['id']}`) already uses that lookup key.",
                              param="lookup_key")
        holder["lookup_key"] = None
        sim.store.put(holder)


@endpoint("GET", "/v1/prices", PriceListParams,
          {"active", "lookup_keys", "product", "type", "currency", "limit", "starting_after",
           "ending_before"})
def list_prices(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    prices = sim.store.all("price")
    if "lookup_keys" in params:
        prices = [p for p in prices if p["lookup_key"] in params["lookup_keys"]]
    for field in ("active", "product", "type", "currency"):
        if field in params:
            prices = [p for p in prices if p[field] == params[field]]
    return paginate(prices, params, "/v1/prices")

