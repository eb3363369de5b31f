"""Test helpers: run the simulator as a subprocess and receive its webhooks.

``SimulatorProcess`` starts ``python -m stripe_sim`` on a free port with a temporary
database; ``WebhookReceiver`` is a tiny HTTP server that records signed deliveries. Neither needs
pytest: the fixtures built on them (``stripe_sim``, ``sim``, ``webhook_receiver``) are in
``stripe_sim.pytest_plugin``, which pytest loads through the distribution's ``pytest11`` entry
point.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import stripe

_READY = re.compile(rb"stripe-sim listening on http://127\.0\.0\.1:(\d+)")
# The directory holding the stripe_sim package, so the subprocess imports this same copy of it.
_ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


def _poll(read: Callable[[], T], predicate: Callable[[T], bool], timeout: float) -> T:
    """Call ``read`` every 50 ms until ``predicate`` holds of its answer or ``timeout`` passes;
    returns the last answer either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@dataclass
class PageResult:
    """What the hosted page answered: status, redirect target (if any) and HTML."""

    status: int
    location: str | None
    body: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def advance_clock(client: stripe.StripeClient, clock_id: str, frozen_time: int,
                  timeout: float = 30.0) -> Any:
    """Advance a test clock and wait until it is ``ready`` again (advancing is asynchronous,
    as at Stripe); returns the ready clock."""
    clocks = client.v1.test_helpers.test_clocks
    clocks.advance(clock_id, {"frozen_time": frozen_time})
    clock = _poll(lambda: clocks.retrieve(clock_id), lambda c: c.status != "advancing", timeout)
    if clock.status != "ready":
        raise RuntimeError(f"test clock {clock_id} is {clock.status}, not ready")
    return clock


