"""Operator console: staff accounts with TOTP, the invoice mirror, enterprise contracts, the
admin audit log, enterprise request statuses, webhook events linked to their tenant, and the
subscription fields revenue history needs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:12:40

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "invoice",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("number", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_first_attempt", sa.Boolean(), nullable=True),
        sa.Column("hosted_invoice_url", sa.Text(), nullable=True),
        sa.Column("invoice_pdf", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=True),
        sa.Column("mirrored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_invoice_tenant_id_tenant"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice")),
    )
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoice_created"), ["created"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_invoice_subscription_id"), ["subscription_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_invoice_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "enterprise_contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("price_month_cents", sa.BigInteger(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("limit_overrides", sa.JSON(), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_enterprise_contract_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprise_contract")),
    )
    with op.batch_alter_table("enterprise_contract", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enterprise_contract_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "admin_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["user.id"],
            name=op.f("fk_admin_audit_actor_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_admin_audit_tenant_id_tenant"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_audit")),
    )
    with op.batch_alter_table("admin_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_audit_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_admin_audit_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_staff", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("previous_price_lookup_key", sa.String(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("price_changed_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("stripe_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_stripe_event_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_stripe_event_tenant_id_tenant"),
            "tenant",
            ["tenant_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("enterprise_inquiry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), server_default="new", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("enterprise_inquiry", schema=None) as batch_op:
        batch_op.drop_column("status")

    with op.batch_alter_table("stripe_event", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_stripe_event_tenant_id_tenant"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_stripe_event_tenant_id"))
        batch_op.drop_column("tenant_id")

    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("price_changed_at")
        batch_op.drop_column("previous_price_lookup_key")
        batch_op.drop_column("started_at")

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_secret")
        batch_op.drop_column("is_staff")

    with op.batch_alter_table("admin_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_audit_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_admin_audit_created_at"))
    op.drop_table("admin_audit")

    with op.batch_alter_table("enterprise_contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprise_contract_tenant_id"))
    op.drop_table("enterprise_contract")

    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_invoice_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_invoice_created"))
    op.drop_table("invoice")
