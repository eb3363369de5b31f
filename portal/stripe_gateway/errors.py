"""Stripe's errors as portal errors: each says what failed and what the person can do next.

Connection trouble, rate limits and a refused API key become ``BillingUnavailable`` (503), a
declined card ``PaymentDeclined`` (402), an unknown id ``StripeObjectMissing`` (404).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import stripe

from portal.errors import BillingUnavailable, Conflict, NotFound, PortalError

log = logging.getLogger("continuum.billing")


class StripeObjectMissing(NotFound):
    """Stripe has no object with that id (deleted, or from another account)."""


class PaymentDeclined(PortalError):
    """The card was declined or needs a step the customer has not completed."""

    status_code = 402

    def __init__(self, message: str, *, bank_message: str = "", decline_code: str = "") -> None:
        super().__init__(message)
        #: The decline as the bank worded it (Stripe's ``message``), and its ``decline_code``.
        self.bank_message = bank_message
        self.decline_code = decline_code


class WebhookRejected(PortalError):
    """A webhook body that does not carry a valid, fresh Stripe signature."""


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Re-raise any Stripe error from ``action`` as a portal error a person can act on."""
    try:
        yield
    except stripe.APIConnectionError as error:
        log.warning("stripe unreachable while trying to %s: %s", action, error.user_message)
        raise BillingUnavailable(
            f"We could not reach our payment provider to {action}. Nothing was charged or "
            "changed; please try again in a minute."
        ) from error
    except stripe.CardError as error:
        raise PaymentDeclined(
            f"Your card was declined: {error.user_message or 'the bank refused the charge'}. "
            "Try another card.",
            bank_message=error.user_message or "",
            decline_code=getattr(error, "decline_code", None) or error.code or "",
        ) from error
    except stripe.RateLimitError as error:
        raise BillingUnavailable(
            f"Our payment provider is busy and could not {action}. Please try again shortly."
        ) from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        log.error("stripe refused our API key while trying to %s", action)
        raise BillingUnavailable(
            f"Billing is misconfigured on our side, so we could not {action}. "
            "Nothing was changed; the team has been told."
        ) from error
    except stripe.IdempotencyError as error:
        raise Conflict(
            f"A request to {action} is already in progress with different details. "
            "Reload the page and try again."
        ) from error
    except stripe.InvalidRequestError as error:
        if error.code == "resource_missing":
            raise StripeObjectMissing(
                f"Our payment provider has no record of that, so we could not {action}. "
                "Reload the page; if it persists, contact support."
            ) from error
        log.error("stripe rejected a request to %s: %s", action, error.user_message)
        raise PortalError(
            f"Our payment provider refused to {action}: {error.user_message}"
        ) from error
    except stripe.StripeError as error:
        log.error("stripe failed to %s: %s", action, error.user_message)
        raise BillingUnavailable(
            f"Our payment provider had a problem and could not {action}. Nothing was "
            "changed; please try again in a minute."
        ) from error
