"""Events, test clocks, billing meters and meter events."""

from __future__ import annotations

from typing import Any

from stripe.params import EventListParams, EventRetrieveParams

from portal.stripe_sim.api import endpoint, load, paginate
from portal.stripe_sim.context import Sim


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
