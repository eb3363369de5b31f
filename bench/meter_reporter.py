"""(d) The overage reporter: meter events per second into the Stripe simulator, and the lag from
an admitted overage call to its report.

Run from the repository root: ``.venv/bin/python -m bench.meter_reporter``. Part 1 writes outbox
rows for 50 customers straight into SQL (as the usage flush would) and times one reporter sending
them all (8 workers, at most 1,000 calls/s, one call at a time per customer), then checks the
simulator's meter holds exactly our count. Part 2 runs the reporter thread (every
METER_REPORT_SECONDS, 2 s here) and measures, per call, the time from admission to Stripe
accepting its report: admitted through the enforcement runtime when it bills overage (calls
past a Pro quota of 0), else from the outbox row's write, plus the flush interval it waited.
"""

from __future__ import annotations

import statistics
import time

import sqlalchemy as sa

from bench.harness import bench_config, throwaway_database
from portal import create_app
from portal.billing.meter_reporter import MeterReporter, ReporterSettings
from portal.extensions import db
from portal.models import MeterReport, Subscription, Tenant, utcnow
from portal.plans import OVERAGE_METER_EVENT_NAME
from portal.stripe_gateway import gateway_for
from stripe_sim.testing import SimulatorProcess

CUSTOMERS, ROWS_PER_CUSTOMER = 50, 60
LAG_SECONDS, REPORT_INTERVAL = 12.0, 2.0


def main() -> None:
    with SimulatorProcess() as sim:
        app = create_app(
            bench_config(
                throwaway_database(),
                STRIPE_SECRET_KEY=sim.api_key,
                STRIPE_API_BASE=sim.url,
                USAGE_FLUSH_SECONDS=1.0,
            )
        )
        with app.app_context():
            meter = _meter(app)
            tenants = _customers(app, sim)
            throughput(app, sim, meter, tenants)
            lag(app)


def _meter(app: object) -> str:
    gateway = gateway_for(app)  # type: ignore[arg-type]
    found = gateway.find_meter(OVERAGE_METER_EVENT_NAME) or gateway.create_meter(
        display_name="CONTINUUM API calls over quota",
        event_name=OVERAGE_METER_EVENT_NAME,
        customer_key="stripe_customer_id",
        value_key="value",
    )
    return found.id


def _customers(app: object, sim: SimulatorProcess) -> list[tuple[int, str]]:
    client = sim.client()
    made = []
    for n in range(CUSTOMERS):
        customer = client.v1.customers.create({"name": f"bench {n}"})
        tenant = Tenant(name=f"bench {n}", tier="pro", stripe_customer_id=customer.id)
        db.session.add(tenant)
        db.session.flush()
        made.append((tenant.id, customer.id))
    db.session.commit()
    return made


