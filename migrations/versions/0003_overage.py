"""Overage: tenant settings (on/off, monthly cap, alerts), the metered item and its period on
subscriptions, the meter report outbox, and the usage alert log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 21:52:21

"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "meter_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("event_time", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_meter_report_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_report")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("meter_report", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meter_report_reported_at"), ["reported_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_meter_report_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "usage_alert",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("alert", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_usage_alert_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "alert", "period", name=op.f("pk_usage_alert")),
    )
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("metered_item_id", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("usage_period_start", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("usage_period_end", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("overage_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("overage_cap_cents", sa.Integer(), server_default="2000", nullable=False)
        )
        batch_op.add_column(sa.Column("alerts_off", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.drop_column("alerts_off")
        batch_op.drop_column("overage_cap_cents")
        batch_op.drop_column("overage_enabled")

    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("usage_period_end")
        batch_op.drop_column("usage_period_start")
        batch_op.drop_column("metered_item_id")

    op.drop_table("usage_alert")
    with op.batch_alter_table("meter_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_report_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_meter_report_reported_at"))

    op.drop_table("meter_report")
