"""Account setup objects: billing portal configurations and webhook endpoints.

Stripe uses the account's default portal configuration (saved in the Dashboard) for a portal
session created without ``configuration``; API-created configurations are never the default,
so an account that only has those must name one. Webhook endpoints made here get events on the
pinned API version only (the simulator renders no other), filtered by ``enabled_events``.
"""

from __future__ import annotations

import secrets
from typing import Any

import stripe
from stripe.params import WebhookEndpointCreateParams, WebhookEndpointListParams
from stripe.params.billing_portal import ConfigurationCreateParams, ConfigurationListParams

from stripe_sim.api import endpoint, paginate, required, simulated_only
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.simtime import new_id, real_now

_FEATURES = {"customer_update", "invoice_history", "payment_method_update",
             "subscription_cancel"}


@endpoint("POST", "/v1/billing_portal/configurations", ConfigurationCreateParams,
          {"features", "business_profile", "default_return_url", "metadata", "name"})
def create_configuration(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    features = required(params, "features")
    simulated_only(features, _FEATURES, "features")
    cancel = features.get("subscription_cancel", {})
    simulated_only(cancel, {"enabled", "mode", "proration_behavior"},
                   "features[subscription_cancel]")
    update = features.get("customer_update", {})
    if update.get("enabled") and not update.get("allowed_updates"):
        raise StripeError("features[customer_update][allowed_updates] is required when "
                          "customer updates are enabled.",
                          param="features[customer_update][allowed_updates]")
    profile = params.get("business_profile", {})
    now = real_now()
    config = {
        "id": new_id("bpc"), "object": "billing_portal.configuration", "active": True,
        "application": None,
        "business_profile": {"headline": profile.get("headline") or None,
                             "privacy_policy_url": profile.get("privacy_policy_url"),
                             "terms_of_service_url": profile.get("terms_of_service_url")},
        "created": now, "default_return_url": params.get("default_return_url") or None,
        "features": {
            "customer_update": {"allowed_updates": update.get("allowed_updates", []),
                                "enabled": bool(update.get("enabled"))},
            "invoice_history": {"enabled": bool(features.get("invoice_history", {})
                                                .get("enabled"))},
            "payment_method_update": {"enabled": bool(features.get("payment_method_update", {})
                                                      .get("enabled")),
                                      "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "feedback_options": None,
                                    "options": []},
                "enabled": bool(cancel.get("enabled")),
                "mode": cancel.get("mode", "at_period_end"),
                "proration_behavior": cancel.get("proration_behavior", "none")},
            "subscription_pause": {"duration": {"interval_options": [], "type": "indefinite"},
                                   "enabled": False},
            "subscription_update": {
                "billing_cycle_anchor": None, "default_allowed_updates": [], "enabled": False,
                "products": [], "proration_behavior": "none",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial"},
        },
        "is_default": False, "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": params.get("metadata") or {}, "name": params.get("name") or None,
        "updated": now,
    }
    return sim.store.put(config)


@endpoint("GET", "/v1/billing_portal/configurations", ConfigurationListParams,
          {"active", "is_default", "limit", "starting_after", "ending_before"})
def list_configurations(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    configs = sim.store.all("billing_portal.configuration")
    for name in ("active", "is_default"):
        if name in params:
            configs = [c for c in configs if c[name] == params[name]]
    return paginate(configs, params, "/v1/billing_portal/configurations")


@endpoint("POST", "/v1/webhook_endpoints", WebhookEndpointCreateParams,
          {"url", "enabled_events", "api_version", "description", "metadata"})
def create_webhook_endpoint(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    url = required(params, "url")
    events = required(params, "enabled_events")
    if not url.startswith(("http://", "https://")):
        raise StripeError("Invalid URL: must be an http(s) URL.", param="url")
    version = params.get("api_version") or stripe.api_version
    if version != stripe.api_version:
        raise StripeError(f"The Stripe simulator renders events only at API version "
                          f"{stripe.api_version}, not {version}.", param="api_version")
    secret = "whsec_" + secrets.token_urlsafe(24)
    hook = {
        "id": new_id("we"), "object": "webhook_endpoint", "api_version": version,
        "application": None, "created": real_now(),
        "description": params.get("description") or None, "enabled_events": events,
        "livemode": False, "metadata": params.get("metadata") or {}, "secret": secret,
        "status": "enabled", "url": url,
    }
    sim.store.put(hook)
    targets = sim.store.setting("webhook_endpoints", [])
    sim.store.set_setting("webhook_endpoints", [*targets, {"url": url, "secret": secret,
                                                            "enabled_events": events}])
    return hook


@endpoint("GET", "/v1/webhook_endpoints", WebhookEndpointListParams,
          {"limit", "starting_after", "ending_before"})
def list_webhook_endpoints(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    # Stripe shows the secret only in the create answer.
    hooks = [dict(hook, secret=None) for hook in sim.store.all("webhook_endpoint")]
    return paginate(hooks, params, "/v1/webhook_endpoints")
