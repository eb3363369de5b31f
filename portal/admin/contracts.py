"""Staff actions on a tenant: enterprise contracts, limit overrides, the return to the Free/Pro
rules, a resync from Stripe and revoking every key. The console and ``flask tenants`` both
call these.

Each action changes the tenant through the ORM and commits once, with its audit row: the
enforcement directory hears of the commit (``portal.enforcement.directory``), drops its cached
entry in this process and bumps the tenant's generation for every other process, and re-reads
any tenant within 2 s regardless, so the API enforces the change within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa

from portal.admin import audit
from portal.admin.audit import Actor
from portal.errors import PortalError
from portal.extensions import db
from portal.models import ApiKey, EnterpriseContract, Tenant, utcnow
from portal.plans import TIER_LIMITS, PricingTier

#: The limits a contract can override, in the order forms and tables list them.
LIMIT_NAMES = (
    "api_calls_per_day",
    "api_calls_per_minute",
    "memories",
    "storage_mb",
    "concurrent_requests",
)
LIMIT_LABELS = {
    "api_calls_per_day": "API calls per day",
    "api_calls_per_minute": "API calls per minute",
    "memories": "Memories",
    "storage_mb": "Storage (MB)",
    "concurrent_requests": "Concurrent requests",
}
#: Bounds on what staff may type: anything larger is a typo, not a contract.
MAX_LIMIT = 10**12
MAX_PRICE_MONTH_CENTS = 100_000_000  # $1,000,000 a month
REASON_MAX_LENGTH = 500
NOTES_MAX_LENGTH = 5000


@dataclass(frozen=True)
class ContractTerms:
    """What staff agreed with the customer."""

    price_month_cents: int
    starts_on: date
    ends_on: date | None = None
    notes: str = ""
    overrides: dict[str, int] = field(default_factory=dict)


def check_overrides(overrides: dict[str, int]) -> dict[str, int]:
    """The overrides, checked: known limit names, whole numbers from 1 to ``MAX_LIMIT``."""
    for name, value in overrides.items():
        if name not in LIMIT_NAMES:
            raise PortalError(f"{name!r} is not a limit a contract can override.")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
            raise PortalError(
                f"{LIMIT_LABELS[name]} must be a whole number from 1 to {MAX_LIMIT:,}."
            )
    return dict(overrides)


def check_terms(terms: ContractTerms) -> ContractTerms:
    if not 0 <= terms.price_month_cents <= MAX_PRICE_MONTH_CENTS:
        raise PortalError("The monthly price must be between $0 and $1,000,000.")
    if terms.ends_on is not None and terms.ends_on < terms.starts_on:
        raise PortalError("The contract cannot end before it starts.")
    if len(terms.notes) > NOTES_MAX_LENGTH:
        raise PortalError(f"Notes are limited to {NOTES_MAX_LENGTH:,} characters.")
    check_overrides(terms.overrides)
    return terms


def current_contract(tenant_id: int) -> EnterpriseContract | None:
    """The contract term in force (not replaced), if any."""
    return db.session.scalar(
        sa.select(EnterpriseContract)
        .where(EnterpriseContract.tenant_id == tenant_id, EnterpriseContract.replaced_at.is_(None))
        .order_by(EnterpriseContract.id.desc())
        .limit(1)
    )


def tenant_state(tenant: Tenant) -> dict[str, Any]:
    """What the audit log keeps of a tenant before and after an action."""
    contract = current_contract(tenant.id)
    state: dict[str, Any] = {"tier": tenant.tier, "limit_overrides": tenant.limit_overrides}
    if contract is not None:
        state["contract"] = {
            "price_month_cents": contract.price_month_cents,
            "starts_on": contract.starts_on,
            "ends_on": contract.ends_on,
            "notes": contract.notes,
        }
    return state


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def make_enterprise(tenant: Tenant, terms: ContractTerms, actor: Actor) -> EnterpriseContract:
    """Put ``tenant`` on an enterprise contract, or replace its contract's terms."""
    check_terms(terms)
    before = tenant_state(tenant)
    now = utcnow()
    previous = current_contract(tenant.id)
    if previous is not None:
        previous.replaced_at = now
    # A new contract counts from its start date; an edited one from now (the old price held
    # until the edit), so revenue history keeps both.
    effective_from = midnight(terms.starts_on)
    if previous is not None:
        effective_from = max(effective_from, now)
    contract = EnterpriseContract(
        tenant_id=tenant.id,
        price_month_cents=terms.price_month_cents,
        starts_on=terms.starts_on,
        ends_on=terms.ends_on,
        notes=terms.notes,
        limit_overrides=dict(terms.overrides) or None,
        effective_from=effective_from,
        created_by=actor.label[:254],
    )
    db.session.add(contract)
    tenant.set_tier(PricingTier.ENTERPRISE)
    tenant.set_limit_overrides(terms.overrides)
    db.session.flush()
    action = "contract.changed" if previous is not None else "tenant.made_enterprise"
    audit.record(actor, action, tenant_id=tenant.id, before=before, after=tenant_state(tenant))
    db.session.commit()
    return contract


