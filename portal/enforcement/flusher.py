"""The write-behind flusher: one daemon thread per runtime moving what calls leave behind to SQL.

It writes the pending usage counts (``metering``) every half ``USAGE_FLUSH_SECONDS`` (so that
what a kill -9 loses is at most ``USAGE_FLUSH_SECONDS`` of counts) and the API keys'
last-used times (``last_used``) every ``API_KEY_LAST_USED_FLUSH_SECONDS``, and both once more at
shutdown (``stop``, also registered with ``atexit``). Nothing waits for a later request to be
written. A batch SQL refuses is kept and retried, so a database hiccup delays writes but never
loses them.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from portal import metrics
from portal.enforcement import metering
from portal.enforcement.last_used import LastUsedTimes
from portal.enforcement.stores.base import UsageBatch, UsageSource

log = logging.getLogger("continuum.enforcement")


class Flusher:
    """Pending usage from the stores and pending last-used times, written to SQL behind calls."""

    def __init__(
        self,
        engine: sa.Engine,
        sources: tuple[UsageSource, ...],
        interval: float,
        last_used: LastUsedTimes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        #: Wall-clock seconds: a flush's overage events are stamped with it.
        self.clock = clock
        self.sources = sources
        #: Seconds between usage flushes (``last_used.interval`` paces the key times).
        self.interval = interval
        self.last_used = last_used
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: True until ``start`` (a plain attribute: it is read on every admitted call).
        self.idle = True
        #: Batches SQL has but their store could not be told yet (acknowledged before any take).
        self._unacknowledged: list[tuple[UsageSource, UsageBatch]] = []
        #: Called between a batch's commit and its acknowledgement (a fault-injection point
        #: for tests: a flusher dying right there must not get the batch counted twice).
        self.after_commit: Callable[[UsageBatch], None] | None = None
        #: Called after each flush pass (the runtime reports its Redis breaker's state there).
        self.after_pass: Callable[[], None] | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="continuum-write-behind", daemon=True
            )
            self._thread.start()
            self.idle = False
            atexit.register(self.stop)

    def _run(self) -> None:
        # Fixed rates, not fixed pauses: the time a flush takes does not stretch an interval.
        # Usage is flushed every half interval: a kill -9 loses what was admitted since the
        # last take whose flush committed, and the next flush commits half an interval plus its
        # own time after that take, so a flush may take up to half the interval (waking late
        # included) and the loss window stays within ``interval``.
        period = self.interval / 2
        now = time.monotonic()
        usage_due, keys_due = now + period, now + self.last_used.interval
        while not self._stop.wait(max(0.0, min(usage_due, keys_due) - time.monotonic())):
            now = time.monotonic()
            if now >= usage_due:
                usage_due = max(usage_due + period, now)
                _survive(self.flush, "usage flush failed")
            if now >= keys_due:
                keys_due = max(keys_due + self.last_used.interval, now)
                _survive(self.flush_last_used, "last-used flush failed")

    def flush(self) -> int:
        """Move every pending usage count to SQL now; returns the rows written."""
        written, failed = 0, False
        with self._lock:
            self._unacknowledged = self._acknowledge(self._unacknowledged)
            for source in self.sources:
                try:
                    batch = source.take_usage()
                except Exception as error:  # noqa: BLE001 - a store being down must not kill the thread
                    log.warning("could not take pending usage from %s: %s", source, error)
                    failed = True
                    continue
                if not batch.handles:
                    continue
                try:
                    written += metering.write_batch(self.engine, batch, self.clock())
                except Exception:  # noqa: BLE001 - keep the counts and retry next time
                    log.exception("usage flush of %d rows failed; retrying", len(batch.rows))
                    self._give_back(source, batch)
                    failed = True
                    continue
                if self.after_commit is not None:
                    self.after_commit(batch)
                self._unacknowledged += self._acknowledge([(source, batch)])
        if not failed:
            metrics.usage_flushed(written)
        if self.after_pass is not None:
            self.after_pass()
        return written

    def flush_last_used(self) -> int:
        """Write the pending last-used times now; returns the keys written (they are kept
        for the next flush when SQL refuses them)."""
        try:
            return self.last_used.flush(self.engine)
        except sa.exc.SQLAlchemyError as error:
            log.warning("could not write API keys' last-used times; retrying: %s", error)
            return 0

    @staticmethod
    def _give_back(source: UsageSource, batch: UsageBatch) -> None:
        """Return a batch SQL refused; a store that cannot take it now keeps it claimed and
        hands it out again once the claim is stale, so the other sources still flush."""
        try:
            source.return_usage(batch)
        except Exception as error:  # noqa: BLE001 - the batch is retaken later
            log.warning("could not return an unflushed usage batch to %s: %s", source, error)

    @staticmethod
    def _acknowledge(
        batches: list[tuple[UsageSource, UsageBatch]],
    ) -> list[tuple[UsageSource, UsageBatch]]:
        """Tell each store SQL has its batch; returns the ones that could not be told."""
        failed = []
        for source, batch in batches:
            try:
                source.ack_usage(batch)
            except Exception as error:  # noqa: BLE001 - retried first thing next flush
                log.warning("could not acknowledge a flushed usage batch: %s", error)
                failed.append((source, batch))
        return failed

    def stop(self) -> None:
        """Stop the thread and write what is left of both (graceful shutdown loses nothing)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        _survive(self.flush, "usage flush at shutdown failed")
        self.flush_last_used()
        atexit.unregister(self.stop)


def _survive(flush: Callable[[], int], message: str) -> None:
    try:
        flush()
    except Exception:  # noqa: BLE001 - the thread must outlive any one bad flush
        log.exception(message)
