"""Usage alerts by email: at 80% and 100% of the daily call quota (once per UTC day) and at
50%, 80% and 100% of the overage spend cap (once per usage period).

``send_due_alerts`` is safe to call every few seconds from any number of processes. Each alert
is claimed by inserting its ``usage_alert`` row (tenant, alert, period) and committing; only the
process whose insert landed sends, after that commit, and then sets ``sent_at``. A send that
fails deletes its claim so a later pass retries; a claim left unsent by a process that died is
taken over after ``STALE_CLAIM``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from portal.billing import alert_mail
from portal.db import dialect_insert
from portal.extensions import db
from portal.mail import MailError, send_email
from portal.models import Membership, Tenant, UsageAlert, UsageCounter, User
from portal.plans import TIER_LIMITS, PricingTier, get_tier_limits

log = logging.getLogger("continuum.alerts")

#: The usage_counter metrics the alerts read (written by the enforcement usage flush).
CALLS_METRIC = "api_calls"
OVERAGE_METRIC = "api_calls_overage"
#: Who gets usage alerts: the people who pay.
ALERT_ROLES = ("owner", "billing")
#: A claim this old without ``sent_at`` belongs to a process that died before sending.
STALE_CLAIM = timedelta(minutes=5)


class Alert(StrEnum):
    """One alert, named as ``usage_alert.alert`` and ``Tenant.alerts_off`` store it."""

    DAILY_80 = "daily_80"
    DAILY_100 = "daily_100"
    CAP_50 = "cap_50"
    CAP_80 = "cap_80"
    CAP_100 = "cap_100"

    @property
    def percent(self) -> int:
        return int(self.value.rpartition("_")[2])

    @property
    def on_cap(self) -> bool:
        """A spend-cap alert (once per usage period), not a daily-quota one."""
        return self.value.startswith("cap_")

    @property
    def label(self) -> str:
        return f"{self.percent}% of the {'monthly spend cap' if self.on_cap else 'daily quota'}"


DAILY_ALERTS = (Alert.DAILY_80, Alert.DAILY_100)
CAP_ALERTS = (Alert.CAP_50, Alert.CAP_80, Alert.CAP_100)


# --- settings ----------------------------------------------------------------------------------


def alerts_on(tenant: Tenant) -> set[Alert]:
    """The alerts the tenant gets (all of them unless switched off)."""
    off = set(tenant.alerts_off or ())
    return {alert for alert in Alert if alert.value not in off}


def set_alerts_on(tenant: Tenant, on: Iterable[Alert], offered: Iterable[Alert]) -> None:
    """Switch the ``offered`` alerts to ``on``/off; alerts not offered keep their setting."""
    offered, on = set(offered), set(on)
    known = {alert.value for alert in Alert}
    off = {name for name in tenant.alerts_off or () if name in known}
    off = (off - {alert.value for alert in offered}) | {alert.value for alert in offered - on}
    tenant.alerts_off = sorted(off) or None


def alert_recipients(tenant_id: int) -> list[str]:
    """Where a tenant's usage alerts go: its owners and billing members, oldest first."""
    return list(
        db.session.scalars(
            sa.select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == tenant_id, Membership.role.in_(ALERT_ROLES))
            .order_by(Membership.id)
        )
    )


def daily_period(day: date) -> str:
    """A daily-quota alert's ``usage_alert.period``: the UTC day, ``2026-11-28``."""
    return day.isoformat()


def cap_period(period_start: datetime) -> str:
    """A spend-cap alert's ``usage_alert.period``: the usage period's start, ``p1764288000``."""
    return f"p{int(period_start.timestamp())}"


# --- what is due ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DueAlert:
    """An alert whose threshold is passed, with the numbers its mail reports."""

    tenant_id: int
    alert: Alert
    period: str
    mail: alert_mail.AlertMail


