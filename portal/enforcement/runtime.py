"""One enforcement runtime per process and database: store, directory, flusher and clock.

Framework-free: ``Enforcement.from_settings(mapping)`` builds one from settings (``os.environ``
works) with its own SQLAlchemy ``Engine``, or on an ``Engine`` the caller already has. The web
adapters find the runtime of the code running now through ``current_enforcement()``; the Flask
adapter (``init_enforcement(app)`` in ``flask.py``) binds one to an app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from portal import metrics
from portal.enforcement.directory import Directory, TenantPolicy
from portal.enforcement.engine import Admission, Decision, day_window, decide_rate, unavailable
from portal.enforcement.flusher import Flusher
from portal.enforcement.last_used import LastUsedTimes
from portal.enforcement.metering import day_to_date, sql_usage
from portal.enforcement.outbox import overage_in_outbox
from portal.enforcement.overage import PERIOD_METRIC_PREFIX, OverageWindow
from portal.enforcement.settings import Settings
from portal.enforcement.storage import StorageGauges
from portal.enforcement.stores.base import CounterStore, LiveCounts, StoreUnavailable
from portal.enforcement.stores.memory import MemoryStore

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
        last_used_seconds: float = 30.0,
        lease_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        owns_engine: bool = False,
    ) -> None:
        self.engine = engine
        self.store = store
        self.directory = Directory(store, engine)
        self.storage = StorageGauges(engine)
        self.last_used = LastUsedTimes(last_used_seconds)
        self.flusher = Flusher(
            engine, store.usage_sources, flush_seconds, self.last_used, lambda: self.clock()
        )
        healthy = getattr(store, "healthy", None)  # Redis behind its circuit breaker
        if healthy is not None:
            self.flusher.after_pass = lambda: metrics.redis_breaker(not healthy())
        self.lease_seconds = lease_seconds
        #: Wall-clock seconds; tests travel in time by replacing it.
        self.clock = clock
        #: Whether ``stop`` disposes of ``engine`` (it does when ``from_settings`` made it).
        self._owns_engine = owns_engine

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], *, engine: sa.Engine | None = None
    ) -> Enforcement:
        """A runtime configured by ``settings`` (names in ``settings.SETTING_NAMES``): the
        store REDIS_URL asks for (memory when unset), on ``engine`` or, without one, on an
        Engine of its own for DATABASE_URL (or SQLALCHEMY_DATABASE_URI)."""
        config = Settings.from_mapping(settings)
        owns_engine = engine is None
        if engine is None:
            if not config.database_url:
                raise ValueError(
                    "Enforcement needs the portal's database: set DATABASE_URL "
                    "(or SQLALCHEMY_DATABASE_URI)."
                )
            engine = sa.create_engine(config.database_url, **config.engine_options)
        return cls(
            engine,
            _counter_store(config, engine),
            flush_seconds=config.usage_flush_seconds,
            last_used_seconds=config.last_used_flush_seconds,
            lease_seconds=config.lease_seconds,
            owns_engine=owns_engine,
        )

    def admit(
        self, policy: TenantPolicy, metrics: Iterable[str]
    ) -> tuple[Decision, Admission | None]:
        """Check and count one call; the admission holds the lease to release when it ends."""
        now, overage = self.admission_terms(policy)
        try:
            admission = self.store.acquire(
                policy.tenant_id, policy.quota, now, self.lease_seconds, metrics, overage
            )
        except StoreUnavailable:
            return unavailable(UNAVAILABLE_MESSAGE), None
        return self.conclude(policy, admission, now, overage), admission

    def admission_terms(self, policy: TenantPolicy) -> tuple[float, OverageWindow | None]:
        """The moment of an admission and the overage window it is checked against (the
        flusher starts with the first admission)."""
        if self.flusher.idle:
            self.flusher.start()
        now = self.clock()
        terms = policy.overage
        return now, terms.window(now) if terms is not None and terms.enabled else None

    def conclude(
        self, policy: TenantPolicy, admission: Admission, now: float, overage: OverageWindow | None
    ) -> Decision:
        """A store's admission (sync or async) turned into the call's decision."""
        if admission.generation != policy.generation:
            self.directory.observe_generation(policy.tenant_id, admission.generation)
        return decide_rate(policy.tier, policy.limits, admission, now, overage)

    def release(self, tenant_id: int, lease: str) -> None:
        self.store.release(tenant_id, lease)

    def refund(self, policy: TenantPolicy, admission: Admission) -> Decision:
        """Take back an admitted call our own gates refused after all (it never counts, and is
        never billed); returns its rate headers' decision as if it had not been made."""
        self.store.refund(policy.tenant_id, admission)
        admission.minute_count -= 1
        admission.day_count -= 1
        admission.overage_calls = -1
        return decide_rate(policy.tier, policy.limits, admission, self.clock())

    def renewing(self, body: Iterable[Any], tenant_id: int, lease: str) -> RenewingBody:
        """``body`` with the lease renewed as its chunks go out and released when it is closed
        (see ``RenewingBody``)."""
        return RenewingBody(self, body, tenant_id, lease)

    def note_key_used(self, key_id: int) -> None:
        """The call came in with key ``key_id``: its ``last_used_at`` is written behind."""
        self.last_used.note(key_id)

    def live_counts(self, tenant_id: int) -> LiveCounts:
        return self.store.live_counts(tenant_id, self.clock())

    def add_usage(self, tenant_id: int, metric: str, amount: int) -> None:
        if metric.startswith(PERIOD_METRIC_PREFIX):
            raise ValueError("overage periods are counted by admissions only")
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

    def overage_status(self, tenant_id: int) -> OverageStatus | None:
        """A Pro tenant's overage this period (flushed to the outbox plus pending), or None for
        any other tier. The figures the cap is checked against, for the dashboard and alerts."""
        policy = self.directory.policy(tenant_id)
        if policy is None or policy.overage is None:
            return None
        now = self.clock()
        window = policy.overage.window(now)
        days = range(day_window(window.period_start), day_window(window.period_end - 1) + 1)
        calls = overage_in_outbox(self.engine, tenant_id, window.period_start)
        calls += self.store.pending_usage(tenant_id, window.metric, days)
        return OverageStatus(policy.overage.enabled, calls, window)

    def stop(self) -> None:
        """Write what is pending (usage and keys' last-used times), stop the flusher and let go
        of the store and of an engine of its own (idempotent; ``atexit`` does it too)."""
        self.flusher.stop()
        self.directory.detach()
        self.store.close()
        if self._owns_engine:
            self.engine.dispose()


