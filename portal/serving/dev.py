"""``make run``: the embedded default in one process, plus the Stripe simulator beside it.

It starts a development mail server (real SMTP, printing what it receives), starts the Stripe
simulator wired to the portal's webhook endpoint, creates the Pro products and prices there
(``flask stripe bootstrap``), and serves the portal and the example CONTINUUM API together on
http://127.0.0.1:$PORT/ in one threaded process, which is what the in-process counters need.
With a real Stripe key and no STRIPE_API_BASE it starts no simulator.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import run_simple

from portal.config import INSTANCE_DIR
from portal.serving.log_redaction import RedactingRequestHandler

log = logging.getLogger("continuum.devserver")


class PrintingMailbox:
    """An aiosmtpd handler that prints each message, so reset links can be followed locally."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(
            f"\n--- mail to {message['To']}: {message['Subject']}\n"
            f"{body.get_content() if body else ''}\n---",
            flush=True,
        )
        return "250 OK"


def start_mail_server(host: str, port: int) -> Any:
    from aiosmtpd.controller import Controller

    controller = Controller(PrintingMailbox(), hostname=host, port=port)
    controller.start()
    log.info("development mail server on %s:%s (messages are printed here)", host, port)
    return controller


def simulator_launch(
    api_base: str, portal_url: str, environ: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The simulator's command line and environment. Its secrets (the API key and the webhook
    signing secrets) go in the environment, which only its owner can read, never on the
    command line, which ``ps`` shows to every user of the machine."""
    port = urlsplit(api_base).port or 12111
    command = [
        sys.executable,
        "-m",
        "stripe_sim",
        "--port",
        str(port),
        "--db",
        str(INSTANCE_DIR / "stripe_sim.sqlite3"),
        "--webhook-url",
        f"{portal_url}/billing/webhook",
    ]
    env = dict(
        environ,
        STRIPE_SIM_API_KEY=environ["STRIPE_SECRET_KEY"],
        STRIPE_SIM_WEBHOOK_SECRET=environ["STRIPE_WEBHOOK_SECRET"],
    )
    thin_secret = environ.get("STRIPE_THIN_WEBHOOK_SECRET")
    if thin_secret:  # the event destination for the meter's error reports (thin events)
        command += ["--event-destination-url", f"{portal_url}/billing/webhook/thin"]
        env["STRIPE_SIM_EVENT_DESTINATION_SECRET"] = thin_secret
    else:
        log.warning("STRIPE_THIN_WEBHOOK_SECRET is not set: meter error reports are not delivered")
    return command, env


def start_simulator(api_base: str, portal_url: str) -> subprocess.Popen[bytes]:
    command, env = simulator_launch(api_base, portal_url, os.environ)
    process = subprocess.Popen(command, env=env)
    wait_until_up(f"{api_base}/_sim/health", process)
    log.info("Stripe simulator on %s (webhooks to %s/billing/webhook)", api_base, portal_url)
    return process


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the Stripe simulator exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SystemExit(f"the Stripe simulator did not answer at {url} within {timeout:.0f} s")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("stripe").setLevel(logging.WARNING)  # the SDK logs every request at INFO
    from dotenv import load_dotenv

    from portal.config import ROOT

    load_dotenv(ROOT / ".env", override=False)
    port = int(os.environ.get("PORT", "5000"))
    portal_url = f"http://127.0.0.1:{port}"
    os.environ.setdefault("PORTAL_BASE_URL", portal_url)
    api_base = os.environ.get("STRIPE_API_BASE", "")
    os.environ["SERVE_EXAMPLE_API"] = "1"  # wsgi.py mounts the example API under /api

    mail = start_mail_server(
        os.environ.get("SMTP_HOST", "127.0.0.1"), int(os.environ.get("SMTP_PORT", "8025"))
    )
    simulator = start_simulator(api_base, portal_url) if api_base else None
    try:
        from wsgi import app, application

        with app.app_context():
            from portal.billing.cli import bootstrap_catalog

            for line in bootstrap_catalog():
                log.info("stripe bootstrap: %s", line)
        print(f"\n  CONTINUUM portal: {portal_url}/   (example API under {portal_url}/api/)\n")
        run_simple(
            "127.0.0.1",
            port,
            application,
            threaded=True,
            use_reloader=False,
            request_handler=RedactingRequestHandler,  # no reset token in the access log
        )
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=10)
        mail.stop()


if __name__ == "__main__":
    main()
