"""Cancellation reasons: the optional reason and comment a customer gives when cancelling,
kept for the operators.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 01:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cancellation_reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_cancellation_reason_tenant_id", "cancellation_reason", ["tenant_id"], unique=False
    )


def downgrade():
    op.drop_index("ix_cancellation_reason_tenant_id", table_name="cancellation_reason")
    op.drop_table("cancellation_reason")
