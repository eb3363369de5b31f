"""The console's read side of tenants: the searchable list and everything the detail page shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.admin.contracts import LIMIT_LABELS, LIMIT_NAMES, current_contract, default_limit
from portal.admin.usage_stats import daily_calls, metric_totals
from portal.billing.subscriptions import current_subscription, subscriptions_of
from portal.models import (
    AdminAudit,
    ApiKey,
    EnterpriseContract,
    Invoice,
    Membership,
    StorageUsage,
    StripeEvent,
    Subscription,
    Tenant,
    User,
)
from portal.plans import PricingTier

PER_PAGE = 50
#: The status filter: a tenant's newest subscription's status, or "none" without one.
STATUSES = ("active", "trialing", "past_due", "unpaid", "canceled", "incomplete", "none")
SEARCH_MAX_LENGTH = 254


@dataclass(frozen=True)
class TenantRow:
    id: int
    name: str
    tier: str
    customer_id: str | None
    owner_email: str | None
    status: str | None
    created_at: datetime


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_tenants(
    session: Session, query: str = "", tier: str = "", status: str = "", page: int = 1
) -> tuple[list[TenantRow], int]:
    """One page of tenants matching the search (email, name or Stripe customer id) and the
    filters, newest first, and how many match in all."""
    newest = (
        sa.select(sa.func.max(Subscription.id))
        .where(Subscription.tenant_id == Tenant.id)
        .correlate(Tenant)
        .scalar_subquery()
    )
    owner = (
        sa.select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == Tenant.id)
        .order_by(Membership.id)
        .limit(1)
        .correlate(Tenant)
        .scalar_subquery()
    )
    sub = sa.orm.aliased(Subscription)
    select = sa.select(Tenant, owner.label("owner"), sub.status).outerjoin(sub, sub.id == newest)
    text = query.strip()[:SEARCH_MAX_LENGTH]
    if text:
        pattern = _like(text.lower())
        members = (
            sa.select(Membership.tenant_id)
            .join(User, User.id == Membership.user_id)
            .where(sa.func.lower(User.email).like(pattern, escape="\\"))
        )
        select = select.where(
            sa.or_(
                sa.func.lower(Tenant.name).like(pattern, escape="\\"),
                Tenant.stripe_customer_id == text,
                Tenant.id.in_(members),
            )
        )
    if tier in {t.value for t in PricingTier}:
        select = select.where(Tenant.tier == tier)
    if status == "none":
        select = select.where(sub.id.is_(None))
    elif status in STATUSES:
        select = select.where(sub.status == status)
    total = session.scalar(sa.select(sa.func.count()).select_from(select.subquery())) or 0
    rows = session.execute(
        select.order_by(Tenant.id.desc()).limit(PER_PAGE).offset((max(page, 1) - 1) * PER_PAGE)
    )
    return [
        TenantRow(t.id, t.name, t.tier, t.stripe_customer_id, email, status_, t.created_at)
        for t, email, status_ in rows
    ], int(total)


@dataclass(frozen=True)
class LimitRow:
    name: str
    label: str
    default: int
    override: int | None

    @property
    def effective(self) -> int:
        return self.override if self.override is not None else self.default


@dataclass(frozen=True)
class KeySummary:
    total: int
    active: int
    last_used: datetime | None


@dataclass
class TenantDetail:
    tenant: Tenant
    subscription: Subscription | None
    subscriptions: list[Subscription]
    contract: EnterpriseContract | None
    contracts: list[EnterpriseContract]
    limits: list[LimitRow]
    daily: list[tuple[date, int]]
    totals: dict[str, int]
    storage: StorageUsage | None
    keys: KeySummary
    members: list[tuple[str, str]]
    invoices: list[Invoice]
    events: list[StripeEvent]
    audit: list[AdminAudit]


def limit_rows(tenant: Tenant) -> list[LimitRow]:
    overrides = tenant.limit_overrides or {}
    return [
        LimitRow(name, LIMIT_LABELS[name], default_limit(tenant.tier, name), overrides.get(name))
        for name in LIMIT_NAMES
    ]


def key_summary(session: Session, tenant_id: int) -> KeySummary:
    total, active, last_used = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(ApiKey.revoked_at.is_(None)),
            sa.func.max(ApiKey.last_used_at),
        ).where(ApiKey.tenant_id == tenant_id)
    ).one()
    return KeySummary(int(total), int(active), last_used)


def detail(session: Session, tenant: Tenant, today: date) -> TenantDetail:
    from portal.admin.audit import entries

    first = today - timedelta(days=29)
    members = session.execute(
        sa.select(User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant.id)
        .order_by(Membership.id)
    )
    return TenantDetail(
        tenant=tenant,
        subscription=current_subscription(tenant),
        subscriptions=subscriptions_of(tenant),
        contract=current_contract(tenant.id),
        contracts=list(
            session.scalars(
                sa.select(EnterpriseContract)
                .where(EnterpriseContract.tenant_id == tenant.id)
                .order_by(EnterpriseContract.id.desc())
            )
        ),
        limits=limit_rows(tenant),
        daily=daily_calls(session, tenant.id, first, today),
        totals=metric_totals(session, tenant.id, first, today),
        storage=session.get(StorageUsage, tenant.id),
        keys=key_summary(session, tenant.id),
        members=[(email, role) for email, role in members],
        invoices=list(
            session.scalars(
                sa.select(Invoice)
                .where(Invoice.tenant_id == tenant.id)
                .order_by(Invoice.created.desc())
                .limit(24)
            )
        ),
        events=list(
            session.scalars(
                sa.select(StripeEvent)
                .where(StripeEvent.tenant_id == tenant.id)
                .order_by(StripeEvent.created.desc())
                .limit(50)
            )
        ),
        audit=entries(tenant.id, limit=50),
    )
