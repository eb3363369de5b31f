"""A verified webhook body (parsed JSON) read into a ``WebhookEvent`` without the SDK's objects.

``stripe.Event.construct_from`` turns every nested dict of the body into an SDK object (a
class lookup, attribute bookkeeping, key by key): the largest single cost of a delivery, and
the portal reads a dozen fields of it. Here the body stays the dict ``json.loads`` made, and a
``_Fields`` view gives it the SDK's attribute access (a missing key is an ``AttributeError``,
nested objects are views too), so the same ``of`` readers in ``types`` parse it. The payload's
``object`` name picks the reader, as the SDK's own class table does.

Only ever called on a body whose signature was verified (``webhooks.verified_body``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from portal.stripe_gateway.types import (
    EventObject,
    StripeCheckoutSession,
    StripeCustomer,
    StripeInvoice,
    StripePaymentMethod,
    StripeSubscription,
    WebhookEvent,
    _id,
)

log = logging.getLogger("continuum.billing")


class _Fields:
    """A JSON object read the way the SDK's objects are: ``view.key`` for ``view["key"]``
    (``AttributeError`` when absent, so ``getattr(view, key, default)`` works), nested objects
    and lists of them as views, ``to_dict()`` for a plain copy (metadata)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._values[name]
        except KeyError:
            raise AttributeError(name) from None
        return _view(value)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)


def _view(value: Any) -> Any:
    if isinstance(value, dict):
        return _Fields(value)
    if isinstance(value, list):
        return [_view(item) for item in value]
    return value


#: The ``object`` names the portal reads, and their readers (the SDK's classes for them:
#: ``stripe.Customer``, ``stripe.Subscription``, ``stripe.Invoice``, ``stripe.checkout.Session``,
#: ``stripe.PaymentMethod``). Anything else arrives as ``None``.
_READERS: dict[str, Callable[[Any], EventObject]] = {
    "customer": StripeCustomer.of,
    "subscription": StripeSubscription.of,
    "invoice": StripeInvoice.of,
    "checkout.session": StripeCheckoutSession.of,
    "payment_method": StripePaymentMethod.of,
}


def event_of(body: Any) -> WebhookEvent:
    """The ``WebhookEvent`` in a verified, parsed body. ``AttributeError``, ``KeyError``,
    ``TypeError`` or ``ValueError`` when the body is not an event (the caller refuses it)."""
    if not isinstance(body, dict):
        raise TypeError("the body is not a JSON object")
    if body.get("object") == "v2.core.event":  # a thin event, as the SDK refuses it here
        raise ValueError("a thin event sent to the snapshot endpoint")
    event = _Fields(body)
    data_object = event.data.object
    kind = getattr(data_object, "object", None)
    return WebhookEvent(
        id=str(event.id),
        type=str(event.type),
        created=int(event.created),
        livemode=bool(event.livemode),
        object_id=getattr(data_object, "id", None),
        customer_id=_customer_of(kind, data_object),
        object=_object_of(kind, data_object),
        api_version=getattr(event, "api_version", None),
        object_type=kind,
    )


def body_customer_id(body: Any) -> str | None:
    """The customer ``event_of(body).customer_id`` names, read without parsing the event
    (None when the body has no such shape: the full parse then decides)."""
    try:
        data_object = _Fields(body).data.object if isinstance(body, dict) else None
        return _customer_of(getattr(data_object, "object", None), data_object)
    except (AttributeError, TypeError):
        return None


def _customer_of(kind: Any, data_object: Any) -> str | None:
    """The customer an event is about: the object itself, or the customer it names."""
    if kind == "customer":
        return data_object.id  # type: ignore[no-any-return]  # as the SDK gives it
    return _id(getattr(data_object, "customer", None))


def _object_of(kind: Any, value: Any) -> EventObject:
    read = _READERS.get(kind) if isinstance(kind, str) else None
    if read is None:
        return None
    try:
        return read(value)
    except (AttributeError, IndexError, KeyError, TypeError):
        log.warning("event object %s has an unexpected shape", getattr(value, "id", "?"))
        return None
