"""The tenant's Stripe customer: created lazily on the first upgrade, exactly once."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from portal.billing.subscriptions import lock_tenant
from portal.extensions import db
from portal.installation import installation_namespace
from portal.models import Membership, Tenant, User
from portal.stripe_gateway import get_gateway

log = logging.getLogger("continuum.billing")


def owner_email(tenant: Tenant) -> str | None:
    """The address billing mail goes to: the tenant's (first) owner."""
    return db.session.scalar(
        sa.select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant.id, Membership.role == "owner")
        .order_by(Membership.id)
        .limit(1)
    )


def ensure_customer(tenant: Tenant) -> str:
    """The tenant's Stripe customer id, creating the customer on first use.

    A double click, a second tab or a retry after a timeout never makes a second customer:
    the tenant row is locked while we look and create, and the create carries an idempotency
    key derived from the tenant, so even two unlocked attempts get the same customer back. The
    key also names this installation, so another database's tenant 7 is another customer.
    """
    if tenant.stripe_customer_id:
        return tenant.stripe_customer_id
    namespace = installation_namespace()  # before the lock: a first use writes its own row
    lock_tenant(tenant)
    db.session.refresh(tenant)
    if not tenant.stripe_customer_id:
        customer = get_gateway().create_customer(
            tenant.id, email=owner_email(tenant), name=tenant.name, namespace=namespace
        )
        tenant.stripe_customer_id = customer.id
        log.info("tenant %s: created Stripe customer %s", tenant.id, customer.id)
    customer_id = tenant.stripe_customer_id
    db.session.commit()
    return customer_id
