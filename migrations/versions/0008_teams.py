"""Teams: invites, the team activity log, who made each API key and when a member joined.

Every existing user already has an owner membership of the tenant sign-up made for them
(staff have none); existing keys are credited to that owner, the only person who could have
made them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 00:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "team_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_team_invite_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["user.id"],
            name=op.f("fk_team_invite_invited_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"],
            ["user.id"],
            name=op.f("fk_team_invite_accepted_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invite")),
    )
    op.create_index("ix_team_invite_tenant_email", "team_invite", ["tenant_id", "email"])

    op.create_table(
        "team_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_team_activity_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["user.id"],
            name=op.f("fk_team_activity_actor_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_activity")),
    )
    op.create_index("ix_team_activity_tenant_created", "team_activity", ["tenant_id", "created_at"])

    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_key_created_by_id_user"),
            "user",
            ["created_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))

    # Data: every key so far was made by its tenant's (first) owner; memberships date from the
    # user's sign-up.
    op.execute(
        """
        UPDATE api_key SET created_by_id = (
            SELECT m.user_id FROM membership m
            WHERE m.tenant_id = api_key.tenant_id AND m.role = 'owner'
            ORDER BY m.id LIMIT 1
        )
        """
    )
    op.execute(
        "UPDATE membership SET created_at = "
        '(SELECT u.created_at FROM "user" u WHERE u.id = membership.user_id)'
    )


def downgrade():
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_column("created_at")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_key_created_by_id_user"), type_="foreignkey")
        batch_op.drop_column("created_by_id")
    op.drop_index("ix_team_activity_tenant_created", table_name="team_activity")
    op.drop_table("team_activity")
    op.drop_index("ix_team_invite_tenant_email", table_name="team_invite")
    op.drop_table("team_invite")
