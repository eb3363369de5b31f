"""Prometheus metrics: small functions the rest of the code calls, and the ``/metrics`` page.

Importing this module loads nothing else (the enforcement library imports it): the
``prometheus_client`` objects are made on first use. With ``PROMETHEUS_MULTIPROC_DIR`` set to
an empty directory before the processes start (several gunicorn workers), every process writes
its values there and ``/metrics`` adds them up; without it, one process's registry is served.

``/metrics`` answers only with a bearer token: ``METRICS_TOKEN`` unset means 404 (the page does
not exist), a missing or wrong token 401.

The per-call functions cost a dictionary lookup and one or two increments (a few
microseconds); the enforcement layer calls them after the call's slot is released. They never
raise: a metrics failure (a multiprocess folder deleted under a running process, a full disk)
is logged, at most once a minute per function, and the request it was counting goes on.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec

if TYPE_CHECKING:
    from flask import Flask, Response

log = logging.getLogger(__name__)
P = ParamSpec("P")

#: Enforcement's own time per call (identify, admit, headers): sub-millisecond when healthy.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
FLUSH_ROW_BUCKETS = (0, 1, 10, 100, 1000, 10_000, 100_000)


class _Metrics:
    """The metric objects, made once per process."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "continuum_http_requests", "Portal responses, by HTTP status.", ["status"]
        )
        self.api_calls = Counter(
            "continuum_api_calls",
            "API calls answered by the enforcement layer, by HTTP status.",
            ["status"],
        )
        self.rate_limited = Counter(
            "continuum_rate_limited",
            "API calls refused with 429, by tier and the limit that refused them.",
            ["tier", "limit"],
        )
        self.enforcement_seconds = Histogram(
            "continuum_enforcement_seconds",
            "Time enforcement adds to an API call (key, limits, headers), the view excluded.",
            buckets=LATENCY_BUCKETS,
        )
        self.webhooks = Counter(
            "continuum_webhook_events",
            "Stripe webhook deliveries, by outcome: processed, failed or duplicate.",
            ["outcome"],
        )
        self.flush_lag = Gauge(
            "continuum_usage_flush_lag_seconds",
            "Seconds between the last two successful usage flushes of a process.",
            multiprocess_mode="livemax",
        )
        self.flush_last = Gauge(
            "continuum_usage_flush_last_success_timestamp_seconds",
            "When a process last flushed usage to SQL (alert on time() minus this).",
            multiprocess_mode="livemax",
        )
        self.flush_rows = Histogram(
            "continuum_usage_flush_batch_rows",
            "Counter rows written per usage flush.",
            buckets=FLUSH_ROW_BUCKETS,
        )
        self.meter_lag = Gauge(
            "continuum_meter_report_lag_seconds",
            "Age of the oldest overage quantity not yet accepted by Stripe (0: none waiting).",
            multiprocess_mode="livemostrecent",
        )
        self.meter_backlog = Gauge(
            "continuum_meter_report_backlog",
            "Overage outbox rows waiting to be reported to Stripe.",
            multiprocess_mode="livemostrecent",
        )
        self.breaker_open = Gauge(
            "continuum_redis_breaker_open",
            "1 while a process's Redis circuit breaker is open (Redis unreachable), else 0.",
            multiprocess_mode="livemax",
        )
        self.children: dict[Any, Any] = {}
        self.last_flush: float | None = None


_metrics: _Metrics | None = None
_lock = threading.Lock()


def _m() -> _Metrics:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


def reset() -> None:
    """Forget this process's metric objects and choose prometheus_client's value class again
    from the environment (``PROMETHEUS_MULTIPROC_DIR`` set or not). For tests that switch the
    mode; a server picks it once, before its first metric."""
    global _metrics
    with _lock:
        if _metrics is not None:
            from prometheus_client import REGISTRY

            for metric in vars(_metrics).values():
                if hasattr(metric, "_name"):
                    REGISTRY.unregister(metric)
        _metrics = None
        _failures.clear()
    import sys

    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]


