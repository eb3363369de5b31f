"""The overage reporter against the simulator: each outbox row reaches the meter exactly once,
failures back off and retry, refusals are marked, and two reporters never bill a row twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.billing import meter_outbox
from portal.billing.meter_reporter import backoff_delay
from portal.extensions import db
from portal.models import MeterReport, utcnow
from stripe_sim.testing import SimulatorProcess
from tests.outage import stripe_unreachable

from .meter_support import (
    add_rows,
    customers,
    meter_total,
    our_total,
    overage_meter,
    report_once,
    reporter,
    rows,
)


@pytest.mark.both_dbs
def test_each_row_is_sent_once_and_marked(app: Flask, sim: SimulatorProcess) -> None:
    meter = overage_meter(app)
    (alice, bob) = customers(app, sim, 2)
    add_rows(app, alice.tenant_id, [2500, 1, 10_000])
    add_rows(app, bob.tenant_id, [7])
    sender = reporter(app)
    assert report_once(app, sender) == 4
    assert report_once(app, sender) == 0  # nothing left: nothing sent again
    assert meter_total(sim, meter, alice.customer_id) == 12_501 == our_total(app, alice.tenant_id)
    assert meter_total(sim, meter, bob.customer_id) == 7
    for row in rows(app):
        assert row.reported_at is not None and row.attempts == 1 and row.claimed_until is None
        assert row.last_error is None and row.failed_at is None


def test_report_usage_reports_the_callers_rows_only(app: Flask, sim: SimulatorProcess) -> None:
    from tests.factory import Factory

    meter = overage_meter(app)
    (alice, bob) = customers(app, sim, 2)
    add_rows(app, alice.tenant_id, [100, 200])
    add_rows(app, bob.tenant_id, [5])
    key = Factory(app).key(alice.tenant_id)
    client = app.test_client()
    answer = client.post("/v1/billing/report-usage", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    assert answer.get_json() == {"reported": 300, "pending": 0}
    assert meter_total(sim, meter, alice.customer_id) == 300
    assert meter_total(sim, meter, bob.customer_id) == 0
    again = client.post("/v1/billing/report-usage", headers={"Authorization": f"Bearer {key}"})
    assert again.get_json() == {"reported": 0, "pending": 0}


@pytest.mark.both_dbs
def test_a_resend_after_a_crash_is_recognised_not_billed_twice(
    app: Flask, sim: SimulatorProcess
) -> None:
    """A reporter that sent and died before marking: the next one sends the same identifiers,
    Stripe says it has them, and the rows are marked without a second charge."""
    meter = overage_meter(app)
    (alice,) = customers(app, sim, 1)
    add_rows(app, alice.tenant_id, [40, 2])
    crashed = reporter(app)
    with app.app_context():
        claimed = meter_outbox.claim(utcnow(), limit=10, lease=timedelta(seconds=60))
        crashed._send(claimed)  # sent, never recorded: the process died here
    assert meter_total(sim, meter, alice.customer_id) == 42
    assert report_once(app, reporter(app)) == 0  # still claimed by the dead one
    with app.app_context():  # the dead reporter's claim runs out
        db.session.execute(
            sa.update(MeterReport).values(claimed_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    with app.app_context():
        result = reporter(app).report_once()
    assert (result.rows, result.duplicates) == (2, 2)
    assert meter_total(sim, meter, alice.customer_id) == 42
    assert all(row.reported_at is not None for row in rows(app))


def test_failures_back_off_exponentially_then_succeed(app: Flask, sim: SimulatorProcess) -> None:
    meter = overage_meter(app)
    (alice,) = customers(app, sim, 1)
    (first, second) = add_rows(app, alice.tenant_id, [10, 20])
    with stripe_unreachable(app):
        down = reporter(app, backoff=timedelta(seconds=5))
        before = utcnow()
        assert report_once(app, down) == 0
    by_id = {row.id: row for row in rows(app)}
    failed, deferred = by_id[first], by_id[second]
    assert failed.attempts == 1 and failed.reported_at is None and failed.failed_at is None
    assert "reach our payment provider" in (failed.last_error or "")
    assert failed.next_attempt_at is not None
    assert timedelta(seconds=4) < failed.next_attempt_at - before < timedelta(seconds=7)
    # The customer's next row waits with it, unattempted (one call at a time per customer).
    assert deferred.attempts == 0 and deferred.next_attempt_at == failed.next_attempt_at
    assert report_once(app, reporter(app)) == 0  # not due yet: nothing is sent
    assert meter_total(sim, meter, alice.customer_id) == 0

    with app.app_context():
        db.session.execute(sa.update(MeterReport).values(next_attempt_at=utcnow()))
        db.session.commit()
    with stripe_unreachable(app):
        assert report_once(app, reporter(app, backoff=timedelta(seconds=5))) == 0
    again = {row.id: row for row in rows(app)}[first]
    assert again.attempts == 2 and again.next_attempt_at is not None
    assert again.next_attempt_at - utcnow() > timedelta(seconds=8)  # 10 s: doubled

    with app.app_context():
        db.session.execute(sa.update(MeterReport).values(next_attempt_at=None))
        db.session.commit()
    assert report_once(app, reporter(app)) == 2
    assert meter_total(sim, meter, alice.customer_id) == 30
    assert [row.attempts for row in rows(app)] == [3, 1]


def test_backoff_doubles_up_to_an_hour() -> None:
    base = timedelta(seconds=5)
    assert [backoff_delay(n, base).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff_delay(30, base) == timedelta(hours=1)


def _refuses_old_timestamps(app: Flask, sim: SimulatorProcess, customer_id: str) -> bool:
    from portal.errors import PortalError
    from portal.plans import OVERAGE_METER_EVENT_NAME
    from portal.stripe_gateway import gateway_for

    with app.app_context():
        try:
            gateway_for(app).create_meter_event(
                event_name=OVERAGE_METER_EVENT_NAME,
                customer_id=customer_id,
                value=0,
                identifier=f"probe_{time.time_ns()}",
                timestamp=int(time.time()) - 40 * 86400,
            )
        except PortalError:
            return True
    return False


def test_a_row_stripe_refuses_for_good_is_marked_failed(
    app: Flask, sim: SimulatorProcess, caplog: pytest.LogCaptureFixture
) -> None:
    meter = overage_meter(app)
    (alice,) = customers(app, sim, 1)
    if not _refuses_old_timestamps(app, sim, alice.customer_id):
        pytest.skip("this simulator accepts meter events older than 35 days (Stripe does not)")
    too_old = int(time.time()) - 36 * 86400
    (old,) = add_rows(app, alice.tenant_id, [99], event_time=too_old)
    (fresh,) = add_rows(app, alice.tenant_id, [1])
    with caplog.at_level("ERROR", logger="continuum.billing.meter"):
        with app.app_context():
            result = reporter(app).report_once()
    assert (result.rows, result.failures) == (1, 1)
    by_id = {row.id: row for row in rows(app)}
    assert by_id[old].failed_at is not None and by_id[old].reported_at is None
    assert "35" in (by_id[old].last_error or "")
    assert by_id[fresh].reported_at is not None
    assert any("refused for good" in record.message for record in caplog.records)
    assert meter_total(sim, meter, alice.customer_id) == 1
    assert report_once(app, reporter(app)) == 0  # a failed row is not retried


@pytest.mark.both_dbs
def test_two_reporters_at_once_never_bill_a_row_twice(app: Flask, sim: SimulatorProcess) -> None:
    meter = overage_meter(app)
    people = customers(app, sim, 6)
    for index, person in enumerate(people):
        add_rows(app, person.tenant_id, [index + 1] * 25)
    results = []
    start = threading.Barrier(2)

    def run() -> None:
        each = reporter(app, batch_size=10, workers=3)
        start.wait()
        with app.app_context():
            results.append(each.report_once())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(result.rows for result in results) == 150
    assert sum(result.duplicates for result in results) == 0  # no row was sent twice
    for person in people:
        assert meter_total(sim, meter, person.customer_id) == our_total(app, person.tenant_id)
    assert all(row.reported_at is not None and row.attempts == 1 for row in rows(app))


def test_the_portal_starts_its_reporter_with_the_first_request(
    app_config: dict[str, object], sim: SimulatorProcess
) -> None:
    from portal import create_app
    from portal.billing.meter_reporter import reporter_for

    served = create_app(
        {
            **app_config,
            "TESTING": False,
            "SECRET_KEY": "x",
            "METER_REPORT_SECONDS": 0.2,
            "METER_REPORTER_ENABLED": True,
        }
    )
    meter = overage_meter(served)
    (alice,) = customers(served, sim, 1)
    add_rows(served, alice.tenant_id, [3, 4])
    assert "meter_reporter" not in served.extensions  # building the app starts nothing
    served.test_client().get("/login")
    reporter_ = reporter_for(served)
    try:
        deadline = time.monotonic() + 10
        while meter_total(sim, meter, alice.customer_id) < 7 and time.monotonic() < deadline:
            time.sleep(0.1)
        add_rows(served, alice.tenant_id, [5])  # written after it started: the next pass
        while meter_total(sim, meter, alice.customer_id) < 12 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        reporter_.stop()
        with served.app_context():
            db.session.remove()
            db.engine.dispose()
    assert meter_total(sim, meter, alice.customer_id) == 12
    assert all(row.reported_at is not None for row in rows(served))


def test_tests_and_a_disabled_setting_start_no_reporter(
    app: Flask, app_config: dict[str, object], sim: SimulatorProcess
) -> None:
    from portal import create_app

    testing = create_app({**app_config, "METER_REPORTER_ENABLED": True})
    testing.test_client().get("/login")  # TESTING: tests run reporters themselves
    assert "meter_reporter" not in testing.extensions
    off = create_app(
        {**app_config, "TESTING": False, "SECRET_KEY": "x", "METER_REPORTER_ENABLED": False}
    )
    off.test_client().get("/login")
    assert "meter_reporter" not in off.extensions
