"""Invites: an owner invites an address with a role; the emailed link joins its holder.

The link is signed (itsdangerous, with the app's secret) and names the invite and its nonce.
It works once, for seven days, and only until the invite is resent (new nonce) or revoked.
Opening it never says whether the address has an account: the page offers both signing in
and creating one, and a wrong password reads like any failed sign-in.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.auth.accounts import AccountError, normalize_email
from portal.config import portal_url
from portal.db import utcnow
from portal.errors import Conflict, NotFound, PortalError
from portal.extensions import db
from portal.mail import MailError, send_email
from portal.models import Membership, Tenant, User
from portal.teams import activity
from portal.teams.models import TeamInvite
from portal.teams.roles import ASSIGNABLE_ROLES, ROLE_DESCRIPTIONS, Role, parse_role

log = logging.getLogger("continuum.teams")

INVITE_MAX_AGE = timedelta(days=7)
INVITE_SALT = "continuum.team-invite"
#: Pending invites one team may have at once (a cap on mail sent in its name).
MAX_PENDING = 50
TOKEN_MAX_LENGTH = 400


class InviteError(PortalError):
    """An invite link that cannot be used; the message says what to do instead."""


class WrongAccount(InviteError):
    status_code = 403


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=INVITE_SALT)


def make_token(invite: TeamInvite) -> str:
    return _serializer().dumps({"i": invite.id, "n": invite.nonce})


def invite_link(invite: TeamInvite) -> str:
    return portal_url(url_for("teams.accept", token=make_token(invite)))


def clean_role(value: object) -> Role:
    role = parse_role(value)
    if role not in ASSIGNABLE_ROLES:
        choices = ", ".join(r.value for r in ASSIGNABLE_ROLES)
        raise PortalError(
            f"Pick a role: {choices}. Ownership is handed over from the team page instead."
        )
    assert role is not None
    return role


def create_invite(tenant: Tenant, inviter: User, email: str, role: object) -> TeamInvite:
    """Store an invite (committed) for ``email``; the caller sends it with ``send_invite``."""
    try:
        address = normalize_email(email)
    except AccountError as error:
        raise PortalError(error.message) from error
    chosen = clean_role(role)
    member = db.session.scalar(
        sa.select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant.id, User.email == address)
    )
    if member is not None:
        raise Conflict(f"{address} is already a member of this team. Change their role instead.")
    pending = pending_invites(tenant)
    if any(invite.email == address for invite in pending):
        raise Conflict(f"{address} already has a pending invite. Resend it from the list below.")
    if len(pending) >= MAX_PENDING:
        raise Conflict(
            f"This team has {MAX_PENDING} pending invites. Revoke some before inviting more."
        )
    now = utcnow()
    invite = TeamInvite(
        tenant_id=tenant.id,
        email=address,
        role=chosen.value,
        nonce=secrets.token_urlsafe(16),
        invited_by_id=inviter.id,
        created_at=now,
        sent_at=now,
        expires_at=now + INVITE_MAX_AGE,
    )
    db.session.add(invite)
    activity.record(tenant.id, inviter, "invited", address, {"role": chosen.value})
    db.session.commit()
    log.info("tenant %s invited %s as %s", tenant.id, invite.id, chosen.value)
    return invite


def send_invite(invite: TeamInvite) -> bool:
    """Email the invite's link; False (and logged) when the mail server refused."""
    role = Role(invite.role)
    inviter = invite.invited_by.email if invite.invited_by else "An owner"
    days = INVITE_MAX_AGE.days
    body = (
        f"Hello,\n\n{inviter} invited you to the team {invite.tenant.name!r} on CONTINUUM "
        f"Cloud, as {role.value} ({ROLE_DESCRIPTIONS[role]}).\n\nTo join, open this link within "
        f"{days} days:\n\n{invite_link(invite)}\n\nYou can sign in or create an account there. "
        "The link works once. If you did not expect this, ignore this email.\n\n"
        "The CONTINUUM team\n"
    )
    try:
        send_email(invite.email, f"You are invited to {invite.tenant.name} on CONTINUUM", body)
    except MailError:
        return False
    return True


def pending_invites(tenant: Tenant) -> list[TeamInvite]:
    """Invites neither accepted nor revoked (expired ones included: they can be resent)."""
    return list(
        db.session.scalars(
            sa.select(TeamInvite)
            .where(
                TeamInvite.tenant_id == tenant.id,
                TeamInvite.accepted_at.is_(None),
                TeamInvite.revoked_at.is_(None),
            )
            .order_by(TeamInvite.id)
        )
    )


