"""The team a signed-in person is acting for in this request.

The session holds the current tenant's id (``SESSION_KEY``). On every request
``portal.teams.access`` looks up the person's membership of that tenant afresh and keeps it in
``g``; a membership removed since the last click is simply not found. Code that needs "the
signed-in person's tenant" calls ``current_tenant()`` and nothing else.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, session

from portal.extensions import db
from portal.models import Membership, Tenant, User

SESSION_KEY = "tenant_id"


class NoCurrentTeam(RuntimeError):
    """Raised when code asks for the current tenant of a request that has none."""


def resolve_membership(user: User) -> tuple[Membership | None, bool]:
    """The user's membership of the session's tenant, else their oldest one, and whether the
    session named a tenant they no longer belong to. Updates the session to match."""
    wanted = session.get(SESSION_KEY)
    # ``load_user`` read the memberships (and their tenants) in this request's own query, so a
    # membership removed since the last click is already gone from this list.
    memberships = sorted(user.memberships, key=lambda row: row.id)
    membership = None
    if isinstance(wanted, int):
        membership = next((row for row in memberships if row.tenant_id == wanted), None)
    stale = wanted is not None and membership is None
    if membership is None and memberships:
        membership = memberships[0]
    if membership is None:
        session.pop(SESSION_KEY, None)
    elif wanted != membership.tenant_id:
        session[SESSION_KEY] = membership.tenant_id
    g.membership = membership
    return membership, stale


def membership_of(user_id: int, tenant_id: int) -> Membership | None:
    return db.session.scalar(
        sa.select(Membership).where(
            Membership.user_id == user_id, Membership.tenant_id == tenant_id
        )
    )


def current_membership() -> Membership | None:
    """This request's membership (None: signed out, or in no team). Resolved by the access
    check before the view; looked up here for requests that skip it (e.g. a 404 page)."""
    if "membership" not in g:
        from flask_login import current_user

        if not current_user.is_authenticated:
            return None
        resolve_membership(current_user._get_current_object())
    membership: Membership | None = g.get("membership")
    return membership


def current_tenant() -> Tenant:
    """The tenant the signed-in person acts for in this request."""
    membership = current_membership()
    if membership is None:
        raise NoCurrentTeam("this request has no current team")
    return membership.tenant


def current_role() -> str | None:
    membership = current_membership()
    return membership.role if membership is not None else None


def switch_to(user: User, tenant_id: int) -> Membership | None:
    """Make ``tenant_id`` the session's team if the user belongs to it; the membership or None."""
    membership = membership_of(user.id, tenant_id)
    if membership is not None:
        session[SESSION_KEY] = tenant_id
        g.membership = membership
    return membership


def teams_of(user: User) -> list[Membership]:
    """Every team the user belongs to, by tenant name (for the header's switcher)."""
    return list(
        db.session.scalars(
            sa.select(Membership)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id == user.id)
            .order_by(Tenant.name, Tenant.id)
        )
    )
