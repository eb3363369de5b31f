"""Hardening: a per-user session version (signing out ends every copy of the session cookie),
the installation's namespace (kept in Stripe idempotency keys, so two databases sharing one Stripe
account never collide), and tenant ids that are never reused on SQLite (AUTOINCREMENT; PostgreSQL's
sequences never hand an id out twice already).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 00:50:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("namespace", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # Copying the table is how SQLite changes it; the copy keeps every row and id, and
        # AUTOINCREMENT then never hands out an id at or below the highest one ever used.
        with op.batch_alter_table(
            "tenant", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "tenant", recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
    op.drop_table("installation")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
