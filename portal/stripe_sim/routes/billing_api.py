"""Subscriptions and invoices."""

from __future__ import annotations

from typing import Any

from stripe.params import (
    InvoiceListParams,
    InvoiceRetrieveParams,
    SubscriptionListParams,
    SubscriptionRetrieveParams,
)

from portal.stripe_sim.api import endpoint, load, paginate
from portal.stripe_sim.context import Sim


@endpoint("GET", "/v1/subscriptions/<sub_id>", SubscriptionRetrieveParams)
def retrieve_subscription(sim: Sim, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
    return load(sim, "subscription", sub_id)


@endpoint("GET", "/v1/subscriptions", SubscriptionListParams,
          {"customer", "status", "price", "test_clock", "limit", "starting_after",
           "ending_before"})
def list_subscriptions(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    subs = sim.store.all("subscription")
    if "customer" in params:
        subs = [s for s in subs if s["customer"] == params["customer"]]
    if "test_clock" in params:
        subs = [s for s in subs if s["test_clock"] == params["test_clock"]]
    if "price" in params:
        subs = [s for s in subs
                if any(i["price"]["id"] == params["price"] for i in s["items"]["data"])]
    status = params.get("status")
    if status is None:
        subs = [s for s in subs if s["status"] not in ("canceled", "incomplete_expired")]
    elif status == "ended":
        subs = [s for s in subs if s["status"] in ("canceled", "incomplete_expired")]
    elif status != "all":
        subs = [s for s in subs if s["status"] == status]
    return paginate(subs, params, "/v1/subscriptions")


@endpoint("GET", "/v1/invoices/<invoice_id>", InvoiceRetrieveParams)
def retrieve_invoice(sim: Sim, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    return load(sim, "invoice", invoice_id)


@endpoint("GET", "/v1/invoices", InvoiceListParams,
          {"customer", "subscription", "status", "limit", "starting_after", "ending_before"})
def list_invoices(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    invoices = sim.store.all("invoice")
    if "customer" in params:
        invoices = [i for i in invoices if i["customer"] == params["customer"]]
    if "subscription" in params:
        invoices = [i for i in invoices if _subscription_of(i) == params["subscription"]]
    if "status" in params:
        invoices = [i for i in invoices if i["status"] == params["status"]]
    return paginate(invoices, params, "/v1/invoices")


def _subscription_of(invoice: dict[str, Any]) -> str | None:
    parent = invoice["parent"]
    return parent["subscription_details"]["subscription"] if parent else None
