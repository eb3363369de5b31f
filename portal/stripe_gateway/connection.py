"""The connection to Stripe: which keys and addresses are allowed, retries, timeouts, and keys.

A live key is never pointed at the simulator or a test clock; every call runs under the error
translation; creates carry idempotency keys so a retry cannot make a second object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

import stripe
from stripe._base_address import BaseAddresses

from portal.errors import BillingUnavailable
from portal.stripe_gateway.errors import _translated

#: The API version every request is sent with (the installed SDK's) and events should carry.
PINNED_API_VERSION: str = stripe.api_version

_NETWORK_RETRIES = 2
_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)

T = TypeVar("T")


def _replayed(obj: stripe.StripeObject) -> bool:
    """Whether Stripe answered from its idempotency cache (the create ran before)."""
    response = obj.last_response
    return response is not None and response.headers.get("Idempotent-Replayed") == "true"


def _key(*parts: object) -> str:
    """A deterministic idempotency key: the same logical create always sends the same key."""
    return "continuum-" + "-".join(str(part) for part in parts)


def _fresh_key(purpose: str) -> str:
    """A per-call idempotency key: network retries of this one call stay safe."""
    return f"continuum-{purpose}-{uuid.uuid4().hex}"


class StripeConnection:
    """An SDK client set up the one safe way; the gateway's typed calls build on it."""

    def __init__(
        self, secret_key: str, api_base: str = "", test_clock: str = "", webhook_secret: str = ""
    ) -> None:
        if not secret_key:
            raise BillingUnavailable(
                "Billing is not configured on this server (STRIPE_SECRET_KEY is not set)."
            )
        live = secret_key.startswith(("sk_live_", "rk_live_"))
        if live and (api_base or test_clock):
            raise BillingUnavailable(
                "Billing is misconfigured: a live Stripe key is never used with the simulator "
                "(STRIPE_API_BASE) or a test clock (STRIPE_TEST_CLOCK)."
            )
        bases: BaseAddresses = {}
        if api_base:
            bases = {"api": api_base, "connect": api_base, "files": api_base}
        self.test_clock = test_clock
        self.webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=bases,
            max_network_retries=_NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=_TIMEOUT),
        )
        self._v1 = self._client.v1

    def _call(self, action: str, call: Callable[[], T]) -> T:
        with _translated(action):
            return call()
