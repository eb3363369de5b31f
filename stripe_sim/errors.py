"""Stripe-shaped API errors: one exception type rendered as Stripe's error body."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error answered in Stripe's format ``{"error": {...}}`` with Stripe's HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        rollback: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.rollback = rollback  # undo the request's changes, as Stripe does for this error
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body Stripe sends for this error."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def resource_missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    """Stripe's 404 for an unknown id."""
    return StripeError(
        f"No such {kind}: '{object_id}'", status=404, code="resource_missing", param=param
    )


def card_declined(message: str = "Your card was declined.", *, code: str = "card_declined",
                  decline_code: str = "generic_decline", rollback: bool = False) -> StripeError:
    """Stripe's 402 for a failed charge."""
    return StripeError(message, status=402, type="card_error", code=code,
                       decline_code=decline_code, rollback=rollback)


def not_simulated(param: str) -> StripeError:
    """A parameter Stripe knows but the simulator does not implement."""
    return StripeError(
        f"The Stripe simulator does not implement the parameter `{param}` for this endpoint.",
        param=param,
    )


def missing_param(name: str) -> StripeError:
    """Stripe's 400 ``parameter_missing``."""
    return StripeError(f"Missing required param: {name}.", code="parameter_missing", param=name)
