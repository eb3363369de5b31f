"""Customers, their payment methods and setup intents."""

from __future__ import annotations

from typing import Any

from stripe.params import (
    CustomerCreateParams,
    CustomerDeleteParams,
    CustomerListParams,
    CustomerPaymentMethodListParams,
    CustomerPaymentMethodRetrieveParams,
    CustomerRetrieveParams,
    CustomerUpdateParams,
    PaymentMethodAttachParams,
    PaymentMethodDetachParams,
    PaymentMethodListParams,
    PaymentMethodRetrieveParams,
    SetupIntentRetrieveParams,
)

from stripe_sim import billing, customers, objects
from stripe_sim.api import endpoint, load, paginate, required, simulated_only
from stripe_sim.cards import MAGIC_PAYMENT_METHODS, card_details
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.simtime import clock_time, customer_time
from stripe_sim.webhooks import emit

_FIELDS = ("email", "name", "description", "phone")


@endpoint("POST", "/v1/customers", CustomerCreateParams,
          {*_FIELDS, "metadata", "test_clock", "invoice_settings", "payment_method"})
def create_customer(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    clock_id = params.get("test_clock")
    if clock_id:
        load(sim, "test_helpers.test_clock", clock_id, "test clock", "test_clock")
    fields = {k: params[k] for k in _FIELDS if k in params}
    customer = customers.create_customer(
        sim, clock_time(sim.store, clock_id), metadata=params.get("metadata") or {},
        test_clock=clock_id, **fields)
    if "payment_method" in params:
        pm = _payment_method(sim, params["payment_method"], customer, "payment_method")
        customers.attach(sim, pm, customer)
    default_pm = params.get("invoice_settings", {}).get("default_payment_method")
    if default_pm:
        customers.set_default_payment_method(sim, customer, default_pm)
    return customer


@endpoint("GET", "/v1/customers/<customer_id>", CustomerRetrieveParams)
def retrieve_customer(sim: Sim, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
    customer = sim.store.get(customer_id, "customer")
    if customer is None:
        deleted = sim.store.get(customer_id, "deleted_customer")
        if deleted is not None:
            return deleted
    return load(sim, "customer", customer_id)


@endpoint("POST", "/v1/customers/<customer_id>", CustomerUpdateParams,
          {*_FIELDS, "metadata", "invoice_settings"})
def update_customer(sim: Sim, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
    customer = load(sim, "customer", customer_id)
    changes: dict[str, Any] = {k: params[k] or None for k in _FIELDS if k in params}
    if "metadata" in params:
        changes["metadata"] = objects.merge_metadata(customer["metadata"], params["metadata"])
    settings = params.get("invoice_settings", {})
    simulated_only(settings, {"default_payment_method"}, "invoice_settings")
    customers.update_customer(sim, customer, changes)
    if "default_payment_method" in settings:
        customers.set_default_payment_method(sim, customer,
                                             settings["default_payment_method"] or None)
    return customer


@endpoint("DELETE", "/v1/customers/<customer_id>", CustomerDeleteParams)
def delete_customer(sim: Sim, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
    customer = load(sim, "customer", customer_id)
    for sub in sim.store.all("subscription", customer=customer_id):
        if sub["status"] not in ("canceled", "incomplete_expired"):
            billing.cancel_now(sim, sub, "cancellation_requested")
    sim.store.delete(customer_id)
    gone = sim.store.put(objects.deleted(customer), "deleted_customer")
    emit(sim, "customer.deleted", customer, customer_time(sim.store, customer))
    return gone


@endpoint("GET", "/v1/customers", CustomerListParams,
          {"email", "test_clock", "limit", "starting_after", "ending_before"})
def list_customers(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    filters = {k: params[k] for k in ("email", "test_clock") if k in params}
    return paginate(sim.store.all("customer", **filters), params, "/v1/customers")


@endpoint("GET", "/v1/customers/<customer_id>/payment_methods",
          CustomerPaymentMethodListParams, {"type", "limit", "starting_after", "ending_before"})
def list_customer_payment_methods(sim: Sim, params: dict[str, Any],
                                  customer_id: str) -> dict[str, Any]:
    load(sim, "customer", customer_id, param="customer")
    pms = sim.store.all("payment_method", customer=customer_id)
    if "type" in params:
        pms = [pm for pm in pms if pm["type"] == params["type"]]
    return paginate(pms, params, f"/v1/customers/{customer_id}/payment_methods")


@endpoint("GET", "/v1/customers/<customer_id>/payment_methods/<pm_id>",
          CustomerPaymentMethodRetrieveParams)
def retrieve_customer_payment_method(sim: Sim, params: dict[str, Any], customer_id: str,
                                     pm_id: str) -> dict[str, Any]:
    pm = load(sim, "payment_method", pm_id, "payment method")
    if pm["customer"] != customer_id:
        raise StripeError(f"No such PaymentMethod: '{pm_id}'", status=404,
                          code="resource_missing", param="payment_method")
    return pm


@endpoint("GET", "/v1/payment_methods", PaymentMethodListParams,
          {"customer", "type", "limit", "starting_after", "ending_before"})
def list_payment_methods(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    pms = sim.store.all("payment_method", customer=required(params, "customer"))
    if "type" in params:
        pms = [pm for pm in pms if pm["type"] == params["type"]]
    return paginate(pms, params, "/v1/payment_methods")


@endpoint("GET", "/v1/payment_methods/<pm_id>", PaymentMethodRetrieveParams)
def retrieve_payment_method(sim: Sim, params: dict[str, Any], pm_id: str) -> dict[str, Any]:
    return load(sim, "payment_method", pm_id, "PaymentMethod")


@endpoint("POST", "/v1/payment_methods/<pm_id>/attach", PaymentMethodAttachParams, {"customer"})
def attach_payment_method(sim: Sim, params: dict[str, Any], pm_id: str) -> dict[str, Any]:
    customer = load(sim, "customer", required(params, "customer"), param="customer")
    return customers.attach(sim, _payment_method(sim, pm_id, customer, "id"), customer)


@endpoint("POST", "/v1/payment_methods/<pm_id>/detach", PaymentMethodDetachParams)
def detach_payment_method(sim: Sim, params: dict[str, Any], pm_id: str) -> dict[str, Any]:
    return customers.detach(sim, load(sim, "payment_method", pm_id, "PaymentMethod"))


def _payment_method(sim: Sim, pm_id: str, customer: dict[str, Any], param: str) -> dict[str, Any]:
    """A stored payment method, or a fresh one for Stripe's magic test ids (``pm_card_visa``)."""
    if pm_id in MAGIC_PAYMENT_METHODS:
        card = card_details(MAGIC_PAYMENT_METHODS[pm_id], 12, 2034)
        return customers.new_payment_method(sim, customer_time(sim.store, customer), card)
    return load(sim, "payment_method", pm_id, "PaymentMethod", param)


@endpoint("GET", "/v1/setup_intents/<intent_id>", SetupIntentRetrieveParams)
def retrieve_setup_intent(sim: Sim, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    return load(sim, "setup_intent", intent_id, "setup_intent")
