"""The overage reporter: sends the meter_report outbox to Stripe as v1 meter events.

Exactly once: a row is claimed before it is sent, sent with its own identifier, and marked
``reported_at`` once Stripe accepted it (or said it already had that identifier, from a
resend after a crash or another reporter). A refused row is retried with exponential backoff,
or marked ``failed_at`` when Stripe refuses it for good. Stripe's limits hold: one call at a
time per customer (a customer's rows go one after another, on one worker) and at most
``METER_REPORT_MAX_RATE`` calls a second from this process.

The portal app runs one in a background thread from its first request (``init_reporter``),
every ``METER_REPORT_SECONDS`` and at shutdown; ``flask stripe report-usage [--watch]`` runs it
from the command line, once or in a loop.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from portal.billing import meter_outbox
from portal.billing.meter_outbox import ClaimedReport, Outcome
from portal.errors import BillingUnavailable, Conflict, PortalError
from portal.models import utcnow
from portal.plans import OVERAGE_METER_EVENT_NAME

if TYPE_CHECKING:
    from flask import Flask

    from portal.stripe_gateway import StripeGateway

log = logging.getLogger("continuum.billing.meter")

#: Stripe's limit on v1 meter event calls per second (per account, live mode).
STRIPE_MAX_CALLS_PER_SECOND = 1000
#: The issue's promise: pending overage reaches Stripe at least this often.
MAX_INTERVAL_SECONDS = 60.0
#: Backoff never waits longer than this between attempts.
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class ReporterSettings:
    """How the reporter runs; ``from_config`` reads the ``METER_REPORT_*`` settings."""

    interval_seconds: float = 30.0
    batch_size: int = 500
    workers: int = 8
    max_rate: float = STRIPE_MAX_CALLS_PER_SECOND
    lease: timedelta = timedelta(seconds=60)
    backoff: timedelta = timedelta(seconds=5)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ReporterSettings:
        """The settings in ``config`` (an app's), else in the environment, else the defaults."""

        def number(name: str, default: float) -> float:
            value = config.get(name, os.environ.get(name))
            return default if value in (None, "") else float(value)

        defaults = cls()
        return cls(
            interval_seconds=min(
                number("METER_REPORT_SECONDS", defaults.interval_seconds), MAX_INTERVAL_SECONDS
            ),
            batch_size=int(number("METER_REPORT_BATCH", defaults.batch_size)),
            workers=int(number("METER_REPORT_WORKERS", defaults.workers)),
            max_rate=min(number("METER_REPORT_MAX_RATE", defaults.max_rate), defaults.max_rate),
            lease=timedelta(seconds=number("METER_REPORT_LEASE_SECONDS", 60)),
            backoff=timedelta(seconds=number("METER_REPORT_BACKOFF_SECONDS", 5)),
        )


@dataclass
class ReportResult:
    """What one pass sent: rows and calls Stripe accepted (duplicates included), rows to retry
    and rows refused for good."""

    rows: int = 0
    calls: int = 0
    duplicates: int = 0
    retries: int = 0
    failures: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, other: ReportResult) -> None:
        self.rows += other.rows
        self.calls += other.calls
        self.duplicates += other.duplicates
        self.retries += other.retries
        self.failures += other.failures


class RateLimiter:
    """At most ``rate`` acquisitions a second across threads (evenly spaced)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._spacing = 1.0 / rate
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._spacing
        if slot > now:
            time.sleep(slot - now)


def backoff_delay(attempts: int, base: timedelta) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: base, 2 x base, 4 x base, ... capped."""
    return min(base * (2 ** max(0, attempts - 1)), MAX_BACKOFF)


def _transient(error: PortalError) -> bool:
    """Whether trying again later can succeed: Stripe unreachable or busy, a request racing."""
    return isinstance(error, (BillingUnavailable, Conflict)) or error.status_code in (429, 500)


