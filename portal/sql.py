"""SQL helpers shared by modules that need dialect-specific statements (SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db


def dialect_insert(table: Any) -> Any:
    """An INSERT for the session's database that supports ON CONFLICT (both dialects do)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
