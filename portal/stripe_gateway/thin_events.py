"""Thin events: the small ``v2.core.event`` notifications Stripe pushes to an event destination.

Stripe sends the meter error events (``v1.billing.meter.error_report_triggered``,
``v1.billing.meter.no_meter_found``) only this way. The notification carries the id, type and
related object and is signed like a snapshot webhook (same header, same 300 s tolerance, the
destination's own secret); what went wrong is in the event's ``data``, fetched from
``GET /v2/core/events/{id}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from stripe.events import V1BillingMeterErrorReportTriggeredEvent, V1BillingMeterNoMeterFoundEvent

from portal.errors import BillingUnavailable
from portal.stripe_gateway.errors import WebhookRejected
from portal.stripe_gateway.webhooks import WEBHOOK_TOLERANCE_SECONDS, check_event_identity


@dataclass(frozen=True)
class ThinEvent:
    """A verified thin event notification."""

    id: str
    type: str
    #: Epoch seconds (the notification says RFC 3339).
    created: int
    livemode: bool
    related_object_id: str | None
    related_object_type: str | None


@dataclass(frozen=True)
class MeterErrorType:
    code: str
    count: int
    #: (error message, the meter event's identifier) for a few of the errors.
    samples: list[tuple[str, str]]


@dataclass(frozen=True)
class MeterErrorReport:
    """What a meter error event says: a summary, and the errors by kind with samples."""

    summary: str
    error_count: int
    errors: list[MeterErrorType]
    validation_start: str
    validation_end: str


def _epoch(created: Any) -> int:
    if isinstance(created, int | float):
        return int(created)
    return int(datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp())


def verified_thin_event(
    client: stripe.StripeClient, payload: bytes, signature: str | None, secret: str
) -> ThinEvent:
    """Verify ``payload`` against the destination's ``secret`` and parse the notification."""
    if not secret:
        # An empty secret verifies against an empty key, which anyone can forge.
        raise BillingUnavailable("Thin events are refused: no event destination secret is set.")
    try:
        notice = client.parse_event_notification(
            payload, signature, secret, WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(f"Invalid Stripe signature: {error.user_message}") from error
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise WebhookRejected("The body is signed but is not a thin event notification.") from error
    related = getattr(notice, "related_object", None)
    check_event_identity(str(getattr(notice, "id", "")), str(getattr(notice, "type", "")))
    try:
        return ThinEvent(
            id=str(notice.id),
            type=str(notice.type),
            created=_epoch(notice.created),
            livemode=bool(notice.livemode),
            related_object_id=getattr(related, "id", None),
            related_object_type=getattr(related, "type", None),
        )
    except (ValueError, TypeError) as error:
        raise WebhookRejected("The thin event's created time is not a timestamp.") from error


def meter_error_report(event: stripe.v2.core.Event) -> MeterErrorReport | None:
    """The details of a fetched meter error event, or None for any other event."""
    if not isinstance(
        event, V1BillingMeterErrorReportTriggeredEvent | V1BillingMeterNoMeterFoundEvent
    ):
        return None
    data = event.data
    return MeterErrorReport(
        summary=data.developer_message_summary,
        error_count=data.reason.error_count,
        errors=[
            MeterErrorType(
                code=str(kind.code),
                count=kind.error_count,
                samples=[
                    (sample.error_message, sample.request.identifier)
                    for sample in kind.sample_errors
                ],
            )
            for kind in data.reason.error_types
        ],
        validation_start=data.validation_start,
        validation_end=data.validation_end,
    )
