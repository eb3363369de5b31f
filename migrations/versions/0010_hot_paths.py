"""Hot paths: a running total of the overage outbox per day (kept by triggers), and the billing
page's local mirror of the customer's cards and default card.

``meter_day_total`` holds, per tenant, usage period and UTC day of the event, the sum of
``meter_report.quantity``. Triggers on ``meter_report`` keep it in the same transaction as every
insert, update and delete of the outbox, so the dashboard's overage card reads at most a month of
these rows instead of one outbox row per flush (86,400 a day for a tenant in overage all day).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 00:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DAY = 86400

SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER meter_day_total_insert AFTER INSERT ON meter_report BEGIN
        INSERT INTO meter_day_total (tenant_id, period_start, day, quantity)
        VALUES (NEW.tenant_id, NEW.period_start, NEW.event_time / {DAY}, NEW.quantity)
        ON CONFLICT (tenant_id, period_start, day)
        DO UPDATE SET quantity = quantity + excluded.quantity;
    END
    """,
    f"""
    CREATE TRIGGER meter_day_total_update
    AFTER UPDATE OF tenant_id, period_start, event_time, quantity ON meter_report BEGIN
        UPDATE meter_day_total SET quantity = quantity - OLD.quantity
        WHERE tenant_id = OLD.tenant_id AND period_start = OLD.period_start
          AND day = OLD.event_time / {DAY};
        INSERT INTO meter_day_total (tenant_id, period_start, day, quantity)
        VALUES (NEW.tenant_id, NEW.period_start, NEW.event_time / {DAY}, NEW.quantity)
        ON CONFLICT (tenant_id, period_start, day)
        DO UPDATE SET quantity = quantity + excluded.quantity;
    END
    """,
    f"""
    CREATE TRIGGER meter_day_total_delete AFTER DELETE ON meter_report BEGIN
        UPDATE meter_day_total SET quantity = quantity - OLD.quantity
        WHERE tenant_id = OLD.tenant_id AND period_start = OLD.period_start
          AND day = OLD.event_time / {DAY};
    END
    """,
]

# One function for the three events. A delete only subtracts (an UPDATE: when the tenant itself
# is being deleted, its totals may be gone already, and nothing must be inserted for it).
POSTGRES_TRIGGERS = [
    f"""
    CREATE FUNCTION meter_day_total_apply() RETURNS trigger AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE meter_day_total SET quantity = quantity - OLD.quantity
            WHERE tenant_id = OLD.tenant_id AND period_start = OLD.period_start
              AND day = (OLD.event_time / {DAY})::integer;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO meter_day_total (tenant_id, period_start, day, quantity)
            VALUES (NEW.tenant_id, NEW.period_start, (NEW.event_time / {DAY})::integer,
                    NEW.quantity)
            ON CONFLICT (tenant_id, period_start, day)
            DO UPDATE SET quantity = meter_day_total.quantity + excluded.quantity;
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER meter_day_total_insert AFTER INSERT ON meter_report
    FOR EACH ROW EXECUTE FUNCTION meter_day_total_apply()
    """,
    """
    CREATE TRIGGER meter_day_total_update
    AFTER UPDATE OF tenant_id, period_start, event_time, quantity ON meter_report
    FOR EACH ROW EXECUTE FUNCTION meter_day_total_apply()
    """,
    """
    CREATE TRIGGER meter_day_total_delete AFTER DELETE ON meter_report
    FOR EACH ROW EXECUTE FUNCTION meter_day_total_apply()
    """,
]


def upgrade():
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_payment_attempt", sa.DateTime(timezone=True)))
    op.create_table(
        "meter_day_total",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_meter_day_total_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "period_start", "day", name=op.f("pk_meter_day_total")
        ),
    )
    op.execute(
        f"""
        INSERT INTO meter_day_total (tenant_id, period_start, day, quantity)
        SELECT tenant_id, period_start, CAST(event_time / {DAY} AS INTEGER), SUM(quantity)
        FROM meter_report GROUP BY tenant_id, period_start, CAST(event_time / {DAY} AS INTEGER)
        """
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)

    op.create_table(
        "customer_mirror",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("default_payment_method_id", sa.String(length=255), nullable=True),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_event_created", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_customer_mirror_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_customer_mirror")),
    )
    op.create_table(
        "payment_method",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mirrored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_payment_method_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_method")),
    )
    with op.batch_alter_table("payment_method", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_method_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_column("next_payment_attempt")
    with op.batch_alter_table("payment_method", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_method_tenant_id"))
    op.drop_table("payment_method")
    op.drop_table("customer_mirror")
    for trigger in ("insert", "update", "delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS meter_day_total_{trigger} ON meter_report")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS meter_day_total_{trigger}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS meter_day_total_apply()")
    op.drop_table("meter_day_total")
