"""Meter events as Stripe's v1 API takes them, and the usage they add up to.

Synchronous checks (Stripe answers 400): an active meter for ``event_name``, a timestamp within
the past 35 days and at most 5 minutes ahead, the meter's customer key in the payload, and an
integer value of at most 15 digits. A repeated ``identifier`` within 24 hours is refused and not
counted. An unknown customer passes these checks: the event is accepted but never counted, and
Stripe reports it afterwards with a ``v1.billing.meter.error_report_triggered`` thin event.

"Now" is the customer's time: its test clock's frozen time when it has one, as for every other
object the simulator keeps for that customer.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal

from stripe_sim import thin_events
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.objects import Obj
from stripe_sim.simtime import DAY, customer_time, new_id, real_now

PAST_WINDOW = 35 * DAY
FUTURE_WINDOW = 5 * 60
DEDUP_WINDOW = DAY
MAX_DIGITS = 15
_INTEGER = re.compile(r"^-?\d+$")


def active_meter(sim: Sim, event_name: str) -> Obj:
    for meter in sim.store.all("billing.meter", event_name=event_name, status="active"):
        return meter
    raise StripeError(f'No active meter found for event name "{event_name}".',
                      code="no_meter", param="event_name")


def record(sim: Sim, params: Obj, idempotency_key: str | None) -> Obj:
    """Check and store one meter event (``POST /v1/billing/meter_events``)."""
    meter = active_meter(sim, params["event_name"])
    payload: dict[str, str] = params["payload"]
    customer_key = meter["customer_mapping"]["event_payload_key"]
    customer_id = payload.get(customer_key)
    if not customer_id:
        raise StripeError(f"Customer mapping key {customer_key} not found in payload.",
                          code="meter_event_no_customer_defined", param=f"payload[{customer_key}]")
    customer = sim.store.get(customer_id, "customer")
    now = customer_time(sim.store, customer)
    timestamp = params.get("timestamp", now)
    if timestamp < now - PAST_WINDOW:
        raise StripeError("Timestamp must be within the past 35 calendar days.",
                          code="timestamp_too_far_in_past", param="timestamp")
    if timestamp > now + FUTURE_WINDOW:
        raise StripeError("Timestamp must not be more than 5 minutes in the future.",
                          code="timestamp_in_future", param="timestamp")
    value = _value(meter, payload)
    identifier = params.get("identifier") or new_id("mev", 20)
    if _recent(sim, identifier, now):
        raise StripeError(f"An event already exists with identifier {identifier}.",
                          code="resource_already_exists", param="identifier")
    event = {
        "object": "billing.meter_event", "created": now, "event_name": params["event_name"],
        "identifier": identifier, "livemode": False, "payload": payload, "timestamp": timestamp,
    }
    sim.store.execute(
        "INSERT INTO meter_events (identifier, event_name, customer, value, timestamp,"
        " received_at, counted, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (identifier, event["event_name"], customer_id, value, timestamp, now,
         int(customer is not None), json.dumps(event)))
    if customer is None:
        message = f"Customer {customer_id} was not found."
        thin_events.emit(sim, "v1.billing.meter.error_report_triggered",
                         thin_events.meter_error_data("meter_event_customer_not_found", message,
                                                      idempotency_key or identifier,
                                                      real_now()),
                         thin_events.related_meter(meter))
    return event


def _value(meter: Obj, payload: dict[str, str]) -> int:
    """The event's integer value (``count`` meters ignore it and count 1)."""
    if meter["default_aggregation"]["formula"] == "count":
        return 1
    key = meter["value_settings"]["event_payload_key"]
    raw = payload.get(key)
    if raw is None:
        raise StripeError(f"Value key {key} not found in payload.",
                          code="meter_event_invalid_value", param=f"payload[{key}]")
    if not _INTEGER.match(raw):
        raise StripeError(f"The value in the event payload must be a whole number. Received "
                          f"`{raw}`.", code="meter_event_invalid_value", param=f"payload[{key}]")
    if len(raw.lstrip("-").lstrip("0")) > MAX_DIGITS:
        raise StripeError(f"The value in the event payload can have at most {MAX_DIGITS} "
                          f"digits. Received `{raw}`.", code="meter_event_value_too_many_digits",
                          param=f"payload[{key}]")
    return int(raw)


def _recent(sim: Sim, identifier: str, now: int) -> bool:
    row = sim.store.execute(
        "SELECT 1 FROM meter_events WHERE identifier = ? AND received_at > ? LIMIT 1",
        (identifier, now - DEDUP_WINDOW)).fetchone()
    return row is not None


def aggregate(sim: Sim, meter: Obj, customer_id: str, start: int, end: int) -> int:
    """The meter's value for one customer over ``[start, end)``: sum, count or last."""
    formula = meter["default_aggregation"]["formula"]
    where = ("FROM meter_events WHERE event_name = ? AND customer = ? AND counted = 1"
             " AND timestamp >= ? AND timestamp < ?")
    args = (meter["event_name"], customer_id, start, end)
    if formula == "last":
        row = sim.store.execute(f"SELECT value {where} ORDER BY timestamp DESC, seq DESC"
                                " LIMIT 1", args).fetchone()
        return int(row[0]) if row else 0
    row = sim.store.execute(f"SELECT COALESCE(SUM(value), 0) {where}", args).fetchone()
    return int(row[0])


def usage_quantity(sim: Sim, price: Obj, customer_id: str, start: int, end: int) -> int:
    """The billable quantity of a metered price for a period (negative usage bills as 0)."""
    meter = sim.store.fetch(price["recurring"]["meter"], "billing.meter")
    return max(aggregate(sim, meter, customer_id, start, end), 0)


def amount(unit_amount: Decimal, quantity: int) -> int:
    """Cents for ``quantity`` units, rounded per line to the nearest cent (half up)."""
    return int((unit_amount * quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP))
