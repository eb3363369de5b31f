"""The admin audit log: every staff action, with who, what, which tenant, before and after.

A row is added to the session of the change it describes, so both commit together or not at
all. Actions from the shell (``flask tenants ...``) name the operating-system user.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import AdminAudit, User


@dataclass(frozen=True)
class Actor:
    """Who did it: a staff member (``user_id``) or the shell."""

    label: str
    user_id: int | None = None

    @classmethod
    def staff(cls, user: User) -> Actor:
        return cls(user.email, user.id)

    @classmethod
    def shell(cls) -> Actor:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (some containers)
            login = "unknown"
        return cls(f"shell ({login})")


def _plain(value: Any) -> Any:
    """``value`` as JSON can store it: dates as ISO text, decimals as strings."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def record(
    actor: Actor,
    action: str,
    *,
    tenant_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AdminAudit:
    """Add one audit row to the current transaction (the caller commits)."""
    row = AdminAudit(
        actor=actor.label[:254],
        actor_user_id=actor.user_id,
        action=action,
        tenant_id=tenant_id,
        before=_plain(before),
        after=_plain(after),
        reason=reason,
    )
    db.session.add(row)
    return row


def entries(tenant_id: int | None = None, limit: int = 200) -> list[AdminAudit]:
    """The newest audit rows, of one tenant when ``tenant_id`` is given."""
    query = sa.select(AdminAudit).order_by(AdminAudit.created_at.desc(), AdminAudit.id.desc())
    if tenant_id is not None:
        query = query.where(AdminAudit.tenant_id == tenant_id)
    return list(db.session.scalars(query.limit(limit)))
