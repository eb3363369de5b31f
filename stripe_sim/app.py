"""The simulator's Flask app: Stripe's API under /v1, hosted pages, and /_sim/ controls."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from stripe_sim import api, concurrency, control, pages
from stripe_sim.api import json_response
from stripe_sim.context import Sim
from stripe_sim.errors import StripeError
from stripe_sim.routes import (  # noqa: F401 - importing registers the endpoints
    billing_api,
    catalog,
    checkout,
    customers,
    items,
    meters,
    misc,
    setup,
)
from stripe_sim.store import Store
from stripe_sim.webhooks import Deliverer

log = logging.getLogger("stripe_sim")
API_PREFIXES = ("/v1/", "/v2/")  # Stripe's API; the hosted pages and /_sim/ are not delayed


def create_app(sim: Sim, *, deliver_webhooks: bool = True) -> Flask:
    """Build the app around ``sim``; starts the webhook delivery thread unless told not to."""
    app = Flask(__name__)
    app.extensions["stripe_sim"] = sim
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(control.bp)
    app.before_request(_start_timer)
    app.after_request(_log_request)
    app.teardown_request(concurrency.release)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    if deliver_webhooks:
        deliverer = Deliverer(sim)
        deliverer.start()
        app.extensions["stripe_sim_deliverer"] = deliverer
    return app


def build_sim(db: str, api_key: str, public_url: str, endpoints: list[dict[str, str]],
              retry_base: float, max_attempts: int, timeout: float,
              destinations: list[dict[str, str]] | None = None, latency_ms: int = 0) -> Sim:
    return Sim(store=Store(db), api_key=api_key, public_url=public_url,
               startup_endpoints=endpoints, startup_destinations=destinations or [],
               retry_base=retry_base, max_attempts=max_attempts, delivery_timeout=timeout,
               latency_ms=latency_ms)


def _start_timer() -> Response | None:
    g.started = time.perf_counter()
    if not request.path.startswith(API_PREFIXES):
        return None
    sim: Sim = current_app.extensions["stripe_sim"]
    taken = concurrency.claim(sim)
    if taken is not None:
        return json_response(taken.body(), taken.status)
    if sim.latency_ms:
        time.sleep(sim.latency_ms / 1000)  # outside any store transaction: others go on
    return None


def _log_request(response: Response) -> Response:
    elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    log.info("%s %s %s %.0fms%s", request.method, unquote(request.full_path.rstrip("?")),
             response.status_code, elapsed,
             f" {g.request_id}" if "request_id" in g else "")
    return response


def _http_error(error: HTTPException) -> Any:
    if request.path.startswith(API_PREFIXES):
        message = (f"Unrecognized request URL ({request.method}: {request.path})."
                   if error.code in (404, 405) else str(error.description))
        return json_response(StripeError(message, status=error.code or 400).body(),
                             error.code or 400)
    return pages.render_message(error.name, error.description or "", error.code or 500)


def _unexpected_error(error: Exception) -> Any:
    log.exception("unexpected error on %s %s", request.method, request.path)
    body = StripeError(f"The Stripe simulator failed: {error!r}", status=500,
                       type="api_error").body()
    return json_response(body, 500)
