"""Events, test clocks, billing meters and meter events."""

from __future__ import annotations

from typing import Any

from stripe.params import EventListParams, EventRetrieveParams
from stripe.params.billing import (
    MeterCreateParams,
    MeterEventCreateParams,
    MeterListEventSummariesParams,
    MeterListParams,
    MeterRetrieveParams,
)
from stripe.params.test_helpers import (
    TestClockAdvanceParams,
    TestClockCreateParams,
    TestClockListParams,
    TestClockRetrieveParams,
)

from stripe_sim import clock as test_clock
from stripe_sim import objects
from stripe_sim.api import endpoint, load, paginate
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.simtime import new_id, real_now


@endpoint("GET", "/v1/events/<event_id>", EventRetrieveParams)
def retrieve_event(sim: Sim, params: dict[str, Any], event_id: str) -> dict[str, Any]:
    return load(sim, "event", event_id)


@endpoint("GET", "/v1/events", EventListParams,
          {"type", "types", "limit", "starting_after", "ending_before"})
def list_events(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    events = sim.store.all("event")
    if "type" in params:
        pattern = params["type"]
        events = [e for e in events if e["type"] == pattern or (
            pattern.endswith("*") and e["type"].startswith(pattern[:-1]))]
    if "types" in params:
        events = [e for e in events if e["type"] in params["types"]]
    return paginate(events, params, "/v1/events")


@endpoint("POST", "/v1/test_helpers/test_clocks", TestClockCreateParams, {"frozen_time", "name"})
def create_clock(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    clock = objects.test_clock(real_now(), params["frozen_time"], params.get("name"))
    return sim.store.put(clock)


@endpoint("GET", "/v1/test_helpers/test_clocks/<clock_id>", TestClockRetrieveParams)
def retrieve_clock(sim: Sim, params: dict[str, Any], clock_id: str) -> dict[str, Any]:
    return load(sim, "test_helpers.test_clock", clock_id, "test clock")


@endpoint("GET", "/v1/test_helpers/test_clocks", TestClockListParams,
          {"limit", "starting_after", "ending_before"})
def list_clocks(sim: Sim, params: dict[str, Any]) -> dict[str, Any]:
    return paginate(sim.store.all("test_helpers.test_clock"), params,
                    "/v1/test_helpers/test_clocks")


@endpoint("POST", "/v1/test_helpers/test_clocks/<clock_id>/advance", TestClockAdvanceParams,
          {"frozen_time"})
def advance_clock(sim: Sim, params: dict[str, Any], clock_id: str) -> dict[str, Any]:
    clock = load(sim, "test_helpers.test_clock", clock_id, "test clock")
    if params["frozen_time"] <= clock["frozen_time"]:
        raise StripeError("The test clock can only move forward: frozen_time must be after "
                          f"{clock['frozen_time']}.", param="frozen_time")
    return test_clock.advance(sim, clock, params["frozen_time"])


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
    now = real_now()
    mapping = params.get("customer_mapping", {})
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
    identifier = params.get("identifier") or new_id("mev", 20)
    key = f"meter_event:{identifier}"
    if sim.store.get(key) is not None:
        raise StripeError(f"A meter event with identifier {identifier} already exists.",
                          code="resource_already_exists", param="identifier")
    payload = params["payload"]
    value = payload.get("value")
    if value is not None and not _is_number(value):
        raise StripeError("payload[value] must be a number.", param="payload[value]")
    event = {
        "object": "billing.meter_event", "created": real_now(),
        "event_name": params["event_name"], "identifier": identifier, "livemode": False,
        "payload": payload, "timestamp": params.get("timestamp", real_now()),
    }
    sim.store.put(event, object_id=key)
    return event


@endpoint("GET", "/v1/billing/meters/<meter_id>/event_summaries",
          MeterListEventSummariesParams, {"customer", "start_time", "end_time"})
def meter_event_summaries(sim: Sim, params: dict[str, Any], meter_id: str) -> dict[str, Any]:
    meter = load(sim, "billing.meter", meter_id, "billing.meter")
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    values = [float(e["payload"].get(value_key, 1))
              for e in sim.store.all("billing.meter_event", event_name=meter["event_name"])
              if e["payload"].get(customer_key) == params["customer"]
              and params["start_time"] <= e["timestamp"] < params["end_time"]]
    formula = meter["default_aggregation"]["formula"]
    total = len(values) if formula == "count" else (values[0] if formula == "last" and values
                                                    else sum(values))
    summary = {
        "id": new_id("mtrusg"), "object": "billing.meter_event_summary",
        "aggregated_value": total, "end_time": params["end_time"], "livemode": False,
        "meter": meter_id, "start_time": params["start_time"],
    }
    return objects.list_object([summary], f"/v1/billing/meters/{meter_id}/event_summaries")


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
