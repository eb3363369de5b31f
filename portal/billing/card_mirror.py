"""The local mirror of a tenant's saved cards and default card, so the billing page never waits
on Stripe to show them.

It is kept current three ways: the ``payment_method.*`` and ``customer.updated`` webhooks
(``portal.webhooks.mirror_handlers``), the billing page's own actions (add, remove, make
default: each writes its result here in the same request), and ``flask stripe resync``. A
tenant's mirror is *warm* once its cards and invoices were backfilled from Stripe
(``CustomerMirror.synced_at``); until then the billing page backfills it on its first view.

Only what Stripe shows of a card is stored: brand, last four digits and expiry.
"""

from __future__ import annotations

import sqlalchemy as sa

from portal.db import dialect_insert
from portal.extensions import db
from portal.models import CustomerMirror, PaymentMethodMirror, Tenant, utcnow
from portal.stripe_gateway import StripeCustomer, StripePaymentMethod, get_gateway


def mirror_card(tenant: Tenant, method: StripePaymentMethod) -> None:
    """Store ``method`` as one of ``tenant``'s cards (insert or refresh). The caller commits."""
    if not tenant.stripe_customer_id:
        return
    now = utcnow()
    values = {
        "tenant_id": tenant.id,
        "customer_id": tenant.stripe_customer_id,
        "brand": method.brand,
        "last4": (method.last4 or "")[:4] or None,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "mirrored_at": now,
    }
    insert = dialect_insert(db.session.get_bind(), PaymentMethodMirror.__table__).values(
        id=method.id, created=now, **values
    )
    db.session.execute(insert.on_conflict_do_update(index_elements=["id"], set_=values))


def forget_card(payment_method_id: str) -> None:
    """Drop a card from the mirror (detached at Stripe). The caller commits."""
    db.session.execute(
        sa.delete(PaymentMethodMirror).where(PaymentMethodMirror.id == payment_method_id)
    )


def apply_card(tenant: Tenant | None, method: StripePaymentMethod) -> None:
    """Mirror ``method`` as Stripe has it now: attached to the tenant's customer, it is one of
    its cards; attached elsewhere or to no one, it is no longer any tenant's card here."""
    if (
        tenant is not None
        and tenant.stripe_customer_id
        and (method.customer_id == tenant.stripe_customer_id)
    ):
        mirror_card(tenant, method)
    else:
        forget_card(method.id)


def mirror_default(tenant: Tenant, default_payment_method_id: str | None) -> None:
    """Record the customer's default card. The caller commits."""
    row = _customer_row(tenant)
    if row is not None:
        row.default_payment_method_id = default_payment_method_id


def apply_customer(tenant: Tenant, customer: StripeCustomer) -> None:
    """Mirror what the billing page shows of ``customer`` (a fresh copy from Stripe)."""
    if customer.deleted or customer.id != tenant.stripe_customer_id:
        return
    mirror_default(tenant, customer.default_payment_method_id)
    row = _customer_row(tenant)
    if row is not None:
        row.balance = customer.balance


def refresh_customer(tenant: Tenant) -> None:
    """Re-read the customer after an action that may have moved its balance (a downgrade's
    credit) and mirror it. The caller commits."""
    if tenant.stripe_customer_id:
        apply_customer(tenant, get_gateway().retrieve_customer(tenant.stripe_customer_id))


def credit_cents(tenant: Tenant) -> int:
    """The customer's credit as mirrored (0 when it owes or has none)."""
    row = db.session.get(CustomerMirror, tenant.id)
    return max(0, -int(row.balance)) if row is not None else 0


def backfill_cards(tenant: Tenant) -> int:
    """Replace the tenant's mirrored cards and default with Stripe's; returns how many cards.
    The caller commits."""
    if not tenant.stripe_customer_id:
        return 0
    gateway = get_gateway()
    customer = gateway.retrieve_customer(tenant.stripe_customer_id)
    methods = gateway.list_payment_methods(tenant.stripe_customer_id)
    keep = [method.id for method in methods]
    db.session.execute(
        sa.delete(PaymentMethodMirror).where(
            PaymentMethodMirror.tenant_id == tenant.id, PaymentMethodMirror.id.not_in(keep)
        )
    )
    for method in methods:
        mirror_card(tenant, method)
    apply_customer(tenant, customer)
    return len(methods)


def mark_synced(tenant: Tenant) -> None:
    """The tenant's cards and invoices were just backfilled: its mirror is warm."""
    row = _customer_row(tenant)
    if row is not None:
        row.synced_at = utcnow()


def backfill_billing(tenant: Tenant) -> tuple[int, int]:
    """Fill the tenant's whole billing mirror from Stripe (cards, default, invoices) and mark it
    warm; returns (cards, invoices). The caller commits."""
    from portal.billing.invoice_mirror import backfill_invoices

    cards = backfill_cards(tenant)
    invoices = backfill_invoices(tenant)
    mark_synced(tenant)
    return cards, invoices


def ensure_warm(tenant: Tenant) -> None:
    """Backfill and commit the tenant's mirror if it is cold (its first billing page view, or
    its first since its customer changed); a warm mirror costs no Stripe call. On a Stripe
    failure nothing is kept and the ``PortalError`` propagates."""
    if is_warm(tenant):
        return
    try:
        backfill_billing(tenant)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def is_warm(tenant: Tenant) -> bool:
    """Whether the billing page can be shown from the mirror alone."""
    if not tenant.stripe_customer_id:
        return True  # no customer: no cards and no invoices, nothing to ask Stripe
    row = db.session.get(CustomerMirror, tenant.id)
    return (
        row is not None
        and row.synced_at is not None
        and row.customer_id == (tenant.stripe_customer_id)
    )


def cards_of(tenant: Tenant) -> tuple[list[PaymentMethodMirror], str | None]:
    """The tenant's mirrored cards (oldest first) and its default card's id."""
    if not tenant.stripe_customer_id:
        return [], None
    cards = list(
        db.session.scalars(
            sa.select(PaymentMethodMirror)
            .where(
                PaymentMethodMirror.tenant_id == tenant.id,
                PaymentMethodMirror.customer_id == tenant.stripe_customer_id,
            )
            .order_by(PaymentMethodMirror.created, PaymentMethodMirror.id)
        )
    )
    row = db.session.get(CustomerMirror, tenant.id)
    return cards, row.default_payment_method_id if row else None


def _customer_row(tenant: Tenant) -> CustomerMirror | None:
    """The tenant's customer mirror row, created (race-free) if missing; a row left from an
    earlier customer starts over cold."""
    customer_id = tenant.stripe_customer_id
    if not customer_id:
        return None
    insert = dialect_insert(db.session.get_bind(), CustomerMirror.__table__).values(
        tenant_id=tenant.id, customer_id=customer_id, last_event_created=0, updated_at=utcnow()
    )
    db.session.execute(insert.on_conflict_do_nothing(index_elements=["tenant_id"]))
    row = db.session.get(CustomerMirror, tenant.id, populate_existing=True)
    assert row is not None
    if row.customer_id != customer_id:
        row.customer_id, row.default_payment_method_id, row.synced_at = customer_id, None, None
    return row