class SimulatorProcess:
    """The simulator in its own process. ``stop()`` and ``start()`` keep the port and data."""

    def __init__(self, api_key: str = "sk_test_simulator", *, retry_base: float = 0.05,
                 max_attempts: int = 4, delivery_timeout: float = 2.0,
                 latency_ms: int = 0) -> None:
        self.api_key = api_key
        self.latency_ms = latency_ms
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self.delivery_timeout = delivery_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="stripe-sim-"))
        self.db = self.workdir / "stripe_sim.sqlite3"
        self.log_path = self.workdir / "stripe_sim.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # Process control ----------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> SimulatorProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # The API key goes by environment, not argv: ``ps`` shows every process's arguments.
        env = dict(os.environ, STRIPE_SIM_API_KEY=self.api_key, PYTHONPATH=os.pathsep.join(
            [str(_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "stripe_sim", "--port", str(self.port),
                 "--db", str(self.db),
                 "--webhook-retry-base", str(self.retry_base),
                 "--webhook-max-attempts", str(self.max_attempts),
                 "--webhook-timeout", str(self.delivery_timeout),
                 "--latency-ms", str(self.latency_ms)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _READY.search(self.log_path.read_bytes()[offset:])
            if match:
                self.port = int(match.group(1))
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"stripe simulator did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def close(self) -> None:
        """Stop the process and delete its temporary directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # SDK and control endpoints ------------------------------------------------------------
    def client(self, **options: Any) -> stripe.StripeClient:
        """A real SDK client pointed at the simulator (no network retries unless asked)."""
        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(self.api_key, base_addresses={"api": self.url}, **options)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call a ``/_sim/`` endpoint and return its JSON."""
        request = urllib.request.Request(
            f"{self.url}/_sim/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.api_key}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self.control("POST", "reset")

    def add_webhook_endpoint(self, url: str, secret: str) -> None:
        self.control("POST", "webhook_endpoints", {"url": url, "secret": secret})

    def add_event_destination(self, url: str, secret: str) -> None:
        """Send thin (v2) events, such as meter error reports, to ``url``."""
        self.control("POST", "event_destinations", {"url": url, "secret": secret})

    def set_switches(self, **switches: bool) -> dict[str, bool]:
        """``duplicate``, ``reverse`` (newest first) and ``hold`` delivery switches."""
        return self.control("POST", "switches", switches)

    def hold_deliveries(self) -> None:
        self.set_switches(hold=True)

    def release_deliveries(self, *, reverse: bool = False) -> int:
        """Stop holding and send what was held (newest first when ``reverse``)."""
        self.set_switches(hold=False, reverse=reverse)
        return self.control("POST", "deliveries/release")["released"]

    def deliveries(self) -> list[dict[str, Any]]:
        return self.control("GET", "deliveries")["data"]

    def settings(self, **settings: Any) -> dict[str, Any]:
        """Read or change ``dunning_final_state`` and ``dunning_retry_days``."""
        return self.control("POST", "settings", settings) if settings else \
            self.control("GET", "settings")

    def wait_for_deliveries(self, predicate: Callable[[list[dict[str, Any]]], bool],
                            timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll the delivery list until ``predicate(deliveries)`` holds."""
        return _poll(self.deliveries, predicate, timeout)

    # Hosted pages -------------------------------------------------------------------------
    def submit_page(self, url: str, form: dict[str, str] | None = None) -> PageResult:
        """GET (``form=None``) or POST a hosted page without following redirects."""
        data = None if form is None else urllib.parse.urlencode(form).encode()
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(urllib.request.Request(url, data=data), timeout=30) as response:
                return PageResult(response.status, None, response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return PageResult(error.code, error.headers.get("Location"),
                                  error.read().decode())

    def pay_checkout(self, checkout_url: str, card: str = "4242424242424242", *,
                     email: str | None = "payer@example.com", name: str = "Test Payer",
                     authenticate: bool = True) -> PageResult:
        """Fill the hosted Checkout form like a person; completes or fails 3-D Secure too."""
        form = {"card_number": card, "expiry": "12 / 34", "cvc": "123", "name": name}
        if email:
            form["email"] = email
        result = self.submit_page(checkout_url, form)
        if result.location and result.location.endswith("/authenticate"):
            result = self.submit_page(self.url + result.location,
                                      {"action": "complete" if authenticate else "fail"})
        return result


class WebhookReceiver:
    """Records POSTed webhooks; ``fail_next`` makes the next N deliveries answer 500."""

    def __init__(self, secret: str = "whsec_test_receiver") -> None:
        self.secret = secret
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= 1 if failing else 0
                    receiver.requests.append({"body": body.decode(), "headers": dict(
                        self.headers), "answered": 500 if failing else 200})
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[stripe.Event]:
        """Every accepted delivery, verified with ``stripe.Webhook.construct_event``."""
        with self._lock:
            accepted = [r for r in self.requests if r["answered"] == 200]
        return [stripe.Webhook.construct_event(r["body"], r["headers"]["Stripe-Signature"],
                                               self.secret) for r in accepted]

    def notifications(self, client: stripe.StripeClient) -> list[Any]:
        """Every accepted delivery as a thin event notification, verified and parsed with
        ``client.parse_event_notification`` (for a receiver used as an event destination)."""
        with self._lock:
            accepted = [r for r in self.requests if r["answered"] == 200]
        return [client.parse_event_notification(r["body"], r["headers"]["Stripe-Signature"],
                                                 self.secret) for r in accepted]

    def wait_for_notifications(self, client: stripe.StripeClient,
                               predicate: Callable[[list[Any]], bool],
                               timeout: float = 10.0) -> list[Any]:
        return _poll(lambda: self.notifications(client), predicate, timeout)

    def wait_for(self, predicate: Callable[[list[stripe.Event]], bool],
                 timeout: float = 10.0) -> list[stripe.Event]:
        """Poll the verified events until ``predicate(events)`` holds."""
        return _poll(self.events, predicate, timeout)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.fail_next = 0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
