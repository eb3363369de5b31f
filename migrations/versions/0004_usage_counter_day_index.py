"""An index on usage_counter (day, metric): the usage alerts read today's rows of all tenants.

The primary key (tenant_id, metric, day) serves one tenant's reads; a pass over every tenant
with usage today needs the day first, or it scans the whole table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00

"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("usage_counter", schema=None) as batch_op:
        batch_op.create_index("ix_usage_counter_day_metric", ["day", "metric"], unique=False)


def downgrade():
    with op.batch_alter_table("usage_counter", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_counter_day_metric")