def throughput(app: object, sim: SimulatorProcess, meter: str, tenants: list) -> None:
    now = int(time.time()) - 60
    db.session.execute(
        sa.insert(MeterReport),
        [
            {"tenant_id": t, "period_start": now - 3600, "quantity": 1 + n % 7, "event_time": now}
            for t, _ in tenants
            for n in range(ROWS_PER_CUSTOMER)
        ],
    )
    db.session.commit()
    reporter = MeterReporter(gateway_for(app), ReporterSettings(), app=app)  # type: ignore[arg-type]
    started = time.perf_counter()
    result = reporter.report_once()
    seconds = time.perf_counter() - started
    client = sim.client()
    end = (int(time.time()) // 60 + 1) * 60
    at_stripe = 0
    for _, customer in tenants:
        summaries = client.v1.billing.meters.event_summaries.list(
            meter, {"customer": customer, "start_time": end - 86400, "end_time": end}
        )
        at_stripe += int(sum(s.aggregated_value for s in summaries.data))
    ours = db.session.scalar(sa.select(sa.func.sum(MeterReport.quantity))) or 0
    print(f"(d) meter reporter against the simulator ({CUSTOMERS} customers, SQLite outbox)")
    print(f"  meter events sent                    {result.rows:9d} in {seconds:.2f} s")
    print(f"  meter events per second              {result.rows / seconds:9.0f}")
    print(f"  simulator's meter == our outbox      {at_stripe == ours!s:>9} ({ours} calls)")


def lag(app: object) -> None:
    import portal.enforcement as enforcement_api

    reporter = MeterReporter(
        gateway_for(app),  # type: ignore[arg-type]
        ReporterSettings(interval_seconds=REPORT_INTERVAL),
        app=app,  # type: ignore[arg-type]
    )
    reporter.start()
    if hasattr(enforcement_api, "OVERAGE_CALLS"):
        lags, how = _admitted_lags(app), "admitted overage call -> accepted by Stripe"
    else:
        lags, how = _outbox_lags(), "outbox row written -> accepted by Stripe (+ flush, <= 1 s)"
    reporter.stop()
    print(f"  lag, {how}, reporter every {REPORT_INTERVAL:.0f} s, flush every 1 s:")
    median, worst = statistics.median(lags), max(lags)
    print(f"    median {median:5.2f} s   max {worst:5.2f} s   ({len(lags)} calls)")


def _outbox_lags() -> list[float]:
    """Rows written once a second, as the flush writes them; each row's write-to-report time."""
    tenant_id = db.session.scalar(sa.select(Tenant.id).limit(1))
    written: list[int] = []
    deadline = time.monotonic() + LAG_SECONDS
    while time.monotonic() < deadline:
        row = MeterReport(
            tenant_id=tenant_id, period_start=0, quantity=1, event_time=int(time.time())
        )
        db.session.add(row)
        db.session.commit()
        written.append(row.id)
        time.sleep(1.0)
    return _wait_reported(written)


def _wait_reported(ids: list[int]) -> list[float]:
    deadline = time.monotonic() + REPORT_INTERVAL * 3 + 10
    while time.monotonic() < deadline:
        db.session.expire_all()
        rows = db.session.scalars(sa.select(MeterReport).where(MeterReport.id.in_(ids))).all()
        if all(row.reported_at for row in rows):
            return [(r.reported_at - r.created_at).total_seconds() for r in rows]  # type: ignore[operator]
        time.sleep(0.1)
    raise SystemExit("the reporter did not report every row in time")


def _admitted_lags(app: object) -> list[float]:
    """A Pro tenant given a quota of 0 and overage on: every call it makes is billed overage."""
    from portal.enforcement import enforcement_for

    enforcement = enforcement_for(app)  # type: ignore[arg-type]
    tenant = db.session.scalars(sa.select(Tenant).order_by(Tenant.id)).first()
    assert tenant is not None
    tenant.limit_overrides = {"api_calls_per_day": 0, "api_calls_per_minute": 10**6}
    tenant.overage_enabled, tenant.overage_cap_cents = True, 1_000_000
    start = utcnow()
    db.session.add(
        Subscription(
            tenant_id=tenant.id,
            stripe_subscription_id="sub_bench_lag",
            status="active",
            tier="pro",
            current_period_start=start,
            current_period_end=start.replace(year=start.year + 1),
        )
    )
    db.session.commit()
    first_row = db.session.scalar(sa.select(sa.func.max(MeterReport.id))) or 0
    admitted: list[float] = []
    deadline = time.monotonic() + LAG_SECONDS
    while time.monotonic() < deadline:
        policy = enforcement.directory.policy(tenant.id)
        assert policy is not None
        decision, admission = enforcement.admit(policy, ("api_calls",))
        assert admission is not None and admission.billed, decision
        if admission.lease is not None:
            enforcement.release(tenant.id, admission.lease)
        admitted.append(time.time())
        time.sleep(0.25)
    wait_until = time.monotonic() + REPORT_INTERVAL * 3 + 10
    while time.monotonic() < wait_until:
        db.session.expire_all()
        rows = db.session.scalars(
            sa.select(MeterReport)
            .where(MeterReport.tenant_id == tenant.id, MeterReport.id > first_row)
            .order_by(MeterReport.id)
        ).all()
        if sum(r.quantity for r in rows) == len(admitted) and all(r.reported_at for r in rows):
            break
        time.sleep(0.1)
    else:
        raise SystemExit("the admitted calls were not all reported in time")
    lags = []
    for moment in admitted:
        row = next(r for r in rows if r.created_at.timestamp() >= moment)
        lags.append(row.reported_at.timestamp() - moment)  # type: ignore[union-attr]
    return lags


if __name__ == "__main__":
    main()
