"""When each API key was last used: noted in memory per call, written behind in one UPDATE.

The portal shows ``api_key.last_used_at`` to the minute at best, so a key is noted at most once a
second and the notes reach SQL with the write-behind flusher (``flusher.Flusher``) every
``API_KEY_LAST_USED_FLUSH_SECONDS`` and at shutdown, never once per request.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from portal.models import ApiKey

#: How often one key's use is noted at most.
NOTE_EVERY_SECONDS = 1.0
#: Bounds the per-key throttle; past it, it starts over (a cheap guard against key spraying).
MAX_THROTTLED_KEYS = 50_000

_UPDATE = (
    sa.update(ApiKey)
    .where(ApiKey.id == sa.bindparam("key_id"))
    # Only move forward, so a late flush from another process cannot turn time back.
    .where(sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < sa.bindparam("used_at")))
    .values(last_used_at=sa.bindparam("used_at"))
)


class LastUsedTimes:
    """Pending "key X was last used at T" notes of this process."""

    def __init__(self, interval: float) -> None:
        #: How often the flusher writes the notes (seconds).
        self.interval = interval
        self._pending: dict[int, datetime] = {}
        self._lock = threading.Lock()
        #: When each key was last noted (monotonic); read without the lock on every call.
        self._noted: dict[int, float] = {}

    def note(self, key_id: int) -> None:
        """Key ``key_id`` was used now (a no-op when it was noted less than a second ago)."""
        now = time.monotonic()
        if now - self._noted.get(key_id, -NOTE_EVERY_SECONDS) < NOTE_EVERY_SECONDS:
            return
        if len(self._noted) >= MAX_THROTTLED_KEYS:
            self._noted.clear()
        self._noted[key_id] = now
        self._keep({key_id: datetime.now(UTC)})

    def _keep(self, times: dict[int, datetime]) -> None:
        with self._lock:
            for key_id, when in times.items():
                previous = self._pending.get(key_id)
                if previous is None or when > previous:
                    self._pending[key_id] = when

    def flush(self, engine: sa.Engine) -> int:
        """Write every pending time in one executemany UPDATE; returns the keys written.

        Times SQL refused are kept for the next flush (and the error raised)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        rows = [{"key_id": key_id, "used_at": when} for key_id, when in pending.items()]
        try:
            with engine.begin() as connection:
                connection.execute(_UPDATE, rows)
        except BaseException:
            self._keep(pending)
            raise
        return len(rows)
