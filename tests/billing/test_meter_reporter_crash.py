"""A reporter process killed with SIGKILL while reporting, then restarted: the simulator's meter
ends up with exactly our count, no call lost and none billed twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask

from stripe_sim.testing import SimulatorProcess

from .meter_support import Customer, add_rows, customers, meter_total, overage_meter, rows

ROOT = Path(__file__).resolve().parents[2]


def _reporter_process(app: Flask, sim: SimulatorProcess) -> subprocess.Popen[str]:
    """``flask stripe report-usage`` in its own process, slowed to 20 events a second and
    sending 25 rows per batch, so a kill lands between sending a batch and marking it."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "crash-test",
        "STRIPE_SECRET_KEY": sim.api_key,
        "STRIPE_API_BASE": sim.url,
        "STRIPE_WEBHOOK_SECRET": "",
        "REDIS_URL": "",
        "METER_REPORT_MAX_RATE": "20",
        "METER_REPORT_BATCH": "25",
        "METER_REPORT_LEASE_SECONDS": "2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "portal", "stripe", "report-usage"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _sent_and_marked(
    app: Flask, sim: SimulatorProcess, meter: str, people: list[Customer]
) -> tuple[int, int]:
    """(calls the simulator's meter has, calls our rows say were reported)."""
    sent = sum(meter_total(sim, meter, person.customer_id) for person in people)
    marked = sum(row.quantity for row in rows(app) if row.reported_at is not None)
    return sent, marked


@pytest.mark.both_dbs
def test_a_reporter_killed_mid_report_and_restarted_bills_exactly_our_count(
    app: Flask, sim: SimulatorProcess
) -> None:
    meter = overage_meter(app)
    people = customers(app, sim, 3)
    for index, person in enumerate(people):
        add_rows(app, person.tenant_id, [100 + index] * 40)

    first = _reporter_process(app, sim)
    deadline = time.monotonic() + 60
    sent, marked = 0, 0
    while time.monotonic() < deadline and first.poll() is None:
        sent, marked = _sent_and_marked(app, sim, meter, people)
        if marked > 0 and sent > marked:  # a batch is half sent and not yet marked
            break
        time.sleep(0.02)
    assert first.poll() is None, f"the reporter ended before the kill:\n{first.stdout.read()}"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    first.stdout.close()
    sent, marked = _sent_and_marked(app, sim, meter, people)
    assert sent > marked > 0, "the kill should land between sending and marking"
    claimed = [r for r in rows(app) if r.claimed_until is not None and r.reported_at is None]
    assert claimed, "the killed reporter left claimed rows behind"

    time.sleep(2.2)  # the dead reporter's claims run out
    second = _reporter_process(app, sim)
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output
    resent = re.search(r"(\d+) already at Stripe", output)
    assert resent and int(resent.group(1)) > 0, output  # the resends were recognised

    for index, person in enumerate(people):
        ours = sum(row.quantity for row in rows(app) if row.tenant_id == person.tenant_id)
        assert ours == 40 * (100 + index)
        assert meter_total(sim, meter, person.customer_id) == ours
    assert all(row.reported_at is not None and row.failed_at is None for row in rows(app))
