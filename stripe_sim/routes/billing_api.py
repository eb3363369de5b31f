"""Subscriptions and invoices."""

from __future__ import annotations

from typing import Any

from stripe.params import (
    InvoiceCreatePreviewParams,
    InvoiceListParams,
    InvoicePayParams,
    InvoiceRetrieveParams,
    SubscriptionCancelParams,
    SubscriptionCreateParams,
    SubscriptionListParams,
    SubscriptionRetrieveParams,
    SubscriptionUpdateParams,
)

from stripe_sim import billing, changes, invoicing, items, preview
from stripe_sim.api import endpoint, load, paginate, required, simulated_only
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError, card_declined, missing_param
from stripe_sim.simtime import customer_time


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


@endpoint("POST", "/v1/subscriptions/<sub_id>", SubscriptionUpdateParams,
          {"items", "proration_behavior", "proration_date", "cancel_at_period_end", "metadata",
           "default_payment_method", "payment_behavior"})
def update_subscription(sim: Sim, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
    sub = load(sim, "subscription", sub_id)
    return changes.update(sim, sub, params, customer_time(sim.store, sub["customer"]))


@endpoint("DELETE", "/v1/subscriptions/<sub_id>", SubscriptionCancelParams,
          {"cancellation_details", "prorate", "invoice_now"})
def cancel_subscription(sim: Sim, params: dict[str, Any], sub_id: str) -> dict[str, Any]:
    sub = load(sim, "subscription", sub_id)
    prorate, invoice_now = bool(params.get("prorate")), bool(params.get("invoice_now"))
    if prorate != invoice_now:
        raise StripeError("The Stripe simulator prorates a cancellation only onto a final "
                          "invoice: send prorate and invoice_now both true or both false.",
                          param="prorate")
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError(f"No such subscription: '{sub_id}' (it is already canceled)",
                          status=404, code="resource_missing", param="id")
    details = params.get("cancellation_details") or {}
    sub["cancellation_details"] = dict(sub["cancellation_details"], **{
        k: details[k] or None for k in ("comment", "feedback") if k in details})
    now = customer_time(sim.store, sub["customer"])
    credit = changes.unused_time_credit(sim, sub, now) if prorate else []
    billing.cancel_now(sim, sub, "cancellation_requested", now)
    if credit:
        customer = load(sim, "customer", sub["customer"], param="customer")
        invoice = invoicing.create_and_finalize(sim, customer, sub, credit,
                                                "subscription_update", now)
        billing.collect(sim, None, invoice, customer, now)
        sub["latest_invoice"] = invoice["id"]
        sim.store.put(sub)
    return sub


@endpoint("POST", "/v1/invoices/<invoice_id>/pay", InvoicePayParams,
          {"payment_method", "off_session"})
def pay_invoice(sim: Sim, params: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    invoice = load(sim, "invoice", invoice_id)
    if invoice["status"] != "open":
        raise StripeError(f"Invoice is already {invoice['status']}.")
    customer = load(sim, "customer", invoice["customer"], param="customer")
    pm = None
    if "payment_method" in params:
        pm = load(sim, "payment_method", params["payment_method"], "PaymentMethod",
                  "payment_method")
        if pm["customer"] != customer["id"]:
            raise StripeError("The payment method must be attached to the invoice's customer.",
                              param="payment_method")
    sub_id = _subscription_of(invoice)
    sub = sim.store.get(sub_id, "subscription") if sub_id else None
    outcome = billing.collect(sim, sub, invoice, customer, customer_time(sim.store, customer), pm)
    if outcome == invoicing.REQUIRES_ACTION_OUTCOME:
        raise card_declined("This payment requires authentication by the customer.",
                            code="invoice_payment_intent_requires_action",
                            decline_code="authentication_required")
    if outcome != invoicing.PAID:
        raise card_declined()
    return invoice


@endpoint("POST", "/v1/invoices/create_preview", InvoiceCreatePreviewParams,
          {"customer", "subscription", "subscription_details"})
def preview_invoice(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    if "subscription" not in params:
        raise missing_param("subscription")
    sub = load(sim, "subscription", params["subscription"], param="subscription")
    if params.get("customer", sub["customer"]) != sub["customer"]:
        raise StripeError("The subscription belongs to another customer.", param="customer")
    details = params.get("subscription_details", {})
    simulated_only(details, {"items", "proration_behavior", "proration_date",
                             "cancel_at_period_end"}, "subscription_details")
    return preview.preview(sim, sub, details, customer_time(sim.store, sub["customer"]))


@endpoint("POST", "/v1/subscriptions", SubscriptionCreateParams,
          {"customer", "items", "default_payment_method", "payment_behavior",
           "trial_period_days", "metadata", "billing_mode"})
def create_subscription(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    customer = load(sim, "customer", params["customer"], param="customer")
    now = customer_time(sim.store, customer)
    behaviour = params.get("payment_behavior", "allow_incomplete")
    if behaviour not in ("allow_incomplete", "default_incomplete", "error_if_incomplete"):
        raise StripeError("The Stripe simulator supports payment_behavior allow_incomplete, "
                          "default_incomplete and error_if_incomplete.", param="payment_behavior")
    mode = items.billing_mode(params.get("billing_mode"), now)
    prices = []
    for index, item in enumerate(required(params, "items")):
        simulated_only(item, {"price", "quantity"}, f"items[{index}]")
        if "price" not in item:
            raise missing_param(f"items[{index}][price]")
        price = load(sim, "price", item["price"], param=f"items[{index}][price]")
        if price["recurring"] is None:
            raise StripeError("The price must be recurring.", param=f"items[{index}][price]")
        prices.append((price, items.quantity_for(price, item, f"items[{index}]")))
    items.check_prices([price for price, _ in prices], mode["type"], "items")
    pm_id = params.get("default_payment_method")
    if pm_id:
        pm = load(sim, "payment_method", pm_id, "PaymentMethod", "default_payment_method")
        if pm["customer"] != customer["id"]:
            raise StripeError("The payment method must be attached to the customer.",
                              param="default_payment_method")
    sub = billing.start_subscription(
        sim, customer, prices, pm_id, now, trial_days=params.get("trial_period_days"),
        metadata=params.get("metadata"), mode=mode, charge=behaviour != "default_incomplete")
    if behaviour == "error_if_incomplete" and sub["status"] == "incomplete":
        raise card_declined(rollback=True)
    return sub
