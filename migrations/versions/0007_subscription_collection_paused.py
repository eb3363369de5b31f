"""Subscriptions: whether Stripe's collection is paused (``pause_collection.behavior``), which
the tier rule reads (paused collection carries no paid tier).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 00:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("collection_paused", sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("collection_paused")
