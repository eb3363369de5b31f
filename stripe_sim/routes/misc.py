"""Events and test clocks."""

from __future__ import annotations

from typing import Any

from stripe.params import EventListParams, EventRetrieveParams
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
from stripe_sim.simtime import real_now


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
    return test_clock.start_advance(sim, clock, params["frozen_time"])
