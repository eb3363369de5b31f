"""The team tables: invites waiting to be accepted, and the activity log owners read.

Memberships themselves (user, tenant, role) live in ``portal.models.Membership``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models import Tenant, User


class TeamInvite(Base):
    """An invitation for an address to join a tenant with a role.

    The emailed link is signed and names the invite and its ``nonce``; resending draws a new
    nonce (the old link stops working), accepting or revoking ends it for good.
    """

    __tablename__ = "team_invite"
    __table_args__ = (Index("ix_team_invite_tenant_email", "tenant_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))
    nonce: Mapped[str] = mapped_column(String(64))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tenant: Mapped[Tenant] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class TeamActivity(Base):
    """One thing that happened in a team: who did it, what, to whom or what, and when.

    ``actor_email`` and ``subject`` are copied in, so the log still reads after a member or a
    key is gone.
    """

    __tablename__ = "team_activity"
    __table_args__ = (Index("ix_team_activity_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    #: The member's address, or e.g. ``Stripe`` for a change no person made.
    actor_email: Mapped[str] = mapped_column(String(254))
    #: ``portal.teams.activity.ACTIONS``: invited, joined, role_changed, ...
    action: Mapped[str] = mapped_column(String(40))
    #: What it was done to: an address, a key's name and prefix, a plan.
    subject: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
