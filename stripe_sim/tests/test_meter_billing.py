"""Billing meters and meter events: Stripe's synchronous refusals, identifier dedup for 24 hours,
event summaries, and the thin error event for an unknown customer."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import stripe

from stripe_sim.testing import SimulatorProcess, WebhookReceiver, advance_clock

DAY = 86400
JAN_1_2026 = 1767225600
EVENT = "continuum_api_calls_overage"


@pytest.fixture
def meter(stripe_client: stripe.StripeClient) -> Any:
    return stripe_client.v1.billing.meters.create({
        "display_name": "CONTINUUM API calls over quota", "event_name": EVENT,
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
        "value_settings": {"event_payload_key": "value"}})


@pytest.fixture
def clock(stripe_client: stripe.StripeClient) -> Any:
    return stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": JAN_1_2026})


@pytest.fixture
def customer(stripe_client: stripe.StripeClient, clock: Any) -> Any:
    return stripe_client.v1.customers.create({"email": "m@example.com", "test_clock": clock.id})


def report(client: stripe.StripeClient, customer_id: str, value: str, **extra: Any) -> Any:
    params = {"event_name": EVENT, "timestamp": JAN_1_2026 + 60,
              "payload": {"stripe_customer_id": customer_id, "value": value}, **extra}
    return client.v1.billing.meter_events.create(params)


def usage(client: stripe.StripeClient, meter: Any, customer: Any, start: int = JAN_1_2026,
          end: int = JAN_1_2026 + 40 * DAY) -> float:
    page = client.v1.billing.meters.event_summaries.list(
        meter.id, {"customer": customer.id, "start_time": start, "end_time": end})
    return page.data[0].aggregated_value


def test_an_event_is_accepted_and_summed(stripe_client, meter, customer):
    event = report(stripe_client, customer.id, "2500", identifier="ovg_1")
    assert (event.object, event.identifier, event.timestamp) == (
        "billing.meter_event", "ovg_1", JAN_1_2026 + 60)
    assert event.payload.to_dict() == {"stripe_customer_id": customer.id, "value": "2500"}
    report(stripe_client, customer.id, "7500", identifier="ovg_2")
    assert usage(stripe_client, meter, customer) == 10000


def test_timestamp_defaults_to_the_customers_now(stripe_client, meter, customer, clock):
    event = stripe_client.v1.billing.meter_events.create({
        "event_name": EVENT, "payload": {"stripe_customer_id": customer.id, "value": "1"}})
    assert event.timestamp == clock.frozen_time


@pytest.mark.parametrize(("change", "code", "param"), [
    ({"value": "1.5"}, "meter_event_invalid_value", "payload[value]"),
    ({"value": "ten"}, "meter_event_invalid_value", "payload[value]"),
    ({"value": ""}, "meter_event_invalid_value", "payload[value]"),
    ({"value": None}, "meter_event_invalid_value", "payload[value]"),
    ({"value": "1234567890123456"}, "meter_event_value_too_many_digits", "payload[value]"),
    ({"stripe_customer_id": None}, "meter_event_no_customer_defined",
     "payload[stripe_customer_id]"),
    ({"timestamp": JAN_1_2026 - 35 * DAY - 1}, "timestamp_too_far_in_past", "timestamp"),
    ({"timestamp": JAN_1_2026 + 5 * 60 + 1}, "timestamp_in_future", "timestamp"),
    ({"event_name": "no_such_meter"}, "no_meter", "event_name"),
])
def test_invalid_events_are_refused_and_not_counted(stripe_client, meter, customer, change,
                                                    code, param):
    payload = {"stripe_customer_id": customer.id, "value": "5"}
    params: dict[str, Any] = {"event_name": EVENT, "timestamp": JAN_1_2026, "payload": payload}
    for key, value in change.items():
        target = payload if key in payload else params
        if value is None:
            del target[key]
        else:
            target[key] = value
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.billing.meter_events.create(params)  # type: ignore[arg-type]
    assert refused.value.http_status == 400
    assert (refused.value.code, refused.value.param) == (code, param)
    assert usage(stripe_client, meter, customer, JAN_1_2026 - 40 * DAY) == 0


def test_window_edges_are_accepted(stripe_client, meter, customer):
    report(stripe_client, customer.id, "1", timestamp=JAN_1_2026 - 35 * DAY)
    report(stripe_client, customer.id, "2", timestamp=JAN_1_2026 + 5 * 60)
    report(stripe_client, customer.id, "-1", timestamp=JAN_1_2026)
    assert usage(stripe_client, meter, customer, JAN_1_2026 - 40 * DAY) == 2


def test_identifier_is_deduplicated_for_24_hours_only(stripe_client, meter, customer, clock):
    report(stripe_client, customer.id, "40", identifier="batch-1")
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        report(stripe_client, customer.id, "40", identifier="batch-1")
    assert (duplicate.value.code, duplicate.value.param) == ("resource_already_exists",
                                                             "identifier")
    advance_clock(stripe_client, clock.id, JAN_1_2026 + DAY - 1)
    with pytest.raises(stripe.InvalidRequestError):
        report(stripe_client, customer.id, "40", identifier="batch-1")
    advance_clock(stripe_client, clock.id, JAN_1_2026 + DAY + 1)
    report(stripe_client, customer.id, "40", identifier="batch-1")
    assert usage(stripe_client, meter, customer) == 80


def test_summaries_by_window_and_their_checks(stripe_client, meter, customer, clock):
    advance_clock(stripe_client, clock.id, JAN_1_2026 + 3 * 3600)
    report(stripe_client, customer.id, "3", timestamp=JAN_1_2026 + 10)
    report(stripe_client, customer.id, "4", timestamp=JAN_1_2026 + 3600 + 10)
    report(stripe_client, customer.id, "5", timestamp=JAN_1_2026 + 7200)
    hourly = stripe_client.v1.billing.meters.event_summaries.list(meter.id, {
        "customer": customer.id, "start_time": JAN_1_2026, "end_time": JAN_1_2026 + 3 * 3600,
        "value_grouping_window": "hour"})
    assert [(s.start_time - JAN_1_2026, s.aggregated_value) for s in hourly.data] == [
        (0, 3), (3600, 4), (7200, 5)]
    assert {s.meter for s in hourly.data} == {meter.id}
    assert usage(stripe_client, meter, customer, JAN_1_2026, JAN_1_2026 + 7200) == 7
    for params, param in (
            ({"start_time": JAN_1_2026 + 30}, "start_time"),
            ({"end_time": JAN_1_2026 + 3630, "value_grouping_window": "hour"}, "end_time"),
            ({"end_time": JAN_1_2026 + 3600, "value_grouping_window": "day"}, "start_time"),
            ({"end_time": JAN_1_2026}, "end_time")):
        query = {"customer": customer.id, "start_time": JAN_1_2026,
                 "end_time": JAN_1_2026 + DAY, **params}
        if params.get("value_grouping_window") == "day":
            query["start_time"] = JAN_1_2026 + 3600
        with pytest.raises(stripe.InvalidRequestError) as refused:
            stripe_client.v1.billing.meters.event_summaries.list(meter.id, query)
        assert refused.value.param == param
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe_client.v1.billing.meters.event_summaries.list(meter.id, {
            "customer": "cus_nobody", "start_time": JAN_1_2026, "end_time": JAN_1_2026 + 60})
    assert unknown.value.http_status == 404


def test_unknown_customer_is_accepted_then_reported_as_a_thin_event(
        sim: SimulatorProcess, stripe_client, meter, webhook_receiver: WebhookReceiver):
    sim.add_event_destination(webhook_receiver.url, webhook_receiver.secret)
    event = stripe_client.v1.billing.meter_events.create(
        {"event_name": EVENT, "identifier": "ovg_cus_gone_1",
         "payload": {"stripe_customer_id": "cus_gone", "value": "12"}},
        {"idempotency_key": "ovg_cus_gone_1"})
    assert event.identifier == "ovg_cus_gone_1"
    notes = webhook_receiver.wait_for_notifications(stripe_client, lambda n: len(n) >= 1)
    assert len(notes) == 1
    note = notes[0]
    assert type(note).__name__ == "V1BillingMeterErrorReportTriggeredEventNotification"
    assert note.type == "v1.billing.meter.error_report_triggered"
    assert note.related_object.id == meter.id
    full = note.fetch_event()
    error_type = full.data.reason.error_types[0]
    assert (full.data.reason.error_count, error_type.code, error_type.error_count) == (
        1, "meter_event_customer_not_found", 1)
    assert error_type.sample_errors[0].request.identifier == "ovg_cus_gone_1"
    assert "cus_gone" in error_type.sample_errors[0].error_message
    assert note.fetch_related_object().event_name == EVENT
    listed = stripe_client.v2.core.events.list({"object_id": meter.id})
    assert [e.id for e in listed.data] == [note.id]
    assert stripe_client.v2.core.events.list({"types": ["v1.billing.meter.no_meter_found"]}
                                             ).data == []
    body = webhook_receiver.requests[0]["body"]
    assert '"data"' not in body  # the notification is thin: the data is fetched


def test_meter_errors_are_not_webhook_events(sim, stripe_client, meter, hooks):
    stripe_client.v1.billing.meter_events.create(
        {"event_name": EVENT, "payload": {"stripe_customer_id": "cus_gone", "value": "1"}})
    stripe_client.v1.customers.create({"email": "after@example.com"})
    events = hooks.wait_for(lambda e: any(x.type == "customer.created" for x in e))
    assert [e.type for e in events] == ["customer.created"]
    assert all(not e.type.startswith("v1.") for e in stripe_client.v1.events.list().data)


def test_one_concurrent_call_per_customer_and_meter():
    """A second meter event for the same customer and meter while the first is in flight is
    429 (the SDK's RateLimitError); another customer is not held up. A 600 ms latency keeps
    the first call in flight."""
    with SimulatorProcess(latency_ms=600) as slow:
        client = slow.client()
        client.v1.billing.meters.create({"display_name": "calls", "event_name": EVENT,
                                         "default_aggregation": {"formula": "sum"}})
        first, second = (client.v1.customers.create({"email": f"{n}@example.com"})
                         for n in ("a", "b"))
        outcomes: dict[str, Any] = {}

        def send(name: str, customer_id: str, delay: float) -> None:
            time.sleep(delay)
            try:
                client.v1.billing.meter_events.create({
                    "event_name": EVENT, "payload": {"stripe_customer_id": customer_id,
                                                     "value": "1"}})
                outcomes[name] = "ok"
            except stripe.RateLimitError as error:
                outcomes[name] = error.http_status

        threads = [threading.Thread(target=send, args=args) for args in (
            ("first", first.id, 0), ("again", first.id, 0.15), ("other", second.id, 0.15))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # whichever of the two calls for the first customer arrives second is refused
        assert sorted([outcomes["first"], outcomes["again"]], key=str) == [429, "ok"]
        assert outcomes["other"] == "ok"
        send("later", first.id, 0)
        assert outcomes["later"] == "ok"
