"""SQLite persistence: Stripe objects as JSON by id and type, plus the simulator's own tables.

One connection guarded by one re-entrant lock: every API call runs as one transaction, and the
webhook thread only reads between transactions, so it never sees half a change.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type ON objects (type);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_status INTEGER,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meter_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier TEXT NOT NULL,
    event_name TEXT NOT NULL,
    customer TEXT,
    value INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    counted INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS meter_events_identifier ON meter_events (identifier);
CREATE INDEX IF NOT EXISTS meter_events_usage
    ON meter_events (event_name, customer, timestamp);
"""
_TABLES = ("objects", "idempotency", "deliveries", "settings", "meter_events")


class Store:
    """Objects and simulator state in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.lock = threading.RLock()
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Run the block as one transaction (nested blocks join the outer one)."""
        with self.lock:
            self._depth += 1
            if self._depth == 1:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if self._depth == 1:
                    self._db.execute("ROLLBACK")
                    self._after_commit.clear()
                raise
            else:
                if self._depth == 1:
                    self._db.execute("COMMIT")
                    callbacks, self._after_commit = self._after_commit, []
                    for callback in callbacks:
                        callback()
            finally:
                self._depth -= 1

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the current transaction has committed."""
        self._after_commit.append(callback)

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self._db.execute(sql, args)

    # Stripe objects -----------------------------------------------------------------------
    def get(self, object_id: str, kind: str | None = None) -> dict[str, Any] | None:
        row = self.execute("SELECT type, data FROM objects WHERE id = ?", (object_id,)).fetchone()
        if row is None or (kind is not None and row["type"] != kind):
            return None
        return json.loads(row["data"])

    def fetch(self, object_id: str, kind: str) -> dict[str, Any]:
        """An object that must exist because another object refers to it."""
        obj = self.get(object_id, kind)
        if obj is None:
            raise LookupError(f"{kind} {object_id} is referenced but missing")
        return obj

    def put(self, obj: dict[str, Any], kind: str | None = None,
            object_id: str | None = None) -> dict[str, Any]:
        """Insert or replace an object (keyed by its ``id`` unless ``object_id`` is given),
        keeping its original insertion order."""
        data = json.dumps(obj)
        kind = kind or obj["object"]
        object_id = object_id or obj["id"]
        with self.lock:
            updated = self._db.execute(
                "UPDATE objects SET data = ?, type = ? WHERE id = ?", (data, kind, object_id)
            ).rowcount
            if not updated:
                self._db.execute(
                    "INSERT INTO objects (id, type, data) VALUES (?, ?, ?)",
                    (object_id, kind, data),
                )
        return obj

    def delete(self, object_id: str) -> None:
        self.execute("DELETE FROM objects WHERE id = ?", (object_id,))

    def all(self, kind: str, **equal: Any) -> list[dict[str, Any]]:
        """Objects of one type, newest first, whose top-level fields equal ``equal``."""
        rows = self.execute(
            "SELECT data FROM objects WHERE type = ? ORDER BY seq DESC", (kind,)
        ).fetchall()
        objs = [json.loads(r["data"]) for r in rows]
        return [o for o in objs if all(o.get(k) == v for k, v in equal.items())]

    # Settings -----------------------------------------------------------------------------
    def setting(self, name: str, default: Any = None) -> Any:
        row = self.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def set_setting(self, name: str, value: Any) -> None:
        self.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(value)),
        )

    def reset(self) -> None:
        """Forget everything: objects, idempotency keys, deliveries and settings."""
        with self.transaction():
            for table in _TABLES:
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def close(self) -> None:
        with self.lock:
            self._db.close()