def send_due_alerts(now: datetime) -> int:
    """Send every alert that is due and not yet sent; returns how many this call sent.

    Needs an app context (the database session and the mail settings).
    """
    now = now.astimezone(UTC)
    due = [*_daily_due(now), *_cap_due(now)]
    return sum(1 for alert in _not_yet_logged(due, now) if _deliver(alert, now))


def _has_overrides() -> sa.ColumnElement[bool]:
    """A contract's limit overrides are set (SQL NULL, JSON ``null`` and ``{}`` are not)."""
    stored = sa.func.coalesce(sa.cast(Tenant.limit_overrides, sa.Text), "null")
    return stored.notin_(["null", "{}"])


def _daily_floor() -> sa.ColumnElement[int]:
    """The fewest calls today that can be due an alert on each tier's own quota."""
    lowest = min(alert.percent for alert in DAILY_ALERTS)
    floors = {
        tier.value: limits.api_calls_per_day * lowest // 100 for tier, limits in TIER_LIMITS.items()
    }
    return sa.case(
        floors,
        value=Tenant.tier,
        else_=0,
    )


def _daily_due(now: datetime) -> Iterator[DueAlert]:
    """Quota alerts: today's call counters past a threshold, from tenants not yet told of 100%.

    One range read of today's ``api_calls`` rows (index ``ix_usage_counter_day_metric``), cut
    in SQL to the counters near their tier's quota (contracts with overrides are checked here).
    """
    today = now.date()
    period = daily_period(today)
    told_full = (
        sa.select(UsageAlert.tenant_id)
        .where(
            UsageAlert.tenant_id == Tenant.id,
            UsageAlert.alert == Alert.DAILY_100.value,
            UsageAlert.period == period,
        )
        .exists()
    )
    rows = db.session.execute(
        sa.select(
            Tenant.id,
            Tenant.name,
            Tenant.tier,
            Tenant.limit_overrides,
            Tenant.alerts_off,
            Tenant.overage_enabled,
            Tenant.overage_cap_cents,
            UsageCounter.value,
        )
        .join(Tenant, Tenant.id == UsageCounter.tenant_id)
        .where(
            UsageCounter.day == today,
            UsageCounter.metric == CALLS_METRIC,
            sa.or_(UsageCounter.value >= _daily_floor(), _has_overrides()),
            ~told_full,
        )
    ).all()
    for row in rows:
        quota = get_tier_limits(row.tier, row.limit_overrides).api_calls_per_day
        off = set(row.alerts_off or ())
        overage = row.tier == PricingTier.PRO and row.overage_enabled
        for alert in DAILY_ALERTS:
            if alert.value in off or int(row.value) * 100 < quota * alert.percent:
                continue
            mail = alert_mail.daily_quota(
                alert.percent,
                alert.label,
                tenant_name=row.name,
                tier=PricingTier(row.tier),
                calls=int(row.value),
                quota=quota,
                now=now,
                overage_cap_cents=row.overage_cap_cents if overage else None,
            )
            yield DueAlert(row.id, alert, period, mail)


def _cap_due(now: datetime) -> Iterator[DueAlert]:
    """Spend-cap alerts: Pro tenants with overage on that made overage calls today or yesterday
    (a period's last calls before midnight may be flushed after it), against their period."""
    from portal.billing.overage import period_summary

    days = (now.date() - timedelta(days=1), now.date())
    with_overage = sa.select(UsageCounter.tenant_id).where(
        UsageCounter.day.in_(days), UsageCounter.metric == OVERAGE_METRIC
    )
    tenants = db.session.scalars(
        sa.select(Tenant).where(
            Tenant.id.in_(with_overage),
            Tenant.tier == PricingTier.PRO.value,
            Tenant.overage_enabled.is_(True),
        )
    ).all()
    for tenant in tenants:
        summary = period_summary(tenant, now)
        if not summary.enabled or summary.cap_calls <= 0:
            continue
        on = alerts_on(tenant)
        period = cap_period(summary.period_start)
        for alert in CAP_ALERTS:
            if alert not in on or summary.calls * 100 < summary.cap_calls * alert.percent:
                continue
            mail = alert_mail.spend_cap(alert.percent, alert.label, tenant.name, summary, now)
            yield DueAlert(tenant.id, alert, period, mail)


