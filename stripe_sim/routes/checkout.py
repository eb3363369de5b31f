"""Checkout Sessions and billing portal sessions."""

from __future__ import annotations

from typing import Any

from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
from stripe.params.checkout import (
    SessionCreateParams,
    SessionExpireParams,
    SessionListParams,
    SessionRetrieveParams,
)

from stripe_sim import checkout, items
from stripe_sim.api import endpoint, load, paginate, required, simulated_only
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.simtime import customer_time, new_id, real_now


@endpoint("POST", "/v1/checkout/sessions", SessionCreateParams,
          {"mode", "line_items", "customer", "customer_email", "client_reference_id",
           "metadata", "subscription_data", "allow_promotion_codes", "success_url",
           "cancel_url", "payment_method_types", "currency"})
def create_session(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    mode = required(params, "mode")
    if mode not in ("subscription", "setup"):
        raise StripeError(f"The Stripe simulator supports Checkout modes `subscription` and "
                          f"`setup`, not `{mode}`.", param="mode")
    required(params, "success_url")
    if params.get("customer") and params.get("customer_email"):
        raise StripeError("You may only specify one of these parameters: customer, "
                          "customer_email.", code="parameters_exclusive", param="customer_email")
    customer = load(sim, "customer", params["customer"], param="customer") \
        if params.get("customer") else None
    subscription_data = params.get("subscription_data", {})
    simulated_only(subscription_data, {"metadata", "trial_period_days", "billing_mode"},
                   "subscription_data")
    now = customer_time(sim.store, customer)
    prices = []
    if mode == "subscription":
        billing_mode = items.billing_mode(subscription_data.get("billing_mode"), now)
        for index, item in enumerate(required(params, "line_items")):
            where = f"line_items[{index}]"
            simulated_only(item, {"price", "quantity"}, where)
            if "price" not in item:
                raise StripeError("The Stripe simulator needs line_items[][price].",
                                  code="parameter_missing", param=f"{where}[price]")
            price = load(sim, "price", item["price"], param=f"{where}[price]")
            if price["recurring"] is None or not price["active"]:
                raise StripeError("You must provide at least one active recurring price in "
                                  "`subscription` mode.", param=f"{where}[price]")
            prices.append((price, items.quantity_for(price, item, where, default=None)))
        items.check_prices([price for price, _ in prices], billing_mode["type"], "line_items")
    elif params.get("line_items") or subscription_data:
        raise StripeError("line_items and subscription_data cannot be used in `setup` mode.",
                          param="line_items")
    elif not params.get("currency") and not params.get("payment_method_types"):
        # Stripe picks the payment methods to offer by currency in setup mode.
        raise StripeError("currency is required in `setup` mode when payment_method_types "
                          "is not set.", code="parameter_missing", param="currency")
    session = checkout.build_session(sim, params, customer, prices, now)
    return sim.store.put(session)


@endpoint("GET", "/v1/checkout/sessions/<session_id>", SessionRetrieveParams)
def retrieve_session(sim: Sim, params: dict[str, Any], session_id: str) -> dict[str, Any]:
    return checkout.expire_if_due(sim, load(sim, "checkout.session", session_id,
                                            "checkout.session"))


@endpoint("GET", "/v1/checkout/sessions", SessionListParams,
          {"customer", "subscription", "status", "limit", "starting_after", "ending_before"})
def list_sessions(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    filters = {k: params[k] for k in ("customer", "subscription", "status") if k in params}
    return paginate(sim.store.all("checkout.session", **filters), params,
                    "/v1/checkout/sessions")


@endpoint("POST", "/v1/checkout/sessions/<session_id>/expire", SessionExpireParams)
def expire_session(sim: Sim, params: dict[str, Any], session_id: str) -> dict[str, Any]:
    session = load(sim, "checkout.session", session_id, "checkout.session")
    if session["status"] != "open":
        raise StripeError(f"Only Checkout Sessions with a status in [\"open\"] can be expired. "
                          f"This Checkout Session has a status of \"{session['status']}\".")
    return checkout.expire(sim, session)


@endpoint("POST", "/v1/billing_portal/sessions", PortalSessionCreateParams,
          {"customer", "return_url", "configuration"})
def create_portal_session(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    customer = load(sim, "customer", required(params, "customer"), param="customer")
    config = _portal_configuration(sim, params.get("configuration"))
    return_url = params.get("return_url") or config["default_return_url"]
    if not return_url:
        raise StripeError("You must provide a return_url or set a default_return_url on the "
                          "configuration.", param="return_url")
    session_id = new_id("bps")
    session = {
        "id": session_id, "object": "billing_portal.session", "configuration": config["id"],
        "created": real_now(), "customer": customer["id"], "flow": None, "livemode": False,
        "locale": None, "on_behalf_of": None, "return_url": return_url,
        "url": sim.url(f"/billing_portal/{session_id}"), "customer_account": None,
    }
    return sim.store.put(session)


def _portal_configuration(sim: Sim, config_id: str | None) -> dict[str, Any]:
    """The named configuration, else the account's default one, as Stripe picks them."""
    if config_id:
        config = load(sim, "billing_portal.configuration", config_id, "configuration",
                      param="configuration")
        if not config["active"]:
            raise StripeError("This configuration is not active.", param="configuration")
        return config
    defaults = sim.store.all("billing_portal.configuration", is_default=True)
    if not defaults:
        raise StripeError(
            "No configuration provided and your test mode default configuration has not been "
            "created. Provide a configuration or create your default by saving your customer "
            "portal settings in test mode at "
            "https://dashboard.stripe.com/test/settings/billing/portal.")
    return defaults[0]
