"""Gateway calls that set the Stripe account up for the portal: the billing portal
configuration portal sessions use, and the webhook endpoint events arrive at.

Both are made by ``flask stripe bootstrap``. The configuration is found again by its metadata,
so a second bootstrap reuses it and portal sessions name it (Stripe refuses a portal session
without one when the account has no default configuration saved in the Dashboard).
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from stripe.params import WebhookEndpointCreateParams
from stripe.params.billing_portal import (
    ConfigurationCreateParams,
    ConfigurationListParams,
)
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams

from portal.errors import BillingUnavailable
from portal.stripe_gateway.connection import StripeConnection, _fresh_key, _key

#: The metadata that marks the portal's own billing portal configuration.
PORTAL_CONFIGURATION_MARK = {"continuum_portal": "1"}


@dataclass(frozen=True)
class CreatedWebhookEndpoint:
    id: str
    url: str
    api_version: str | None
    enabled_events: list[str]
    secret: str


class AccountSetupCalls(StripeConnection):
    """The billing portal configuration and the webhook endpoint."""

    def find_portal_configuration(self) -> str | None:
        """The id of the active configuration bootstrap made, if there is one."""
        params: ConfigurationListParams = {"active": True, "limit": 100}
        listed = self._call(
            "load the billing portal settings",
            lambda: self._v1.billing_portal.configurations.list(params),
        )
        for config in listed.data:
            metadata = config.metadata.to_dict() if config.metadata else {}
            if metadata.get("continuum_portal") == "1":
                return str(config.id)
        return None

    def create_portal_configuration(self, default_return_url: str) -> str:
        """Cards, invoices and the billing email, in Stripe's portal. Plan changes and
        cancellation stay in CONTINUUM's billing page, which keeps one subscription per tenant
        and knows the tier rules."""
        params: ConfigurationCreateParams = {
            "business_profile": {"headline": "CONTINUUM billing"},
            "default_return_url": default_return_url,
            "features": {
                "customer_update": {"enabled": True, "allowed_updates": ["email", "name"]},
                "invoice_history": {"enabled": True},
                "payment_method_update": {"enabled": True},
                "subscription_cancel": {"enabled": False},
            },
            "metadata": dict(PORTAL_CONFIGURATION_MARK),
        }
        config = self._call(
            "set up the billing portal",
            lambda: self._v1.billing_portal.configurations.create(
                params, {"idempotency_key": _key("portal-configuration", default_return_url)}
            ),
        )
        return str(config.id)

    def create_billing_portal_session(self, customer_id: str, return_url: str) -> str:
        """A session of Stripe's hosted portal, on the configuration bootstrap made."""
        configuration = self.find_portal_configuration()
        if configuration is None:
            raise BillingUnavailable(
                "The billing portal is not set up yet. Run `flask stripe bootstrap`."
            )
        params: PortalSessionCreateParams = {
            "customer": customer_id,
            "return_url": return_url,
            "configuration": configuration,
        }
        session = self._call(
            "open the billing portal",
            lambda: self._v1.billing_portal.sessions.create(
                params, {"idempotency_key": _fresh_key("portal")}
            ),
        )
        return str(session.url)

    def find_webhook_endpoint(self, url: str) -> CreatedWebhookEndpoint | None:
        """The endpoint already sending to ``url`` (its secret is never shown again)."""
        listed = self._call(
            "load the webhook endpoints",
            lambda: self._v1.webhook_endpoints.list({"limit": 100}),
        )
        for hook in listed.data:
            if hook.url == url:
                return CreatedWebhookEndpoint(
                    id=str(hook.id),
                    url=str(hook.url),
                    api_version=hook.api_version,
                    enabled_events=list(hook.enabled_events),
                    secret="",
                )
        return None

    def create_webhook_endpoint(self, url: str, events: list[str]) -> CreatedWebhookEndpoint:
        """An endpoint for ``events`` on the pinned API version; its secret is in this answer
        only."""
        params: WebhookEndpointCreateParams = {
            "url": url,
            "enabled_events": events,  # type: ignore[typeddict-item]  # names from HANDLERS
            "api_version": stripe.api_version,  # type: ignore[typeddict-item]
            "description": "CONTINUUM billing portal",
        }
        hook = self._call(
            "create the webhook endpoint",
            lambda: self._v1.webhook_endpoints.create(
                params, {"idempotency_key": _fresh_key("webhook-endpoint")}
            ),
        )
        return CreatedWebhookEndpoint(
            id=str(hook.id),
            url=str(hook.url),
            api_version=hook.api_version,
            enabled_events=list(hook.enabled_events),
            secret=str(hook.secret or ""),
        )
