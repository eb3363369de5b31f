"""Changing a team: roles, removing and leaving, and handing ownership over.

Every change takes the tenant's row lock first (``lock_tenant``), so two owners acting at once
cannot both step down and leave the team without an owner. Each change writes its activity
entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError

from portal.auth.accounts import password_hasher
from portal.billing.subscriptions import lock_tenant
from portal.db import utcnow
from portal.errors import Conflict, NotFound, PortalError
from portal.extensions import db
from portal.models import ApiKey, Membership, Tenant, User
from portal.teams import activity
from portal.teams.invites import clean_role
from portal.teams.roles import Role

LAST_OWNER = "A team needs an owner. Hand ownership over to another member first."


def members_of(tenant: Tenant) -> list[Membership]:
    """The tenant's memberships, owners first, then by when they joined."""
    rank = sa.case({r.value: i for i, r in enumerate(Role)}, value=Membership.role, else_=9)
    return list(
        db.session.scalars(
            sa.select(Membership)
            .where(Membership.tenant_id == tenant.id)
            .order_by(rank, Membership.id)
        )
    )


def get_member(tenant: Tenant, membership_id: int) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.tenant_id != tenant.id:
        raise NotFound("There is no such member in this team.")
    return membership


def _owner_count(tenant: Tenant) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER.value)
        )
        or 0
    )


def _locked(tenant: Tenant, membership_id: int) -> Membership:
    lock_tenant(tenant)
    membership = get_member(tenant, membership_id)
    db.session.refresh(membership)
    return membership


def change_role(tenant: Tenant, actor: User, membership_id: int, role: object) -> Membership:
    """Give a member another (non-owner) role; the last owner cannot be demoted."""
    new_role = clean_role(role)
    membership = _locked(tenant, membership_id)
    old = membership.role
    if old == new_role.value:
        db.session.rollback()
        raise PortalError(f"{membership.user.email} already is {old}.")
    if old == Role.OWNER.value and _owner_count(tenant) <= 1:
        db.session.rollback()
        raise Conflict(LAST_OWNER)
    membership.role = new_role.value
    activity.record(
        tenant.id, actor, "role_changed", membership.user.email, {"from": old, "to": new_role}
    )
    db.session.commit()
    return membership


def active_keys_made_by(tenant: Tenant, user_id: int) -> list[ApiKey]:
    return list(
        db.session.scalars(
            sa.select(ApiKey)
            .where(
                ApiKey.tenant_id == tenant.id,
                ApiKey.created_by_id == user_id,
                ApiKey.revoked_at.is_(None),
            )
            .order_by(ApiKey.id)
        )
    )


@dataclass(frozen=True)
class Removal:
    email: str
    keys_revoked: int


def remove_member(tenant: Tenant, actor: User, membership_id: int, *, revoke_keys: bool) -> Removal:
    """Take a member out of the team (and, if asked, revoke the keys they made in it)."""
    membership = _locked(tenant, membership_id)
    if membership.user_id == actor.id:
        db.session.rollback()
        raise PortalError("To leave the team yourself, use “Leave this team”.")
    if membership.role == Role.OWNER.value and _owner_count(tenant) <= 1:
        db.session.rollback()
        raise Conflict(LAST_OWNER)
    email = membership.user.email
    revoked = 0
    if revoke_keys:
        now = utcnow()
        for key in active_keys_made_by(tenant, membership.user_id):
            key.revoked_at = now
            activity.record(tenant.id, actor, "key_revoked", f"{key.name} ({key.prefix}…)")
            revoked += 1
    db.session.delete(membership)
    activity.record(
        tenant.id, actor, "removed", email, {"role": membership.role, "keys_revoked": revoked}
    )
    db.session.commit()
    return Removal(email, revoked)


def leave(tenant: Tenant, user: User) -> None:
    """The signed-in member leaves the team; the last owner cannot."""
    membership = db.session.scalar(
        sa.select(Membership).where(
            Membership.tenant_id == tenant.id, Membership.user_id == user.id
        )
    )
    if membership is None:
        raise NotFound("You are not a member of this team.")
    membership = _locked(tenant, membership.id)
    if membership.role == Role.OWNER.value and _owner_count(tenant) <= 1:
        db.session.rollback()
        raise Conflict(LAST_OWNER)
    db.session.delete(membership)
    activity.record(tenant.id, user, "left", "", {"role": membership.role})
    db.session.commit()


def hand_over(
    tenant: Tenant, owner: User, membership_id: int, password: str, own_new_role: object
) -> Membership:
    """Make another member the owner, confirmed by the current owner's password; the owner
    takes ``own_new_role``."""
    if not _password_matches(owner, password):
        raise PortalError("That password is not right. Ownership was not handed over.")
    new_role = clean_role(own_new_role)
    target = _locked(tenant, membership_id)
    mine = db.session.scalar(
        sa.select(Membership).where(
            Membership.tenant_id == tenant.id, Membership.user_id == owner.id
        )
    )
    if mine is None or mine.role != Role.OWNER.value:
        db.session.rollback()
        raise PortalError("Only an owner can hand ownership over.", status_code=403)
    if target.id == mine.id:
        db.session.rollback()
        raise PortalError("Pick another member to hand ownership to.")
    previous = target.role
    target.role = Role.OWNER.value
    mine.role = new_role.value
    activity.record(
        tenant.id,
        owner,
        "ownership_handed_over",
        target.user.email,
        {"previous_role": previous, "own_new_role": new_role.value},
    )
    db.session.commit()
    return target


def _password_matches(user: User, password: str) -> bool:
    if not password or len(password) > 128:
        return False
    try:
        return bool(password_hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
