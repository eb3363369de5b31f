"""One enforcement runtime per process and database: store, directory, flusher and clock.

``init_enforcement(app)`` binds it to a Flask app (``create_app`` does this for the portal; the
CONTINUUM API shares the portal's runtime when both are served by one process, so the dashboard's
"calls this minute" reads the very counters the API enforces).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from portal.config import Config
from portal.enforcement.directory import Directory, TenantPolicy
from portal.enforcement.engine import Admission, Decision, day_window, decide_rate, unavailable
from portal.enforcement.metering import UsageFlusher, day_to_date, sql_usage
from portal.enforcement.storage import StorageGauges
from portal.enforcement.stores.base import CounterStore, LiveCounts
from portal.enforcement.stores.guarded import GuardedStore, StoreUnavailable
from portal.enforcement.stores.memory import MemoryStore
from portal.enforcement.stores.redis import RedisStore, connect
from portal.extensions import db

EXTENSION = "continuum_enforcement"
#: The portal settings enforcement (and the API-key lookups it makes) read.
PORTAL_SETTINGS = (
    "SQLALCHEMY_DATABASE_URI",
    "SQLALCHEMY_ENGINE_OPTIONS",
    "REDIS_URL",
    "ENFORCEMENT_FAIL_MODE",
    "USAGE_FLUSH_SECONDS",
    "API_KEY_LAST_USED_FLUSH_SECONDS",
)

#: Metric names in ``usage_counter`` (documented in the README).
API_CALLS = "api_calls"
FEDERATION_CONTRIBUTIONS = "federation_contributions"
METRIC_MAX_LENGTH = 160

UNAVAILABLE_MESSAGE = (
    "Usage limits cannot be checked right now (the rate-limit store is unreachable), so the "
    "call was not run. Please retry in a few seconds."
)


def endpoint_metric(route: str) -> str:
    """The per-endpoint call metric, e.g. ``api_calls:/api/memories``."""
    return f"{API_CALLS}:{route}"[:METRIC_MAX_LENGTH]


class Enforcement:
    """Everything one process needs to admit, release and meter calls."""

    def __init__(
        self,
        engine: sa.Engine,
        store: CounterStore,
        *,
        flush_seconds: float = 1.0,
        lease_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.store = store
        self.directory = Directory(store)
        self.storage = StorageGauges(engine)
        self.flusher = UsageFlusher(engine, store.usage_sources, flush_seconds)
        self.lease_seconds = lease_seconds
        #: Wall-clock seconds; tests travel in time by replacing it.
        self.clock = clock

    @classmethod
    def from_config(cls, app: Flask) -> Enforcement:
        """The store REDIS_URL asks for (memory when unset), on the app's database."""
        with app.app_context():
            engine = db.engine
        config = app.config

        def calls_in_sql(tenant_id: int, day: int) -> int:
            return sql_usage(engine, tenant_id, API_CALLS, day_to_date(day), day_to_date(day))

        store: CounterStore
        if config.get("REDIS_URL"):
            prefix = config.get("ENFORCEMENT_REDIS_PREFIX", "continuum:")
            client = connect(
                config["REDIS_URL"], float(config.get("ENFORCEMENT_REDIS_TIMEOUT", 0.1))
            )
            redis_store = RedisStore(client, prefix, calls_in_sql)
            store = GuardedStore(redis_store, config.get("ENFORCEMENT_FAIL_MODE", "closed"))
        else:
            store = MemoryStore(day_seed=calls_in_sql)
        return cls(
            engine,
            store,
            flush_seconds=float(config.get("USAGE_FLUSH_SECONDS", 1.0)),
            lease_seconds=float(config.get("ENFORCEMENT_LEASE_SECONDS", 30.0)),
        )

    def admit(
        self, policy: TenantPolicy, metrics: Iterable[str]
    ) -> tuple[Decision, Admission | None]:
        """Check and count one call; the admission holds the lease to release when it ends."""
        if self.flusher.idle:
            self.flusher.start()
        now = self.clock()
        try:
            admission = self.store.acquire(
                policy.tenant_id, policy.quota, now, self.lease_seconds, metrics
            )
        except StoreUnavailable:
            return unavailable(UNAVAILABLE_MESSAGE), None
        if admission.generation != policy.generation:
            self.directory.observe_generation(policy.tenant_id, admission.generation)
        return decide_rate(policy.tier, policy.limits, admission, now), admission

    def release(self, tenant_id: int, lease: str) -> None:
        self.store.release(tenant_id, lease)

    def renewing(self, body: Iterable[Any], tenant_id: int, lease: str) -> RenewingBody:
        """``body`` with the lease renewed as its chunks go out and released when it is closed
        (see ``RenewingBody``)."""
        return RenewingBody(self, body, tenant_id, lease)

    def live_counts(self, tenant_id: int) -> LiveCounts:
        return self.store.live_counts(tenant_id, self.clock())

    def add_usage(self, tenant_id: int, metric: str, amount: int) -> None:
        if self.flusher.idle:
            self.flusher.start()
        day = day_window(self.clock())
        self.store.add_usage(tenant_id, metric[:METRIC_MAX_LENGTH], day, amount)

    def usage(self, tenant_id: int, metric: str, first_day: int, last_day: int) -> int:
        """Flushed plus pending usage of ``metric`` over UTC days ``first_day..last_day``."""
        flushed = sql_usage(
            self.engine, tenant_id, metric, day_to_date(first_day), day_to_date(last_day)
        )
        pending = self.store.pending_usage(tenant_id, metric, range(first_day, last_day + 1))
        return flushed + pending

    def stop(self) -> None:
        """Flush what is pending, stop the flusher and let go of the store (idempotent)."""
        self.flusher.stop()
        self.directory.detach()
        self.store.close()