def set_limits(tenant: Tenant, overrides: dict[str, int], actor: Actor) -> None:
    """Replace an enterprise tenant's limit overrides (an empty dict: the tier's limits)."""
    if tenant.tier != PricingTier.ENTERPRISE.value:
        raise PortalError(
            "Limit overrides come with an enterprise contract: make the tenant Enterprise first."
        )
    check_overrides(overrides)
    before = tenant_state(tenant)
    tenant.set_limit_overrides(overrides)
    contract = current_contract(tenant.id)
    if contract is not None:
        contract.limit_overrides = dict(overrides) or None
    db.session.flush()
    audit.record(
        actor, "limits.changed", tenant_id=tenant.id, before=before, after=tenant_state(tenant)
    )
    db.session.commit()


def return_to_standard_rules(tenant: Tenant, actor: Actor) -> PricingTier:
    """End the contract and drop the overrides; the tier follows the tenant's subscriptions
    again (Pro while one pays for it, else Free). Returns the new tier."""
    from portal.billing.subscriptions import refresh_tenant_tier

    before = tenant_state(tenant)
    contract = current_contract(tenant.id)
    if contract is None and tenant.tier != PricingTier.ENTERPRISE.value:
        raise PortalError("This tenant already follows the Free/Pro rules.")
    if contract is not None:
        contract.replaced_at = utcnow()
    tenant.set_limit_overrides(None)
    tenant.set_tier(PricingTier.FREE)
    tier = refresh_tenant_tier(tenant)
    db.session.flush()
    audit.record(
        actor,
        "tenant.standard_rules",
        tenant_id=tenant.id,
        before=before,
        after=tenant_state(tenant),
    )
    db.session.commit()
    return tier


def revoke_all_keys(tenant: Tenant, reason: str, actor: Actor) -> int:
    """Revoke every active key of ``tenant``; ``reason`` goes into the audit log. Returns how
    many keys were revoked."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise PortalError("Say why the keys are revoked; the reason goes into the audit log.")
    if len(reason) > REASON_MAX_LENGTH:
        raise PortalError(f"Keep the reason under {REASON_MAX_LENGTH} characters.")
    keys = list(
        db.session.scalars(
            sa.select(ApiKey).where(ApiKey.tenant_id == tenant.id, ApiKey.revoked_at.is_(None))
        )
    )
    now = datetime.now(UTC)
    for key in keys:
        key.revoked_at = now
    audit.record(
        actor,
        "keys.revoked_all",
        tenant_id=tenant.id,
        before={"active_keys": [key.prefix for key in keys]},
        after={"active_keys": []},
        reason=reason,
    )
    db.session.commit()
    return len(keys)


def resync_from_stripe(tenant: Tenant, actor: Actor) -> dict[str, Any]:
    """Re-read the tenant's subscriptions and invoices from Stripe (after missed webhooks)."""
    from portal.billing.invoice_mirror import backfill_invoices
    from portal.billing.subscriptions import resync_tenant

    if not tenant.stripe_customer_id:
        raise PortalError("This tenant has no Stripe customer yet: there is nothing to resync.")
    before = tenant_state(tenant)
    results = resync_tenant(tenant)  # commits the subscriptions
    invoices = backfill_invoices(tenant)
    after = tenant_state(tenant) | {
        "subscriptions": {
            r.subscription.stripe_subscription_id: r.subscription.status for r in results
        },
        "invoices_mirrored": invoices,
    }
    audit.record(actor, "tenant.resynced", tenant_id=tenant.id, before=before, after=after)
    db.session.commit()
    return after


def default_limit(tier: str, name: str) -> int:
    """The tier's own value of limit ``name``."""
    value: int = getattr(TIER_LIMITS[PricingTier(tier)], name)
    return value
