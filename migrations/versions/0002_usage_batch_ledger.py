"""Usage batch ledger: Redis usage batches already flushed, for exactly-once counting.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "usage_batch_ledger",
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("flushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_usage_batch_ledger")),
    )
    with op.batch_alter_table("usage_batch_ledger", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_batch_ledger_flushed_at"), ["flushed_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("usage_batch_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_batch_ledger_flushed_at"))
    op.drop_table("usage_batch_ledger")