class RenewingBody:
    """A streamed body that renews its call's lease whenever more than half of it has run out,
    checked as each chunk goes out: a stream longer than the lease keeps its slot as long as
    chunks keep coming. Closing it closes the body it wraps and releases the lease.

    The release is here, not in a ``Response.call_on_close`` callback: the WSGI server closes
    the body it was given, and for a ``direct_passthrough`` response (``send_file``) that is
    this body itself, whose Response's callbacks never run."""

    def __init__(
        self, enforcement: Enforcement, body: Iterable[Any], tenant_id: int, lease: str
    ) -> None:
        self._enforcement = enforcement
        self._body = body
        self._tenant_id = tenant_id
        self._lease = lease
        self._released = False

    def __iter__(self) -> Iterator[Any]:
        enforcement = self._enforcement
        half = enforcement.lease_seconds / 2
        renew_at = enforcement.clock() + half
        for chunk in self._body:
            now = enforcement.clock()
            if now >= renew_at:
                enforcement.store.renew(
                    self._tenant_id, self._lease, now, enforcement.lease_seconds
                )
                renew_at = now + half
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if not self._released:
                self._released = True
                self._enforcement.release(self._tenant_id, self._lease)


def init_enforcement(app: Flask, *, share_with: Enforcement | None = None) -> Enforcement:
    """Bind enforcement to ``app``: its own runtime, or ``share_with`` another app's.

    Settings the app does not set come from the portal's environment (``Config``), so an API
    app that sets nothing uses the portal's database and Redis.
    """
    defaults = Config().as_dict()
    for name in PORTAL_SETTINGS:
        app.config.setdefault(name, defaults[name])
    if "sqlalchemy" not in app.extensions:
        db.init_app(app)
    enforcement = share_with or Enforcement.from_config(app)
    app.extensions[EXTENSION] = enforcement
    return enforcement


def enforcement_for(app: Flask | None = None) -> Enforcement:
    """The runtime bound to ``app`` (default: the current app)."""
    target = app or current_app
    try:
        enforcement: Enforcement = target.extensions[EXTENSION]
    except KeyError:
        raise RuntimeError(
            "Enforcement is not set up on this app: call init_enforcement(app) first."
        ) from None
    return enforcement