@dataclass(frozen=True, slots=True)
class OverageStatus:
    """A Pro tenant's overage period so far: calls billed as overage against the cap's."""

    enabled: bool
    calls: int
    window: OverageWindow

    @property
    def remaining(self) -> int:
        return max(0, self.window.allowance - self.calls)


def _counter_store(config: Settings, engine: sa.Engine) -> CounterStore:
    """In-process counters, or Redis behind its circuit breaker when REDIS_URL is set (redis-py
    is imported only then). Both start a day's and a period's counts from SQL."""

    def calls_in_sql(tenant_id: int, day: int) -> int:
        return sql_usage(engine, tenant_id, API_CALLS, day_to_date(day), day_to_date(day))

    def overage_in_sql(tenant_id: int, period_start: int) -> int:
        return overage_in_outbox(engine, tenant_id, period_start)

    if not config.redis_url:
        return MemoryStore(day_seed=calls_in_sql, period_seed=overage_in_sql)
    from portal.enforcement.stores.guarded import GuardedStore
    from portal.enforcement.stores.redis import RedisStore, connect

    client = connect(config.redis_url, config.redis_timeout)
    store = RedisStore(client, config.redis_prefix, calls_in_sql, overage_in_sql)
    return GuardedStore(store, config.fail_mode)


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


#: How adapters tell which runtime the code running now belongs to (see ``current_enforcement``).
RuntimeFinder = Callable[[], Enforcement | None]
_finders: list[RuntimeFinder] = []


def register_finder(finder: RuntimeFinder) -> None:
    """Let an adapter answer ``current_enforcement()``: ``finder`` returns the runtime bound to
    what is running now (the Flask adapter: the current app's), or None when it does not know."""
    if finder not in _finders:
        _finders.append(finder)


def current_enforcement() -> Enforcement:
    """The runtime of the code running now, as the adapters find it (the plain functions use it)."""
    for finder in _finders:
        enforcement = finder()
        if enforcement is not None:
            return enforcement
    raise RuntimeError(
        "No enforcement runtime here: call init_enforcement(app) and run inside that Flask app."
    )
