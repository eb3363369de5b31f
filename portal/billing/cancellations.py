"""Why customers cancel: the optional reason asked on the billing page's cancel step, stored
for the operators (shown on the admin tenant page), never required to cancel.

The reasons are Stripe's ``cancellation_details.feedback`` values, so they read the same as
Stripe's own reporting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow
from portal.errors import PortalError
from portal.extensions import db

#: value -> what the cancel step's menu says.
REASONS = {
    "too_expensive": "It costs too much",
    "missing_features": "A feature I need is missing",
    "switched_service": "I moved to another service",
    "unused": "I don't use it enough",
    "too_complex": "It is too hard to use",
    "low_quality": "It did not work well enough",
    "customer_service": "Support did not help",
    "other": "Another reason",
}
COMMENT_MAX_LENGTH = 500


class CancellationReason(Base):
    """One cancellation's reason and comment, as the customer gave them (both optional)."""

    __tablename__ = "cancellation_reason"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason or "", "No reason given")


@dataclass(frozen=True)
class CancelFeedback:
    reason: str | None
    comment: str | None

    @property
    def given(self) -> bool:
        return bool(self.reason or self.comment)


def parse_feedback(reason: str | None, comment: str | None) -> CancelFeedback:
    """The cancel form's optional fields, or a ``PortalError`` (400) saying what to change."""
    reason = (reason or "").strip() or None
    if reason is not None and reason not in REASONS:
        raise PortalError("Choose a reason from the list, or leave it empty.")
    text = (comment or "").replace("\x00", "").strip() or None
    if text is not None and len(text) > COMMENT_MAX_LENGTH:
        raise PortalError(
            f"Keep the comment to {COMMENT_MAX_LENGTH} characters (it has {len(text):,}), "
            "or leave it empty."
        )
    return CancelFeedback(reason, text)


def record_feedback(tenant_id: int, subscription_id: str | None, feedback: CancelFeedback) -> None:
    """Store what the customer said (nothing, when they said nothing); the caller commits."""
    if feedback.given:
        db.session.add(
            CancellationReason(
                tenant_id=tenant_id,
                stripe_subscription_id=subscription_id,
                reason=feedback.reason,
                comment=feedback.comment,
            )
        )


def reasons_for(tenant_id: int, limit: int = 10) -> list[CancellationReason]:
    """The tenant's latest cancellation reasons, newest first, for the operators."""
    return list(
        db.session.scalars(
            select(CancellationReason)
            .where(CancellationReason.tenant_id == tenant_id)
            .order_by(CancellationReason.id.desc())
            .limit(limit)
        )
    )
