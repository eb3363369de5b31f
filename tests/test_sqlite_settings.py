"""Every SQLite connection runs with WAL, synchronous=NORMAL and a busy timeout (portal/db.py)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from portal.db import SQLITE_BUSY_TIMEOUT_MS
from portal.extensions import db

#: PRAGMA synchronous answers with a number: 1 is NORMAL (2 is FULL, SQLite's default).
SYNCHRONOUS_NORMAL = 1


def pragmas(connection: sa.Connection) -> tuple[str, int, int]:
    return (
        connection.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
        connection.exec_driver_sql("PRAGMA synchronous").scalar_one(),
        connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one(),
    )


def test_the_portal_engine_tunes_every_connection(app: Flask) -> None:
    expected = ("wal", SYNCHRONOUS_NORMAL, SQLITE_BUSY_TIMEOUT_MS)
    with app.app_context():
        with db.engine.connect() as first, db.engine.connect() as second:  # two pooled connections
            assert pragmas(first) == expected
            assert pragmas(second) == expected
        assert db.session.connection().exec_driver_sql("PRAGMA synchronous").scalar_one() == 1


def test_any_engine_on_a_new_file_is_tuned_too(tmp_path: Path) -> None:
    """The enforcement library and Alembic build engines of their own: same settings."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    try:
        with engine.connect() as connection:
            assert pragmas(connection) == ("wal", SYNCHRONOUS_NORMAL, SQLITE_BUSY_TIMEOUT_MS)
    finally:
        engine.dispose()