def _not_yet_logged(due: list[DueAlert], now: datetime) -> Iterator[DueAlert]:
    """Drop alerts already sent or being sent, with one read of their log rows."""
    if not due:
        return
    keys = {(d.tenant_id, d.alert.value, d.period) for d in due}
    logged: dict[tuple[int, str, str], Any] = {
        (row.tenant_id, row.alert, row.period): row
        for row in db.session.execute(
            sa.select(
                UsageAlert.tenant_id,
                UsageAlert.alert,
                UsageAlert.period,
                UsageAlert.sent_at,
                UsageAlert.created_at,
            ).where(
                UsageAlert.tenant_id.in_({tenant for tenant, _, _ in keys}),
                UsageAlert.period.in_({period for _, _, period in keys}),
            )
        )
    }
    db.session.commit()  # end the read, so each claim below is its own short transaction
    for alert in due:
        row = logged.get((alert.tenant_id, alert.alert.value, alert.period))
        if row is None or (row.sent_at is None and row.created_at < now - STALE_CLAIM):
            yield alert


# --- claim, send, mark ----------------------------------------------------------------------


def _key(alert: DueAlert) -> sa.ColumnElement[bool]:
    return sa.and_(
        UsageAlert.tenant_id == alert.tenant_id,
        UsageAlert.alert == alert.alert.value,
        UsageAlert.period == alert.period,
    )


def _changed(statement: sa.Executable) -> int:
    """Run a DELETE or UPDATE in the session; how many rows it changed."""
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return int(result.rowcount)  # type: ignore[attr-defined]


def _claim(alert: DueAlert, now: datetime) -> list[str] | None:
    """Insert the alert's log row (or take over a stale one) and commit.

    Returns the recipients when the claim is ours, else None. They are read before the commit,
    so no transaction stays open while the mail is sent. RETURNING says whether a row was
    written (psycopg reports no row count for an INSERT that may do nothing).
    """
    insert = dialect_insert(db.session.get_bind(), UsageAlert.__table__).values(
        tenant_id=alert.tenant_id, alert=alert.alert.value, period=alert.period, created_at=now
    )
    returning = insert.on_conflict_do_nothing().returning(UsageAlert.__table__.c.tenant_id)
    claimed = db.session.execute(returning).first() is not None
    if not claimed:
        stale = sa.update(UsageAlert).where(
            _key(alert), UsageAlert.sent_at.is_(None), UsageAlert.created_at < now - STALE_CLAIM
        )
        claimed = _changed(stale.values(created_at=now)) == 1
    recipients = alert_recipients(alert.tenant_id) if claimed else None
    db.session.commit()
    return recipients


def _deliver(alert: DueAlert, now: datetime) -> bool:
    """Claim, send after the commit, then mark sent; a failed send gives the claim back."""
    recipients = _claim(alert, now)
    if recipients is None:
        return False
    if not recipients:
        log.warning("tenant %s has no one to alert; %s not sent", alert.tenant_id, alert.alert)
    try:
        if recipients:
            send_email(", ".join(recipients), alert.mail.subject, alert.mail.body)
    except MailError:
        mine = sa.delete(UsageAlert).where(
            _key(alert), UsageAlert.sent_at.is_(None), UsageAlert.created_at == now
        )
        _changed(mine)
        db.session.commit()
        return False
    _changed(sa.update(UsageAlert).where(_key(alert)).values(sent_at=now))
    db.session.commit()
    log.info("sent %s (%s) to tenant %s", alert.alert, alert.period, alert.tenant_id)
    return bool(recipients)
