"""The meter's error reports: thin events from Stripe's event destination, verified like every
webhook, fetched for their details, logged at error level, and the rows they name marked."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from flask import Flask

from stripe_sim.testing import SimulatorProcess, WebhookReceiver

from .conftest import THIN_SECRET, event_json, sign
from .meter_support import add_rows, overage_meter, report_once, reporter, rows

THIN_PATH = "/billing/webhook/thin"


def _needs_thin_events(sim: SimulatorProcess) -> None:
    try:
        sim.control("GET", "event_destinations")
    except Exception:  # noqa: BLE001 - an older simulator has no event destinations
        pytest.skip("this simulator sends no thin events (no event destinations)")


def _post(app: Flask, body: str | bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return app.test_client().post(THIN_PATH, data=body, headers=headers)


def _thin(kind: str = "v1.billing.meter.error_report_triggered", **fields: Any) -> bytes:
    notice = {
        "id": f"evt_test_{uuid.uuid4().hex}",
        "object": "v2.core.event",
        "type": kind,
        "created": "2026-11-28T12:00:00.000Z",
        "livemode": False,
        "context": None,
        "reason": None,
        "related_object": {"id": "mtr_x", "type": "billing.meter", "url": "/v1/billing/meters/x"},
        **fields,
    }
    return json.dumps(notice).encode()


def test_a_meter_error_for_an_unknown_customer_is_logged_and_its_row_marked(
    app: Flask,
    sim: SimulatorProcess,
    webhook_receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _needs_thin_events(sim)
    sim.add_event_destination(webhook_receiver.url, THIN_SECRET)
    webhook_receiver.secret = THIN_SECRET
    meter = overage_meter(app)
    from portal.extensions import db
    from portal.models import Tenant

    with app.app_context():  # a customer Stripe does not know (deleted there, say)
        tenant = Tenant(name="Gone", tier="pro", stripe_customer_id="cus_deletedatstripe")
        db.session.add(tenant)
        db.session.commit()
        tenant_id = tenant.id
    (row_id,) = add_rows(app, tenant_id, [250])
    assert report_once(app, reporter(app)) == 1  # Stripe accepts it, and checks it later

    deadline = time.monotonic() + 10
    while not webhook_receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    (delivery,) = webhook_receiver.requests
    with caplog.at_level("ERROR", logger="continuum.billing.meter"):
        answer = _post(app, delivery["body"], delivery["headers"]["Stripe-Signature"])
    assert answer.status_code == 200 and answer.get_json() == {
        "received": True,
        "duplicate": False,
    }
    logged = " ".join(r.message for r in caplog.records if r.levelname == "ERROR")
    assert "v1.billing.meter.error_report_triggered" in logged and meter in logged
    assert "meter_event_customer_not_found" in logged and "cus_deletedatstripe" in logged
    (row,) = [r for r in rows(app) if r.id == row_id]
    assert row.failed_at is not None
    assert (row.last_error or "").startswith("meter_event_customer_not_found")

    again = _post(app, delivery["body"], sign(delivery["body"].encode(), THIN_SECRET))
    assert again.status_code == 200 and again.get_json()["duplicate"] is True


@pytest.mark.parametrize(
    ("signature", "status"),
    [(None, 400), ("t=1,v1=deadbeef", 400), ("wrong-secret", 400), ("stale", 400)],
)
def test_thin_events_need_a_valid_fresh_signature(
    app: Flask, signature: str | None, status: int
) -> None:
    body = _thin()
    header = {
        None: None,
        "t=1,v1=deadbeef": "t=1,v1=deadbeef",
        "wrong-secret": sign(body, "whsec_someone_else"),
        "stale": sign(body, THIN_SECRET, timestamp=int(time.time()) - 301),
    }[signature]
    answer = _post(app, body, header)
    assert answer.status_code == status
    assert "signature" in answer.get_json()["error"].lower()


def test_a_snapshot_event_is_not_a_thin_event(app: Flask) -> None:
    body = json.dumps(event_json("invoice.paid", {"id": "in_1", "object": "invoice"})).encode()
    answer = _post(app, body, sign(body, THIN_SECRET))
    assert answer.status_code == 400


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"object": "v2.core.event"}'])
def test_a_signed_body_that_is_no_notification_is_a_400(app: Flask, body: bytes) -> None:
    assert _post(app, body, sign(body, THIN_SECRET)).status_code == 400


def test_without_a_secret_thin_events_are_refused(app: Flask) -> None:
    app.config["STRIPE_THIN_WEBHOOK_SECRET"] = ""
    body = _thin()
    assert _post(app, body, sign(body, "")).status_code == 503


def test_other_thin_events_are_acknowledged(app: Flask, sim: SimulatorProcess) -> None:
    body = _thin("v2.core.event_destination.ping")
    answer = _post(app, body, sign(body, THIN_SECRET))
    assert answer.status_code == 200 and answer.get_json()["duplicate"] is False
