"""The console's hooks in the rest of the portal: invoice webhooks feed the mirror and link
their events to the tenant, ``flask stripe resync`` backfills invoices, and the webhook route,
the enforcement layer and the flusher move the /metrics counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from examples.continuum_api import create_api_app
from portal import metrics
from portal.enforcement import enforcement_for
from portal.extensions import db
from portal.models import Invoice
from tests.admin.test_metrics import TOKEN, scrape, value
from tests.billing.conftest import WEBHOOK_SECRET, Billing
from tests.factory import Factory, sign_in


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    app_config.update(
        STRIPE_SECRET_KEY=sim.api_key,
        STRIPE_API_BASE=sim.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        PORTAL_BASE_URL="http://portal.test",
        METRICS_TOKEN=TOKEN,
    )
    return app_config


@pytest.fixture
def billing(app: Flask, client: FlaskClient, sim: Any) -> Iterator[Billing]:
    helper = Billing(app, client, sim)
    helper.bootstrap()
    yield helper


def mirrored(app: Flask) -> list[tuple[str, str | None, int, bool | None]]:
    with app.app_context():
        return [
            (row.id, row.status, row.attempt_count, row.paid_first_attempt)
            for row in db.session.scalars(sa.select(Invoice))
        ]


def test_invoice_webhooks_feed_the_mirror(app: Flask, billing: Billing, factory: Factory) -> None:
    tenant_id = factory.account().tenant_id
    subscription_id = billing.subscribe(tenant_id)
    invoice = billing.latest_invoice_json(subscription_id)
    before = scrape(app).get_data(as_text=True)

    assert (
        billing.send(
            "invoice.finalized", {**invoice, "status": "open"}, event_id="evt_f"
        ).status_code
        == 200
    )
    assert mirrored(app) == [(invoice["id"], "open", invoice["attempt_count"], None)]
    assert billing.send("invoice.paid", invoice, event_id="evt_p").status_code == 200
    assert billing.send("invoice.paid", invoice, event_id="evt_p").status_code == 200  # again
    assert mirrored(app) == [(invoice["id"], "paid", 1, True)]
    assert billing.send("invoice.finalized", {**invoice, "status": "open"}).status_code == 200
    assert mirrored(app)[0][1] == "paid"  # a late delivery never reopens it

    row = billing.event_row("evt_p")
    assert row is not None and row.tenant_id == tenant_id
    html = sign_in(app, factory.staff()).get(f"/admin/tenants/{tenant_id}").get_data(as_text=True)
    assert "evt_p" in html and invoice["hosted_invoice_url"] in html

    after = scrape(app).get_data(as_text=True)
    for outcome, count in (("processed", 3), ("duplicate", 1)):
        sample = f'continuum_webhook_events_total{{outcome="{outcome}"}}'
        assert value(after, sample) - value(before, sample) == count


def test_stripe_resync_backfills_invoices(
    app: Flask, billing: Billing, factory: Factory, runner: FlaskCliRunner
) -> None:
    tenant_id = factory.account().tenant_id
    billing.subscribe(tenant_id)
    result = runner.invoke(args=["stripe", "resync"])
    assert result.exit_code == 0, result.output
    assert f"tenant {tenant_id}: 1 invoice(s) and 1 card(s) mirrored" in result.output
    [(_, status, attempts, first)] = mirrored(app)
    assert (status, attempts, first) == ("paid", 1, True)


def test_enforcement_and_flusher_metrics(
    app: Flask, app_config: dict[str, Any], factory: Factory
) -> None:
    api = create_api_app(app_config, enforcement=enforcement_for(app)).test_client()
    account = factory.account("free", key=True)
    before = scrape(app).get_data(as_text=True)
    answers = [api.get("/api/memories", headers=account.headers).status_code for _ in range(12)]
    assert answers.count(200) == 10 and answers.count(429) == 2  # Free: 10 calls a minute
    assert api.get("/api/memories", headers={"X-API-Key": "nope"}).status_code == 401
    enforcement_for(app).flusher.flush()
    after = scrape(app).get_data(as_text=True)

    def moved(sample: str) -> float:
        return value(after, sample) - value(before, sample)

    assert moved('continuum_api_calls_total{status="200"}') == 10
    assert moved('continuum_api_calls_total{status="429"}') == 2
    assert moved('continuum_api_calls_total{status="401"}') == 1
    assert moved('continuum_rate_limited_total{limit="minute",tier="free"}') == 2
    assert moved("continuum_enforcement_seconds_count") == 13
    assert moved("continuum_usage_flush_batch_rows_count") >= 1
    assert value(after, "continuum_usage_flush_last_success_timestamp_seconds") > 0
    metrics.redis_breaker(False)
