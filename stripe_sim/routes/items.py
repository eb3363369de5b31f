"""Subscription items: add one to a subscription, list a subscription's items, retrieve one."""

from __future__ import annotations

from typing import Any

from stripe.params import (
    SubscriptionItemCreateParams,
    SubscriptionItemListParams,
    SubscriptionItemRetrieveParams,
)

from stripe_sim import changes
from stripe_sim.api import endpoint, load, paginate, required
from stripe_sim.context import Sim
from stripe_sim.errors import resource_missing
from stripe_sim.simtime import customer_time


@endpoint("POST", "/v1/subscription_items", SubscriptionItemCreateParams,
          {"subscription", "price", "quantity", "proration_behavior", "proration_date",
           "payment_behavior", "metadata"})
def create_item(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    """Add an item, as ``POST /v1/subscriptions/{id}`` with ``items=[{price, quantity}]``
    does (same checks, prorations and events); ``metadata`` goes on the new item."""
    sub = load(sim, "subscription", params["subscription"], param="subscription")
    entry = {"price": required(params, "price")}
    if "quantity" in params:
        entry["quantity"] = params["quantity"]
    known = {item["id"] for item in sub["items"]["data"]}
    update: dict[str, Any] = {"items": [entry]}
    update.update({k: params[k] for k in ("proration_behavior", "proration_date",
                                          "payment_behavior") if k in params})
    sub = changes.update(sim, sub, update, customer_time(sim.store, sub["customer"]),
                         item_metadata=params.get("metadata"))
    return next(item for item in sub["items"]["data"] if item["id"] not in known)


@endpoint("GET", "/v1/subscription_items", SubscriptionItemListParams,
          {"subscription", "limit", "starting_after", "ending_before"})
def list_items(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    sub = load(sim, "subscription", params["subscription"], param="subscription")
    return paginate(sub["items"]["data"], params,
                    f"/v1/subscription_items?subscription={sub['id']}")


@endpoint("GET", "/v1/subscription_items/<item_id>", SubscriptionItemRetrieveParams)
def retrieve_item(sim: Sim, params: dict[str, Any], item_id: str) -> dict[str, Any]:
    for sub in sim.store.all("subscription"):
        for item in sub["items"]["data"]:
            if item["id"] == item_id:
                return item
    raise resource_missing("subscription_item", item_id)