def get_pending(tenant: Tenant, invite_id: int) -> TeamInvite:
    invite = db.session.get(TeamInvite, invite_id)
    if invite is None or invite.tenant_id != tenant.id or not invite.pending:
        raise NotFound("There is no such pending invite in this team.")
    return invite


def resend_invite(tenant: Tenant, actor: User, invite_id: int) -> TeamInvite:
    """A new link for seven more days; the old link stops working. Committed."""
    invite = get_pending(tenant, invite_id)
    now = utcnow()
    invite.nonce = secrets.token_urlsafe(16)
    invite.sent_at = now
    invite.expires_at = now + INVITE_MAX_AGE
    activity.record(tenant.id, actor, "invite_resent", invite.email)
    db.session.commit()
    return invite


def revoke_invite(tenant: Tenant, actor: User, invite_id: int) -> TeamInvite:
    invite = get_pending(tenant, invite_id)
    invite.revoked_at = utcnow()
    activity.record(tenant.id, actor, "invite_revoked", invite.email)
    db.session.commit()
    return invite


# --- following the link ----------------------------------------------------------------------

_INVALID = "This invite link is not valid. Check you copied all of it, or ask for a new invite."
_USED = "This invite was already used or withdrawn. Ask an owner of the team for a new one."
_EXPIRED = "This invite has expired. Ask an owner of the team to resend it."


@dataclass(frozen=True)
class OpenInvite:
    invite: TeamInvite
    nonce: str


def open_invite(token: str) -> OpenInvite:
    """The pending invite a link names, or ``InviteError`` saying why it cannot be used."""
    if len(token) > TOKEN_MAX_LENGTH:
        raise InviteError(_INVALID)
    try:
        payload = _serializer().loads(token, max_age=int(INVITE_MAX_AGE.total_seconds()))
    except SignatureExpired as error:
        raise InviteError(_EXPIRED, status_code=410) from error
    except BadSignature as error:
        raise InviteError(_INVALID) from error
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("i"), int)
        and isinstance(payload.get("n"), str)
    ):
        raise InviteError(_INVALID)
    invite = db.session.get(TeamInvite, payload["i"])
    if invite is None or not secrets.compare_digest(invite.nonce, payload["n"]):
        # A resent invite has a new nonce: the old link is as used as an accepted one.
        raise InviteError(_USED, status_code=410)
    if not invite.pending:
        raise InviteError(_USED, status_code=410)
    if invite.expires_at <= utcnow():
        raise InviteError(_EXPIRED, status_code=410)
    return OpenInvite(invite, payload["n"])


def check_account(opened: OpenInvite, user: User) -> None:
    """Refuse a signed-in account other than the one the invite was sent to."""
    if user.email != opened.invite.email:
        raise WrongAccount(
            "This invite was sent to a different address than the one you are signed in with. "
            "Sign out, then open the link again."
        )


def accept(opened: OpenInvite, user: User) -> Membership:
    """Join ``user`` to the invite's team and use the invite up, in the caller's transaction
    (committed here). A second acceptance of the same link finds it used."""
    check_account(opened, user)
    invite = opened.invite
    claimed = db.session.execute(
        sa.update(TeamInvite)
        .where(
            TeamInvite.id == invite.id,
            TeamInvite.nonce == opened.nonce,
            TeamInvite.accepted_at.is_(None),
            TeamInvite.revoked_at.is_(None),
        )
        .values(accepted_at=utcnow(), accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        raise InviteError(_USED, status_code=410)
    membership = db.session.scalar(
        sa.select(Membership).where(
            Membership.user_id == user.id, Membership.tenant_id == invite.tenant_id
        )
    )
    if membership is None:
        membership = Membership(user=user, tenant_id=invite.tenant_id, role=invite.role)
        db.session.add(membership)
        activity.record(invite.tenant_id, user, "joined", invite.role)
    db.session.commit()
    log.info("user %s joined tenant %s by invite %s", user.id, invite.tenant_id, invite.id)
    return membership


def sign_up_invited(opened: OpenInvite, password: str) -> User:
    """A new account for the invite's address (no team of its own), flushed, not committed:
    ``accept`` commits it together with the membership, or nothing is written."""
    from portal.auth.accounts import hash_password, password_problem

    address = opened.invite.email
    problem = password_problem(password, address)
    if problem:
        raise PortalError(problem)
    if db.session.scalar(sa.select(User.id).where(User.email == address)) is not None:
        raise Conflict(
            "We could not create an account with that address. If you already have an "
            "account, sign in with it instead."
        )
    user = User(email=address, password_hash=hash_password(password))
    db.session.add(user)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as error:
        db.session.rollback()
        raise Conflict(
            "We could not create an account with that address. Sign in instead."
        ) from error
    return user