class MeterReporter:
    """Sends due outbox rows; ``report_once`` is one pass, ``start`` runs passes in a thread."""

    def __init__(
        self,
        gateway: StripeGateway,
        settings: ReporterSettings | None = None,
        *,
        app: Flask | None = None,
    ) -> None:
        self.gateway = gateway
        self.settings = settings or ReporterSettings()
        self.app = app
        self.limiter = RateLimiter(self.settings.max_rate)
        self._pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="meter-report")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # one pass

    def report_once(self, *, tenant_id: int | None = None) -> ReportResult:
        """Send every due row (of ``tenant_id``, or all), batch after batch, until none is due.
        Runs inside an app context."""
        total = ReportResult()
        while True:
            now = utcnow()
            claimed = meter_outbox.claim(
                now,
                limit=self.settings.batch_size,
                lease=self.settings.lease,
                tenant_id=tenant_id,
            )
            if not claimed:
                return total
            result = self._send(claimed)
            meter_outbox.record(result.outcomes, utcnow())
            total.add(result)
            if result.rows == 0 and result.failures == 0:
                return total  # Stripe is failing for now: the rows wait out their backoff

    def _send(self, claimed: Sequence[ClaimedReport]) -> ReportResult:
        by_customer: dict[str | None, list[ClaimedReport]] = defaultdict(list)
        for report in claimed:
            by_customer[report.customer_id].append(report)
        result = ReportResult()
        for part in self._pool.map(self._send_customer, by_customer.values()):
            result.add(part)
            result.outcomes.extend(part.outcomes)
        return result

    def _send_customer(self, reports: list[ClaimedReport]) -> ReportResult:
        """Send one customer's rows one after another. After a transient error the rest wait
        as long as the failed one (Stripe is down or busy for this customer), unattempted."""
        result = ReportResult()
        for index, report in enumerate(reports):
            outcome = self._send_one(report)
            result.outcomes.append(outcome)
            if outcome.kind == "reported":
                result.rows += 1
                result.calls += report.quantity
                result.duplicates += outcome.duplicate
            elif outcome.kind == "failed":
                result.failures += 1
            else:
                result.retries += 1
                result.outcomes.extend(
                    Outcome(later, "deferred", next_attempt_at=outcome.next_attempt_at)
                    for later in reports[index + 1 :]
                )
                break
        return result

    def _send_one(self, report: ClaimedReport) -> Outcome:
        if not report.customer_id:
            return self._failed(report, "the tenant has no Stripe customer")
        self.limiter.acquire()
        try:
            sent = self.gateway.create_meter_event(
                event_name=OVERAGE_METER_EVENT_NAME,
                customer_id=report.customer_id,
                value=report.quantity,
                identifier=report.identifier,
                timestamp=report.event_time,
            )
        except PortalError as error:
            if not _transient(error):
                return self._failed(report, error.message)
            attempts = report.attempts + 1
            wait = backoff_delay(attempts, self.settings.backoff)
            log.warning(
                "meter report %s (tenant %s) not sent, attempt %s, retrying in %ss: %s",
                report.id,
                report.tenant_id,
                attempts,
                int(wait.total_seconds()),
                error.message,
            )
            return Outcome(report, "retry", error.message, utcnow() + wait)
        if sent.duplicate:
            log.info("meter report %s was already at Stripe (%s)", report.id, sent.identifier)
        return Outcome(report, "reported", duplicate=sent.duplicate)

    @staticmethod
    def _failed(report: ClaimedReport, reason: str) -> Outcome:
        log.error(
            "meter report %s refused for good: tenant %s, %s calls at %s, period %s: %s",
            report.id,
            report.tenant_id,
            report.quantity,
            report.event_time,
            report.period_start,
            reason,
        )
        return Outcome(report, "failed", reason)

    # the background thread

    def start(self) -> None:
        """Report every ``interval_seconds`` (and when woken) in a daemon thread, and once more
        when the process exits."""
        with self._start_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="meter-reporter", daemon=True)
            self._thread.start()
        atexit.register(self.stop)

    def wake(self) -> None:
        """Report now rather than at the next interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._pass_in_app()
            self._wake.wait(self.settings.interval_seconds)
            self._wake.clear()

    def _pass_in_app(self) -> None:
        try:
            if self.app is None:
                self.report_once()
                return
            with self.app.app_context():
                self.report_once()
                # Usage alerts ride on the same pass: what they read (today's counts, the
                # period's overage) was just flushed, and the pass runs in every portal process.
                from portal.billing.alerts import send_due_alerts

                send_due_alerts(utcnow())
        except Exception:  # the thread must outlive a bad pass (database down, ...)
            log.exception("meter report pass failed; retrying at the next interval")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the thread after a last pass (which sends what the final usage flush wrote)."""
        if self._thread is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        _flush_usage(self.app)
        self._pass_in_app()
        self._pool.shutdown(wait=True)


def _flush_usage(app: Flask | None) -> None:
    """Write this process's pending usage (and so its overage rows) to SQL first."""
    if app is None:
        return
    from portal.enforcement import enforcement_for

    try:
        enforcement_for(app).flusher.flush()
    except Exception:  # a failed flush is retried by the flusher's own shutdown
        log.exception("usage flush before the last meter report failed")


_reporters_lock = threading.Lock()


def reporter_for(app: Flask) -> MeterReporter:
    """The app's reporter (built once; not started)."""
    from portal.stripe_gateway import gateway_for

    with _reporters_lock:
        reporter = app.extensions.get("meter_reporter")
        if reporter is None:
            settings = ReporterSettings.from_config(app.config)
            reporter = MeterReporter(gateway_for(app), settings, app=app)
            app.extensions["meter_reporter"] = reporter
    assert isinstance(reporter, MeterReporter)
    return reporter


def init_reporter(app: Flask) -> None:
    """Start the app's reporter thread with its first request (so a CLI command or a process
    that forks workers after building the app starts none), unless it is off:
    ``METER_REPORTER_ENABLED`` false, no Stripe key, or under TESTING (tests run one
    themselves)."""
    config = app.config
    if app.testing or not config.get("METER_REPORTER_ENABLED", True):
        return
    if not config.get("STRIPE_SECRET_KEY"):
        return
    started = threading.Event()

    def start_reporter() -> None:
        if not started.is_set():
            reporter_for(app).start()
            started.set()

    app.before_request(start_reporter)


def report_tenant_now(app: Flask, tenant_id: int) -> tuple[int, int]:
    """Flush and report the tenant's pending overage now: (calls reported, calls pending)."""
    _flush_usage(app)
    result = reporter_for(app).report_once(tenant_id=tenant_id)
    return result.calls, meter_outbox.pending_calls(tenant_id)
