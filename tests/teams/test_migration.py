"""Migration 0008 on a database that has accounts: every existing key is credited to its
tenant's owner, memberships get their sign-up date, and the way back works. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from portal import create_app
from tests.conftest import base_test_config, private_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
    else:
        with private_postgres_database("continuum_migrate") as url:
            yield url


def test_0008_credits_existing_keys_to_the_owner(empty_database: str) -> None:
    app = create_app(base_test_config(empty_database))
    with app.app_context():
        from portal.extensions import db

        upgrade(revision="0005")
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO tenant (id, name, tier, tier_version, overage_enabled, "
                    "overage_cap_cents, created_at, updated_at) VALUES "
                    "(1, 'Acme', 'free', 1, false, 2000, :now, :now)"
                ),
                {"now": "2026-11-01 10:00:00+00:00"},
            )
            connection.execute(
                sa.text(
                    'INSERT INTO "user" (id, email, password_hash, created_at, is_staff) '
                    "VALUES (7, 'owner@example.com', 'x', :then, false)"
                ),
                {"then": "2026-10-01 09:00:00+00:00"},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO membership (id, user_id, tenant_id, role) "
                    "VALUES (1, 7, 1, 'owner')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO api_key (id, tenant_id, name, prefix, key_hash, created_at) "
                    "VALUES (1, 1, 'old key', 'ck_test_abcd', :hash, :now)"
                ),
                {"hash": "a" * 64, "now": "2026-11-02 10:00:00+00:00"},
            )
        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT created_by_id FROM api_key")).scalar() == 7
            joined = connection.execute(sa.text("SELECT created_at FROM membership")).scalar()
            assert joined is not None and str(joined).startswith("2026-10-01")
            tables = sa.inspect(connection).get_table_names()
            assert {"team_invite", "team_activity"} <= set(tables)
        downgrade(revision="0005")
        with db.engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert "team_invite" not in inspector.get_table_names()
            assert "created_by_id" not in {c["name"] for c in inspector.get_columns("api_key")}
            assert connection.execute(sa.text("SELECT name FROM api_key")).scalar() == "old key"
        db.engine.dispose()
