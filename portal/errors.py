"""Domain errors: what a person needs to act, with the HTTP status it maps to.

Domain code raises a ``PortalError`` subclass; ``portal.web.errors`` turns it into a page or a
JSON body. Nothing here imports a web framework.
"""

from __future__ import annotations


class PortalError(Exception):
    """An error whose message is safe and useful to show to the person who caused it."""

    status_code = 400

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class NotFound(PortalError):
    status_code = 404


class Conflict(PortalError):
    status_code = 409


class BillingUnavailable(PortalError):
    """Stripe (or the simulator standing in for it) cannot be reached right now."""

    status_code = 503
