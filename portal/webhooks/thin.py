"""Thin events from Stripe's event destination: the Billing Meter's error reports.

Stripe accepts a meter event first and validates some of it later (an unknown customer, a
meter that is gone); what it then drops it reports as ``v1.billing.meter.error_report_triggered``
or ``v1.billing.meter.no_meter_found``. We log each at error level with what it says and mark
the outbox rows it names (by the meter event's identifier, which our reporter also sends as the
request's idempotency key) as refused, so our ledger says the calls were not billed.
"""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa

from portal.extensions import db
from portal.models import MeterReport, Tenant, utcnow
from portal.stripe_gateway import MeterErrorReport, ThinEvent, get_gateway
from portal.webhooks import events

log = logging.getLogger("continuum.billing.meter")

#: The thin event types this endpoint acts on (any other is acknowledged and logged).
METER_ERROR_EVENTS = frozenset(
    {"v1.billing.meter.error_report_triggered", "v1.billing.meter.no_meter_found"}
)
#: ``MeterReport.identifier``: ovg_{customer}_{period start}_{row id}.
_IDENTIFIER = re.compile(r"^ovg_(?P<customer>cus_\w+?)_(?P<period>\d+)_(?P<row>\d+)$")


def handle(event: ThinEvent) -> bool:
    """Record and act on one verified thin event; False when it was already processed."""
    if not events.claim(event):
        db.session.rollback()
        log.info("thin event %s (%s): duplicate, already processed", event.id, event.type)
        return False
    if event.type in METER_ERROR_EVENTS:
        _meter_error(event)
    else:
        log.info("thin event %s: %s is not handled; acknowledged", event.id, event.type)
    events.mark_processed(event)
    db.session.commit()
    return True


def _meter_error(event: ThinEvent) -> None:
    report = get_gateway().retrieve_meter_error(event.id)
    meter = event.related_object_id or "-"
    if report is None:
        log.error("meter error event %s (%s) on meter %s", event.id, event.type, meter)
        return
    log.error(
        "meter error event %s (%s) on meter %s: %s (%s errors, %s to %s): %s",
        event.id,
        event.type,
        meter,
        report.summary,
        report.error_count,
        report.validation_start,
        report.validation_end,
        "; ".join(_describe(report)),
    )
    _mark_refused(report)


def _describe(report: MeterErrorReport) -> list[str]:
    return [
        f"{kind.code} x{kind.count}"
        + "".join(f" [{identifier}: {message}]" for message, identifier in kind.samples)
        for kind in report.errors
    ]


def _mark_refused(report: MeterErrorReport) -> None:
    """Mark the outbox rows the report names as refused by Stripe (not billed)."""
    now = utcnow()
    for kind in report.errors:
        for message, identifier in kind.samples:
            match = _IDENTIFIER.match(identifier or "")
            if match is None:
                continue
            owner = sa.select(Tenant.id).where(Tenant.stripe_customer_id == match["customer"])
            updated = db.session.execute(
                sa.update(MeterReport)
                .where(
                    MeterReport.id == int(match["row"]),
                    MeterReport.period_start == int(match["period"]),
                    MeterReport.tenant_id.in_(owner.scalar_subquery()),
                    MeterReport.failed_at.is_(None),
                )
                .values(failed_at=now, last_error=f"{kind.code}: {message}"[:2000])
            )
            if updated.rowcount:  # type: ignore[attr-defined]
                log.error("meter report %s was dropped by Stripe: %s", match["row"], kind.code)
