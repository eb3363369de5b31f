"""Thin events (``v2.core.event``), as Stripe sends them to event destinations.

Stripe delivers some events only as thin events: a small unversioned notification (id, type,
created, related object) pushed to an event destination and signed like a webhook, whose full
body (``data``) the receiver fetches from ``GET /v2/core/events/{id}``. The meter error events
(``v1.billing.meter.error_report_triggered``, ``v1.billing.meter.no_meter_found``) are of this
kind. The SDK parses the notification with ``StripeClient.parse_event_notification``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context

from stripe_sim.context import Sim
from stripe_sim.objects import Obj
from stripe_sim.simtime import new_id

KIND = "v2.core.event"
# The fields a pushed notification carries; ``data`` stays behind for the fetch.
NOTIFICATION_FIELDS = ("id", "object", "type", "created", "livemode", "context", "reason",
                       "related_object")


def iso(ts: float) -> str:
    """Stripe's v2 timestamp: RFC 3339 in UTC with milliseconds."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def emit(sim: Sim, kind: str, data: Obj, related: Obj | None = None) -> Obj:
    """Record a thin event (inside the caller's transaction) and queue a delivery of its
    notification to every event destination."""
    reason = None
    if has_request_context() and "stripe_request" in g:
        request = g.stripe_request
        reason = {"type": "request", "request": {
            "id": request["id"], "idempotency_key": request["idempotency_key"] or ""}}
    event: Obj = {
        "id": new_id("evt_test", 54), "object": KIND, "type": kind, "created": iso(time.time()),
        "livemode": False, "context": None, "reason": reason, "data": data,
    }
    if related is not None:
        event["related_object"] = related
    sim.store.put(event, KIND)
    for destination in sim.destinations():
        sim.store.execute(
            "INSERT INTO deliveries (event_id, event_type, url, secret, state, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event["id"], kind, destination["url"], destination["secret"],
             "held" if sim.switches()["hold"] else "pending", time.time()),
        )
    sim.store.after_commit(sim.wake.set)
    return event


def notification(event: Obj) -> Obj:
    """The pushed body of a thin event: the event without its ``data``."""
    return {key: event[key] for key in NOTIFICATION_FIELDS if key in event}


def related_meter(meter: Obj) -> Obj:
    return {"id": meter["id"], "type": "billing.meter",
            "url": f"/v1/billing/meters/{meter['id']}"}


def meter_error_data(code: str, message: str, request_identifier: str, at: float) -> Obj:
    """The ``data`` of a meter error event reporting one invalid meter event."""
    return {
        "developer_message_summary": "There is 1 invalid event",
        "reason": {"error_count": 1, "error_types": [{
            "code": code, "error_count": 1,
            "sample_errors": [{"error_message": message,
                               "request": {"identifier": request_identifier}}],
        }]},
        "validation_start": iso(at), "validation_end": iso(at + 1),
    }


def listing(events: list[dict[str, Any]]) -> Obj:
    """A v2 list page (no cursor: every match fits on one page)."""
    return {"data": events, "next_page_url": None, "previous_page_url": None}
