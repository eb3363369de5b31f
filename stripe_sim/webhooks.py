"""Events and their webhook deliveries: signed like Stripe, sent by one background thread.

A delivery that gets no 2xx (or times out) is retried with exponential backoff. Switches let
tests duplicate deliveries, deliver newest first, or hold deliveries until released.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import stripe
from flask import g, has_request_context

from stripe_sim import objects, thin_events
from stripe_sim.context import Sim

log = logging.getLogger("stripe_sim")


def emit(sim: Sim, kind: str, obj: dict[str, Any], created: int,
         previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record an event about ``obj`` (inside the caller's transaction) and queue its deliveries."""
    request = {"id": None, "idempotency_key": None}
    if has_request_context() and "stripe_request" in g:
        request = dict(g.stripe_request)
    endpoints = [e for e in sim.endpoints() if _wants(e, kind)]
    event = objects.event(created, kind, objects.public(obj), previous, request,
                          stripe.api_version, len(endpoints))
    sim.store.put(event)
    switches = sim.switches()
    state = "held" if switches["hold"] else "pending"
    for endpoint in endpoints:
        for _ in range(2 if switches["duplicate"] else 1):
            sim.store.execute(
                "INSERT INTO deliveries (event_id, event_type, url, secret, state, next_attempt_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (event["id"], kind, endpoint["url"], endpoint["secret"], state, time.time()),
            )
    sim.store.after_commit(sim.wake.set)
    return event


def _wants(endpoint: dict[str, Any], kind: str) -> bool:
    """Whether an endpoint's ``enabled_events`` (all when absent or ``*``) include ``kind``."""
    wanted = endpoint.get("enabled_events") or ["*"]
    return "*" in wanted or kind in wanted


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's ``previous_attributes``: old values of the changed fields (nested hashes by key)."""
    previous = {}
    for key, old in objects.public(before).items():
        new = after.get(key)
        if new == old:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and "object" not in old:
            previous[key] = {k: old.get(k) for k in sorted(old.keys() | new.keys())
                             if old.get(k) != new.get(k)}
        else:
            previous[key] = old
    return previous


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def release(sim: Sim) -> int:
    """Turn held deliveries into pending ones; returns how many were released."""
    with sim.store.transaction() as store:
        released = store.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = ? WHERE state = 'held'",
            (time.time(),),
        ).rowcount
        store.after_commit(sim.wake.set)
    return released


def deliveries(sim: Sim) -> list[dict[str, Any]]:
    rows = sim.store.execute("SELECT * FROM deliveries ORDER BY seq").fetchall()
    return [{k: row[k] for k in row.keys() if k != "secret"} for row in rows]


class Deliverer(threading.Thread):
    """Sends due deliveries one at a time, outside any store transaction."""

    def __init__(self, sim: Sim) -> None:
        super().__init__(name="stripe-sim-webhooks", daemon=True)
        self.sim = sim
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            job = self._next_job()
            if job is None:
                self.sim.wake.wait(self._idle_seconds())
                self.sim.wake.clear()
                continue
            self._attempt(job)

    def stop(self) -> None:
        self.stopping = True
        self.sim.wake.set()

    def _next_job(self) -> dict[str, Any] | None:
        order = "DESC" if self.sim.switches()["reverse"] else "ASC"
        with self.sim.store.transaction() as store:
            row = store.execute(
                "SELECT * FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? "
                f"ORDER BY seq {order} LIMIT 1",  # noqa: S608 - order is one of two literals
                (time.time(),),
            ).fetchone()
            if row is None:
                return None
            job = dict(row)
            job["event"] = store.get(job["event_id"])
            if job["event"] is None:  # forgotten by a reset while queued
                store.execute("DELETE FROM deliveries WHERE seq = ?", (job["seq"],))
                return None
        return job

    def _idle_seconds(self) -> float:
        row = self.sim.store.execute(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        ).fetchone()
        if row[0] is None:
            return 1.0
        return min(max(row[0] - time.time(), 0.01), 1.0)

    def _attempt(self, job: dict[str, Any]) -> None:
        event = job["event"]
        body = thin_events.notification(event) if event["object"] == thin_events.KIND else event
        payload = json.dumps(body, indent=2)
        request = urllib.request.Request(
            job["url"], data=payload.encode(), method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, job["secret"], int(time.time())),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) stripe-sim",
            },
        )
        status, error = None, None
        try:
            with urllib.request.urlopen(request, timeout=self.sim.delivery_timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, exc.reason
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
        self._record(job, status, error)

    def _record(self, job: dict[str, Any], status: int | None, error: str | None) -> None:
        attempts = job["attempts"] + 1
        ok = status is not None and 200 <= status < 300
        if ok:
            state, next_at = "delivered", job["next_attempt_at"]
        elif attempts >= self.sim.max_attempts:
            state, next_at = "failed", job["next_attempt_at"]
        else:
            state, next_at = "pending", time.time() + self.sim.retry_base * 2 ** (attempts - 1)
        with self.sim.store.transaction() as store:
            store.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?,"
                " last_status = ?, last_error = ? WHERE seq = ?",
                (state, attempts, next_at, status, error, job["seq"]),
            )
            event = store.get(job["event_id"], "event")
            if ok and event is not None:
                event["pending_webhooks"] = max(event["pending_webhooks"] - 1, 0)
                store.put(event)
        outcome = f"retry in {next_at - time.time():.2f}s" if state == "pending" else state
        log.info("webhook %s %s -> %s %s%s (attempt %d, %s)", job["event_id"], job["event_type"],
                 job["url"], status or "no response", f" {error}" if error else "", attempts,
                 outcome)
