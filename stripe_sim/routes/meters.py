"""Billing meters, meter events, event summaries, and the v2 events API for thin events."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import request
from stripe.params.billing import (
    MeterCreateParams,
    MeterEventCreateParams,
    MeterListEventSummariesParams,
    MeterListParams,
    MeterRetrieveParams,
)
from stripe.params.v2.core import EventListParams, EventRetrieveParams

from stripe_sim import metering, thin_events
from stripe_sim.api import endpoint, load, paginate
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.simtime import DAY, new_id, real_now

WINDOWS = {"hour": 3600, "day": DAY}


@endpoint("POST", "/v1/billing/meters", MeterCreateParams,
          {"display_name", "event_name", "default_aggregation", "customer_mapping",
           "value_settings"})
def create_meter(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    if params["default_aggregation"]["formula"] not in ("sum", "count", "last"):
        raise StripeError("default_aggregation[formula] must be sum, count or last.",
                          param="default_aggregation[formula]")
    if sim.store.all("billing.meter", event_name=params["event_name"], status="active"):
        raise StripeError(f"An active meter already uses event_name {params['event_name']}.",
                          param="event_name")
    mapping = params.get("customer_mapping", {})
    if mapping and mapping.get("type") != "by_id":
        raise StripeError("customer_mapping[type] must be by_id.",
                          param="customer_mapping[type]")
    now = real_now()
    meter = {
        "id": new_id("mtr_test", 32), "object": "billing.meter", "created": now,
        "customer_mapping": {"event_payload_key": mapping.get("event_payload_key",
                                                              "stripe_customer_id"),
                             "type": "by_id"},
        "default_aggregation": {"formula": params["default_aggregation"]["formula"]},
        "display_name": params["display_name"], "event_name": params["event_name"],
        "event_time_window": None, "livemode": False, "status": "active",
        "status_transitions": {"deactivated_at": None}, "updated": now,
        "value_settings": {"event_payload_key": params.get("value_settings", {}).get(
            "event_payload_key", "value")},
    }
    return sim.store.put(meter)


@endpoint("GET", "/v1/billing/meters/<meter_id>", MeterRetrieveParams)
def retrieve_meter(sim: Sim, params: dict[str, Any], meter_id: str) -> dict[str, Any]:
    return load(sim, "billing.meter", meter_id, "billing.meter")


@endpoint("GET", "/v1/billing/meters", MeterListParams,
          {"status", "limit", "starting_after", "ending_before"})
def list_meters(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    filters = {"status": params["status"]} if "status" in params else {}
    return paginate(sim.store.all("billing.meter", **filters), params, "/v1/billing/meters")


@endpoint("POST", "/v1/billing/meter_events", MeterEventCreateParams,
          {"event_name", "payload", "identifier", "timestamp"})
def create_meter_event(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    for name in ("event_name", "identifier"):
        if len(params.get(name, "")) > 100:
            raise StripeError(f"Invalid {name}: must be at most 100 characters.", param=name)
    return metering.record(sim, params, request.headers.get("Idempotency-Key"))


@endpoint("GET", "/v1/billing/meters/<meter_id>/event_summaries",
          MeterListEventSummariesParams,
          {"customer", "start_time", "end_time", "value_grouping_window", "limit",
           "starting_after", "ending_before"})
def meter_event_summaries(sim: Sim, params: dict[str, Any], meter_id: str) -> dict[str, Any]:
    meter = load(sim, "billing.meter", meter_id, "billing.meter")
    load(sim, "customer", params["customer"], param="customer")
    start, end = params["start_time"], params["end_time"]
    window = params.get("value_grouping_window")
    step = WINDOWS.get(window, 60) if window else 60
    if window is not None and window not in WINDOWS:
        raise StripeError("Invalid value_grouping_window: must be one of day or hour",
                          param="value_grouping_window")
    for name, value in (("start_time", start), ("end_time", end)):
        if value % step:
            unit = {60: "minute", 3600: "hour", DAY: "UTC day"}[step]
            raise StripeError(f"{name} must be aligned with {unit} boundaries.", param=name)
    if end <= start:
        raise StripeError("end_time must be after start_time.", param="end_time")
    bounds = [(t, min(t + step, end)) for t in range(start, end, step)] if window \
        else [(start, end)]
    summaries = [_summary(sim, meter, params["customer"], a, b) for a, b in bounds]
    return paginate(summaries, params, f"/v1/billing/meters/{meter_id}/event_summaries")


def _summary(sim: Sim, meter: dict[str, Any], customer: str, start: int,
             end: int) -> dict[str, Any]:
    digest = hashlib.sha256(f"{meter['id']}/{customer}/{start}/{end}".encode()).hexdigest()
    return {
        "id": f"mtrusg_{digest[:24]}", "object": "billing.meter_event_summary",
        "aggregated_value": metering.aggregate(sim, meter, customer, start, end),
        "end_time": end, "livemode": False, "meter": meter["id"], "start_time": start,
    }


@endpoint("GET", "/v2/core/events/<event_id>", EventRetrieveParams)
def retrieve_thin_event(sim: Sim, params: dict[str, Any], event_id: str) -> dict[str, Any]:
    return load(sim, thin_events.KIND, event_id, "event")


@endpoint("GET", "/v2/core/events", EventListParams, {"object_id", "types", "limit"})
def list_thin_events(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    events = sim.store.all(thin_events.KIND)
    if "types" in params:
        events = [e for e in events if e["type"] in params["types"]]
    if "object_id" in params:
        events = [e for e in events
                  if (e.get("related_object") or {}).get("id") == params["object_id"]]
    return thin_events.listing(events[:params.get("limit", 20)])
