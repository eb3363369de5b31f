"""Stripe's one concurrent meter event call per customer and meter.

Stripe answers 429 to a ``POST /v1/billing/meter_events`` while another one for the same
customer and meter is still being processed (docs: billing/subscriptions/usage-based/
recording-usage-api, "Rate limits"). A request holds its claim from arrival to answer, the
``--latency-ms`` delay included, so a slow simulator shows the collisions a slow Stripe would.
"""

from __future__ import annotations

import threading

from flask import g, request

from stripe_sim.context import Sim
from stripe_sim.errors import StripeError

METER_EVENTS = "/v1/billing/meter_events"
_lock = threading.Lock()
_in_flight: set[tuple[str, str]] = set()


def claim(sim: Sim) -> StripeError | None:
    """Claim the (meter, customer) pair of a meter event request; an error if it is taken."""
    if request.method != "POST" or request.path != METER_EVENTS:
        return None
    event_name = request.form.get("event_name", "")
    meters = sim.store.all("billing.meter", event_name=event_name, status="active")
    if not meters:
        return None  # the endpoint refuses it
    key = meters[0]["customer_mapping"]["event_payload_key"]
    customer = request.form.get(f"payload[{key}]")
    if not customer:
        return None
    pair = (meters[0]["id"], customer)
    with _lock:
        if pair in _in_flight:
            return StripeError(
                "Another meter event for this customer and meter is being processed: Stripe "
                "takes one concurrent call per customer and meter. Retry with backoff.",
                status=429, type="invalid_request_error", code="rate_limit")
        _in_flight.add(pair)
    g.meter_event_claim = pair
    return None


def release(_error: BaseException | None = None) -> None:
    pair = g.pop("meter_event_claim", None)
    if pair is not None:
        with _lock:
            _in_flight.discard(pair)
