"""Webhook deliveries: Stripe's signature and envelope, retries with backoff, and the
duplicate / out-of-order / hold switches."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from stripe_sim.__main__ import parse_args
from stripe_sim.webhooks import sign


def test_signature_verifies_and_envelope_is_stripes(stripe_client, hooks):
    customer = stripe_client.v1.customers.create({"email": "w@example.com"},
                                                 {"idempotency_key": "create-w"})
    stripe_client.v1.customers.update(customer.id, {"name": "W"})
    events = hooks.wait_for(lambda e: len(e) >= 2)
    created, updated = events
    assert created.type == "customer.created" and created.object == "event"
    assert created.api_version == stripe.api_version and created.livemode is False
    assert created.pending_webhooks == 1
    assert created.request.idempotency_key == "create-w" and created.request.id
    assert created.data.object.id == customer.id
    assert "previous_attributes" not in created.data
    assert updated.data.previous_attributes.to_dict() == {"name": None}
    request = hooks.requests[0]
    assert request["headers"]["Stripe-Signature"].startswith("t=")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(request["body"], request["headers"]["Stripe-Signature"],
                                       "whsec_someone_else")
    stored = stripe_client.v1.events.retrieve(created.id)
    assert stored.pending_webhooks == 0


def test_sign_matches_stripes_scheme():
    header = sign('{"id": "evt_1"}', "whsec_x", 1700000000)
    event = stripe.Webhook.construct_event('{"id": "evt_1"}', header, "whsec_x",
                                           tolerance=None)
    assert event.id == "evt_1"


def test_failed_deliveries_are_retried_with_backoff(sim, stripe_client, hooks):
    hooks.fail_next = 2
    stripe_client.v1.customers.create({"email": "r@example.com"})
    rows = sim.wait_for_deliveries(lambda d: d and d[0]["state"] == "delivered")
    assert (rows[0]["state"], rows[0]["attempts"], rows[0]["last_status"]) == (
        "delivered", 3, 200)
    assert [r["answered"] for r in hooks.requests] == [500, 500, 200]
    assert len({r["body"] for r in hooks.requests}) == 1


def test_unreachable_endpoint_gives_up_after_max_attempts(sim, stripe_client, webhook_receiver):
    url = webhook_receiver.url
    webhook_receiver.close()
    sim.add_webhook_endpoint(url, "whsec_gone")
    stripe_client.v1.customers.create({"email": "u@example.com"})
    rows = sim.wait_for_deliveries(lambda d: d and d[0]["state"] == "failed")
    assert rows[0]["state"] == "failed" and rows[0]["attempts"] == sim.max_attempts
    assert rows[0]["last_status"] is None and rows[0]["last_error"]


def test_a_delivery_that_times_out_is_retried(sim, stripe_client):
    """An endpoint that answers only after the delivery timeout counts as failed, and the
    same event is sent again."""
    bodies: list[bytes] = []

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            if len(bodies) == 1:
                time.sleep(sim.delivery_timeout + 0.5)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sim.add_webhook_endpoint(f"http://127.0.0.1:{server.server_port}/hook", "whsec_slow")
        stripe_client.v1.customers.create({"email": "slow@example.com"})
        rows = sim.wait_for_deliveries(lambda d: d and d[0]["state"] != "pending")
        assert (rows[0]["state"], rows[0]["attempts"], rows[0]["last_status"]) == (
            "delivered", 2, 200)
        assert len(bodies) == 2 and bodies[0] == bodies[1]
    finally:
        server.shutdown()
        server.server_close()


def test_duplicate_switch_sends_every_event_twice(sim, stripe_client, hooks):
    sim.set_switches(duplicate=True)
    stripe_client.v1.customers.create({"email": "d@example.com"})
    events = hooks.wait_for(lambda e: len(e) >= 2)
    assert [e.id for e in events][0] == [e.id for e in events][1]


def test_hold_then_release_newest_first(sim, stripe_client, hooks):
    sim.hold_deliveries()
    customer = stripe_client.v1.customers.create({"email": "o@example.com"})
    stripe_client.v1.customers.update(customer.id, {"name": "First"})
    stripe_client.v1.customers.update(customer.id, {"name": "Second"})
    assert {d["state"] for d in sim.deliveries()} == {"held"}
    assert hooks.requests == []
    assert sim.release_deliveries(reverse=True) == 3
    events = hooks.wait_for(lambda e: len(e) >= 3)
    assert [e.type for e in events] == ["customer.updated", "customer.updated",
                                        "customer.created"]
    assert [e.data.object.name for e in events[:2]] == ["Second", "First"]
    assert events[0].created >= events[1].created


def test_control_endpoints_validate_input(sim):
    for path, body in (("webhook_endpoints", {"url": "ftp://x", "secret": "whsec_1"}),
                       ("webhook_endpoints", {"url": "http://x", "secret": "nope"}),
                       ("switches", {"sideways": True})):
        with pytest.raises(Exception, match="400"):
            sim.control("POST", path, body)


def test_command_line_pairs_urls_with_secrets(monkeypatch):
    monkeypatch.delenv("STRIPE_SIM_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("STRIPE_SIM_WEBHOOK_SECRET", raising=False)
    args = parse_args(["--port", "0", "--webhook-url", "http://127.0.0.1:5000/stripe/webhook",
                       "--webhook-secret", "whsec_1"])
    assert (args.webhook_url, args.webhook_secret) == (
        ["http://127.0.0.1:5000/stripe/webhook"], ["whsec_1"])
    with pytest.raises(SystemExit):
        parse_args(["--webhook-url", "http://x"])
    with pytest.raises(SystemExit):
        parse_args(["--api-key", "sk_live_real"])


def test_events_payload_is_json_of_the_event(stripe_client, hooks):
    stripe_client.v1.customers.create({"email": "j@example.com"})
    hooks.wait_for(lambda e: len(e) >= 1)
    body = json.loads(hooks.requests[0]["body"])
    assert set(body) == {"id", "object", "api_version", "created", "data", "livemode",
                         "pending_webhooks", "request", "type"}
