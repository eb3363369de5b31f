"""The local invoice mirror: Stripe invoices as the webhooks (finalized, paid, payment_failed)
and ``flask stripe resync`` report them, so pages and analytics never call Stripe to list them.

Deliveries arrive in any order and more than once. A status only moves forward (draft, open,
uncollectible, then paid or void), so a late ``invoice.finalized`` never reopens a paid invoice,
and the attempt count only grows.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa

from portal.db import dialect_insert
from portal.extensions import db
from portal.models import Invoice, Tenant, utcnow
from portal.stripe_gateway import StripeInvoice, get_gateway

#: How far along its life an invoice status is; a mirror row never moves back.
_STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}
#: The most invoices a backfill reads per customer (Stripe's largest page).
BACKFILL_LIMIT = 100


def _rank(column: Any) -> Any:
    """``_STATUS_RANK`` in SQL, for a status column (unknown or NULL: -1)."""
    return sa.case(_STATUS_RANK, value=column, else_=-1)


def mirror_invoice(tenant: Tenant | int, remote: StripeInvoice) -> str | None:
    """Write ``remote`` into the mirror for ``tenant`` (or a tenant id: the webhook intake
    does not load the tenant for this); returns its id (None for a preview, which has no id).
    The caller commits.

    One upsert, race-free: a new invoice is inserted; a stored one is updated only if ``remote``
    is not older (its status ranks at least as far), keeping the larger attempt count and the
    first paid time.
    """
    if not remote.id:
        return None
    now = utcnow()
    paid = remote.status == "paid"
    params = {
        **_values(remote),
        "id": remote.id,
        "tenant_id": tenant if isinstance(tenant, int) else tenant.id,
        "created": remote.created or now,
        "mirrored_at": now,
        "paid_at": (remote.paid_at or now) if paid else None,
        "paid_first_attempt": remote.attempt_count <= 1 if paid else None,
        "b_paid": paid,
        "b_remote_created": remote.created,
        "b_remote_paid_at": remote.paid_at,
    }
    connection = db.session.connection()
    statement = _UPSERTS.get(connection.dialect.name)
    if statement is None:
        statement = _UPSERTS[connection.dialect.name] = _upsert(connection)
    connection.execute(statement, params)
    return remote.id


#: The mirror's upsert, per dialect name: built once (the webhook intake runs it per event).
_UPSERTS: dict[str, sa.Executable] = {}


def _upsert(connection: sa.Connection) -> sa.Executable:
    """``mirror_invoice``'s statement, every value a bound parameter; ``b_paid``,
    ``b_remote_created`` and ``b_remote_paid_at`` steer the update of an existing row."""
    table = cast(sa.Table, Invoice.__table__)
    columns = [*_values_columns(), "id", "tenant_id", "created", "mirrored_at"]
    columns += ["paid_at", "paid_first_attempt"]
    insert = dialect_insert(connection, table).values(
        {name: sa.bindparam(name, type_=table.c[name].type) for name in columns}
    )
    stored, new = table.c, insert.excluded
    attempts = sa.case(
        (stored.attempt_count > new.attempt_count, stored.attempt_count),
        else_=new.attempt_count,
    )
    paid = sa.bindparam("b_paid", type_=sa.Boolean)
    remote_paid_at = sa.bindparam("b_remote_paid_at", type_=stored.paid_at.type)
    update: dict[str, Any] = {
        **{name: getattr(new, name) for name in _values_columns()},
        "tenant_id": new.tenant_id,
        "attempt_count": attempts,
        # A copy with fewer charge attempts is older: it does not move the next retry back.
        "next_payment_attempt": sa.case(
            (stored.attempt_count > new.attempt_count, stored.next_payment_attempt),
            else_=new.next_payment_attempt,
        ),
        "mirrored_at": new.mirrored_at,
        # Stripe's created time when the copy has one.
        "created": sa.func.coalesce(
            sa.bindparam("b_remote_created", type_=stored.created.type), stored.created
        ),
        # Paid: Stripe's paid time when it gives one, else the first time we saw it paid.
        "paid_at": sa.case(
            (paid, sa.func.coalesce(remote_paid_at, stored.paid_at, new.paid_at)),
            else_=stored.paid_at,
        ),
        "paid_first_attempt": sa.case((paid, attempts <= 1), else_=stored.paid_first_attempt),
    }
    return insert.on_conflict_do_update(
        index_elements=["id"], set_=update, where=_rank(stored.status) <= _rank(new.status)
    )


def _values_columns() -> list[str]:
    return [
        "customer_id",
        "subscription_id",
        "number",
        "status",
        "currency",
        "amount_due",
        "amount_paid",
        "total",
        "period_start",
        "period_end",
        "attempt_count",
        "next_payment_attempt",
        "hosted_invoice_url",
        "invoice_pdf",
        "lines",
    ]


def _values(remote: StripeInvoice) -> dict[str, Any]:
    """The columns a newer copy of the invoice overwrites as they are."""
    return {
        "customer_id": remote.customer_id,
        "subscription_id": remote.subscription_id,
        "number": remote.number,
        "status": remote.status,
        "currency": remote.currency,
        "amount_due": remote.amount_due,
        "amount_paid": remote.amount_paid,
        "total": remote.total,
        "period_start": remote.period_start,
        "period_end": remote.period_end,
        "attempt_count": remote.attempt_count,
        "next_payment_attempt": remote.next_payment_attempt,
        "hosted_invoice_url": remote.hosted_invoice_url,
        "invoice_pdf": remote.invoice_pdf,
        "lines": [
            {"description": line.description, "amount": line.amount, "proration": line.proration}
            for line in remote.lines
        ],
    }


def backfill_invoices(tenant: Tenant) -> int:
    """Mirror the tenant's newest invoices as Stripe lists them; returns how many. The caller
    commits."""
    if not tenant.stripe_customer_id:
        return 0
    invoices = get_gateway().list_invoices(tenant.stripe_customer_id, limit=BACKFILL_LIMIT)
    return sum(mirror_invoice(tenant, invoice) is not None for invoice in invoices)


def invoices_of(tenant_id: int, limit: int = 24) -> list[Invoice]:
    """The tenant's mirrored invoices, newest first."""
    return list(
        db.session.scalars(
            sa.select(Invoice)
            .where(Invoice.tenant_id == tenant_id)
            .order_by(Invoice.created.desc(), Invoice.id.desc())
            .limit(limit)
        )
    )
