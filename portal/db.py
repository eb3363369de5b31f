"""The database layer under everything: the declarative ``Base`` every table derives from, the
timestamp type, and dialect-aware upserts. Pure SQLAlchemy: no Flask, so the enforcement library
can use the same tables through a plain ``Engine``.

The Flask-SQLAlchemy binding (``db``, the request-scoped session) is made from this ``Base`` in
``portal.extensions``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

#: How long a SQLite connection waits for another one's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000


class Base(DeclarativeBase):
    # Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def dialect_insert(bind: Any, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on ``bind``'s database (an Engine, Connection or the
    session's bind; both dialects we run on have it)."""
    # Imported here: a dialect's module is only needed once its database is in use.
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Every new SQLite connection, of every engine (the portal's, the enforcement library's,
    Alembic's): write-ahead log, ``synchronous=NORMAL`` and a busy timeout.

    WAL lets readers run while one writer commits, and with ``NORMAL`` a commit appends to the
    log without an fsync (the log is synced at checkpoints). The database cannot be corrupted
    this way; what a power loss (not a crash of the process: the OS still has the writes) can
    cost is the transactions committed since the last checkpoint. The README says the same.
    Other databases are left alone.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
