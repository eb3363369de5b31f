"""The team activity log: who did what in a team, and when. Owners read it on /team/activity.

``record`` adds a row to the caller's transaction, so the entry is written exactly when the
change it describes is (and not at all when that change is rolled back).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from portal.extensions import db
from portal.models import User
from portal.teams.models import TeamActivity

#: action -> how the log page words it (the subject follows).
ACTIONS: dict[str, str] = {
    "invited": "invited",
    "invite_resent": "resent the invite to",
    "invite_revoked": "revoked the invite to",
    "joined": "joined the team as",
    "role_changed": "changed the role of",
    "removed": "removed",
    "left": "left the team",
    "ownership_handed_over": "handed ownership over to",
    "key_created": "made the API key",
    "key_revoked": "revoked the API key",
    "plan_changed": "changed the plan:",
}

PAGE_SIZE = 100
SUBJECT_MAX = 300


def record(
    tenant_id: int,
    actor: User | None,
    action: str,
    subject: str = "",
    detail: dict[str, object] | None = None,
    *,
    actor_label: str = "",
) -> TeamActivity:
    """Add one entry to the session (the caller commits with the change it describes)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown team activity {action!r}")
    entry = TeamActivity(
        tenant_id=tenant_id,
        actor_user_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else (actor_label or "CONTINUUM"),
        action=action,
        subject=subject[:SUBJECT_MAX],
        detail=detail,
    )
    db.session.add(entry)
    return entry


def recent(tenant_id: int, before_id: int | None = None) -> Sequence[TeamActivity]:
    """The tenant's newest entries (older than ``before_id`` when paging), newest first."""
    query = sa.select(TeamActivity).where(TeamActivity.tenant_id == tenant_id)
    if before_id is not None:
        query = query.where(TeamActivity.id < before_id)
    return db.session.scalars(query.order_by(TeamActivity.id.desc()).limit(PAGE_SIZE)).all()


def describe(entry: TeamActivity) -> str:
    """One entry as a sentence without its actor, e.g. ``changed the role of bo@x (a → b)``."""
    text = f"{ACTIONS.get(entry.action, entry.action)} {entry.subject}".strip()
    detail = entry.detail or {}
    if entry.action == "invited" and "role" in detail:
        text += f" as {detail['role']}"
    if "from" in detail and "to" in detail:
        text += f" ({detail['from']} → {detail['to']})"
    if detail.get("keys_revoked"):
        text += f", revoking {detail['keys_revoked']} API key(s) they made"
    return text


def record_by_member(
    action: str, subject: str = "", detail: dict[str, object] | None = None
) -> None:
    """Log what the signed-in member just did in their current team, and commit it (for
    changes, such as a plan change, that their own domain function already committed)."""
    from flask_login import current_user

    from portal.teams.context import current_membership

    membership = current_membership()
    if membership is None:
        return
    record(membership.tenant_id, current_user._get_current_object(), action, subject, detail)
    db.session.commit()


def record_tier_change(tenant_id: int, before: str, after: str) -> None:
    """Log a tier change in the caller's transaction, by whoever caused it: the signed-in
    member, CONTINUUM staff, Stripe (a webhook, with no one signed in) or a scheduled job."""
    from flask import has_request_context
    from flask_login import current_user

    from portal.teams.context import current_membership

    actor, label = None, "CONTINUUM (scheduled job)"
    if has_request_context():
        membership = current_membership()
        if membership is not None and membership.tenant_id == tenant_id:
            actor = current_user._get_current_object()
        elif getattr(current_user, "is_staff", False):
            label = "CONTINUUM staff"
        else:
            label = "Stripe"
    record(tenant_id, actor, "plan_changed", f"{before} → {after}", actor_label=label)
