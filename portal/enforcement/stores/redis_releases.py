"""Concurrency-slot releases on their way to Redis: queued by ending calls, carried by the next
admission's own round trip, or sent by a background thread within ``RELEASE_DELAY_SECONDS``.

The same thread takes back admissions whose reply never came (``settle``, given by the store):
at once, and again every ``RELEASE_RETRY_SECONDS`` until Redis answers, so a call we refused
with 503 does not keep a slot and a count it ran with late, whether or not another call comes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

log = logging.getLogger("continuum.enforcement")

#: A queued slot release waits at most this long for an admission to carry it to Redis.
RELEASE_DELAY_SECONDS = 0.005
#: Releases Redis did not take are tried again this often, the newest this many of them.
RELEASE_RETRY_SECONDS = 0.25
MAX_RETRIED_RELEASES = 10_000

#: (the tenant's lease set, the lease) to remove from it.
Release = tuple[str, str]


class ReleaseQueue:
    """Releases waiting for a ride to Redis; safe to share between threads."""

    def __init__(
        self,
        client: redis.Redis,
        settle: Callable[[], None] | None = None,
        unsettled: Callable[[], bool] | None = None,
    ) -> None:
        self.client = client
        #: The store's undo of timed-out admissions, and whether any wait (see ``nudge``).
        self._settle = settle
        self._unsettled = unsettled or (lambda: False)
        #: Read without the lock on every admission (a list's truth is one attribute read).
        self.waiting: list[Release] = []
        #: When the queue last went from empty to not empty (monotonic seconds).
        self._queued_since = 0.0
        #: Whether a release was queued since the releaser thread last looked.
        self._released_lately = False
        #: Whether the releaser thread waits for ``_due`` (set by the next release).
        self._parked = False
        self._lock = threading.Lock()
        self._due = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, lease_key: str, lease: str) -> None:
        """Queue one release (no I/O)."""
        if self._thread is None:
            self._start()
        self.put_back([(lease_key, lease)])

    def take(self) -> list[Release]:
        """Everything queued, for an admission to carry."""
        with self._lock:
            releases, self.waiting = self.waiting, []
        return releases

    def put_back(self, releases: list[Release]) -> None:
        """Queue ``releases`` (new ones, or ones an admission could not carry after all)."""
        if not releases:
            return
        with self._lock:
            if not self.waiting:
                self._queued_since = time.monotonic()
            self.waiting.extend(releases)
            self._wake_locked()

    def nudge(self) -> None:
        """An admission timed out: have the thread settle it now (and until Redis answers)."""
        if self._thread is None:
            self._start()
        with self._lock:
            self._wake_locked()

    def _wake_locked(self) -> None:
        self._released_lately = True
        if self._parked:
            self._parked = False
            self._due.set()

    def send_all(self) -> None:
        """Send every queued release now, in one pipeline."""
        self._send(self.take())

    def close(self) -> None:
        self._closed = True
        self._due.set()
        self.send_all()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._send_late_releases, name="continuum-lease-releaser", daemon=True
                )
                self._thread.start()

    def _send_late_releases(self) -> None:
        """Send queued releases once the oldest has waited ``RELEASE_DELAY_SECONDS``.

        While calls keep coming, admissions carry the releases: this thread looks every delay,
        finds the queue younger than that, and sends nothing. It parks after a delay with no
        release at all, and the next release wakes it (an event per call would cost more than
        the look: a thread switch each time).
        """
        while not self._closed:
            wait, park = RELEASE_DELAY_SECONDS, False
            releases: list[Release] = []
            unsettled = self._unsettled()
            with self._lock:
                if self.waiting:
                    age = time.monotonic() - self._queued_since
                    if age >= RELEASE_DELAY_SECONDS:
                        releases, self.waiting = self.waiting, []
                    else:
                        wait = RELEASE_DELAY_SECONDS - age
                elif self._released_lately or unsettled:
                    self._released_lately = False
                else:
                    park = self._parked = True
                    self._due.clear()
            if park:
                self._due.wait()
                continue
            if releases:
                try:
                    self._send(releases)
                except redis.RedisError as error:
                    log.info("could not release concurrency leases yet (retrying): %s", error)
                    self.put_back(releases[-MAX_RETRIED_RELEASES:])
                    wait = RELEASE_RETRY_SECONDS
            if unsettled and self._settle is not None:
                try:
                    self._settle()  # the undos stay queued if Redis does not take them
                except redis.RedisError as error:
                    log.info("could not take back timed-out admissions yet (retrying): %s", error)
                    wait = RELEASE_RETRY_SECONDS
            time.sleep(wait)

    def _send(self, releases: list[Release]) -> None:
        if not releases:
            return
        pipe = self.client.pipeline(transaction=False)
        for lease_key, lease in releases:
            pipe.zrem(lease_key, lease)
        pipe.execute()