#: When each guarded function last logged a failure (monotonic seconds).
_failures: dict[str, float] = {}
LOG_EVERY_SECONDS = 60.0


def _guarded(count: Callable[P, None]) -> Callable[P, None]:
    """``count``, made unable to fail the request it counts: an error is logged instead (the
    first one, then at most once a minute per function)."""

    @functools.wraps(count)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            count(*args, **kwargs)
        except Exception:  # noqa: BLE001 - whatever broke, the request must not
            now = time.monotonic()
            last = _failures.get(count.__name__)
            if last is None or now - last >= LOG_EVERY_SECONDS:
                _failures[count.__name__] = now
                log.exception("metrics: %s failed; the request goes on uncounted", count.__name__)

    return guarded


def _child(metric: Any, *labels: str) -> Any:
    """A labelled child, cached (``labels()`` takes a lock and builds a tuple each time)."""
    children = _m().children
    key = (id(metric), labels)
    child = children.get(key)
    if child is None:
        child = children[key] = metric.labels(*labels)
    return child


@_guarded
def request_finished(status: int) -> None:
    """A portal response went out."""
    _child(_m().requests, str(status)).inc()


@_guarded
def api_call(status: int, tier: str | None, limit: str | None, seconds: float) -> None:
    """An API call was answered by the enforcement layer; ``limit`` names a 429's limit."""
    metrics = _m()
    _child(metrics.api_calls, str(status)).inc()
    metrics.enforcement_seconds.observe(seconds)
    if status == 429:
        _child(metrics.rate_limited, tier or "unknown", limit or "unknown").inc()


@_guarded
def webhook_event(outcome: str) -> None:
    """A webhook delivery ended: ``processed``, ``failed`` or ``duplicate``."""
    _child(_m().webhooks, outcome).inc()


@_guarded
def usage_flushed(rows: int) -> None:
    """A usage flush committed ``rows`` counter rows."""
    metrics = _m()
    now = time.monotonic()
    if metrics.last_flush is not None:
        metrics.flush_lag.set(now - metrics.last_flush)
    metrics.last_flush = now
    metrics.flush_last.set(time.time())
    metrics.flush_rows.observe(rows)


@_guarded
def redis_breaker(is_open: bool) -> None:
    """The Redis circuit breaker's state in this process."""
    _m().breaker_open.set(1 if is_open else 0)


@_guarded
def meter_report_backlog(oldest_age_seconds: float, rows: int) -> None:
    """The overage outbox: how long its oldest waiting row has waited, and how many wait."""
    metrics = _m()
    metrics.meter_lag.set(max(0.0, oldest_age_seconds))
    metrics.meter_backlog.set(rows)


# --- the page ------------------------------------------------------------------------------


def exposition() -> tuple[bytes, str]:
    """The text Prometheus scrapes: every process's values in multiprocess mode."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    _m()  # the metrics exist (at zero) before the first event
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _observe_meter_outbox() -> None:
    """Read the outbox's backlog now, so the scrape shows it as of this moment."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import MeterReport, utcnow

    oldest, waiting = db.session.execute(
        sa.select(sa.func.min(MeterReport.created_at), sa.func.count()).where(
            MeterReport.reported_at.is_(None), MeterReport.failed_at.is_(None)
        )
    ).one()
    age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    meter_report_backlog(age, int(waiting))


def init_app(app: Flask) -> None:
    """Serve ``/metrics`` and count the portal's responses by status."""
    from flask import Response, abort, request

    def metrics_page() -> Response:
        token = app.config.get("METRICS_TOKEN") or ""
        if not token:
            abort(404)
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return Response(
                "A valid bearer token is required.\n",
                status=401,
                mimetype="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        _observe_meter_outbox()
        body, content_type = exposition()
        return Response(body, content_type=content_type)

    app.add_url_rule("/metrics", "metrics", metrics_page)

    @app.after_request
    def count_response(response: Response) -> Response:
        request_finished(response.status_code)
        return response
