"""Issue 12, item 11: nosniff on the API, trusted hosts only, no reset token in access logs,
the simulator's secrets kept off its command line, and a cap and a throttle on API keys."""

from __future__ import annotations

import logging
import os
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from examples.continuum_api import create_api_app
from portal.config import Config
from portal.enforcement import enforcement_for
from portal.extensions import db
from portal.keys.api_keys import MAX_ACTIVE_KEYS, create_api_key
from portal.models import ApiKey, Tenant
from portal.serving.dev import simulator_launch
from portal.serving.log_redaction import (
    RedactingGunicornLogger,
    RedactingRequestHandler,
    redact,
)
from stripe_sim.__main__ import parse_args

TOKEN = "eyJ1c2VyIjoxLCJwdyI6ImFiYyJ9.Z2kLmA.c2VjcmV0LXNpZ25hdHVyZQ"


def test_the_api_sends_nosniff(app, app_config, factory):
    api = create_api_app(app_config, enforcement=enforcement_for(app)).test_client()
    account = factory.account(key=True)
    for response in (
        api.get("/health"),
        api.get("/api/memories", headers=account.headers),
        api.get("/api/memories"),  # a refusal too
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    enforcement_for(app).stop()


def test_an_untrusted_host_is_refused_and_never_reflected(app):
    app.config["TRUSTED_HOSTS"] = ["portal.example"]
    refused = app.test_client().get("/keys", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert "evil.example" not in refused.headers.get("Location", "")
    served = app.test_client().get("/keys", headers={"Host": "portal.example"})
    assert served.status_code == 302
    assert "evil" not in served.headers["Location"]


def test_trusted_hosts_default_to_the_portal_base_url_outside_development(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://billing.example.com")
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    assert Config().TRUSTED_HOSTS == ["billing.example.com"]
    monkeypatch.setenv("TRUSTED_HOSTS", "a.example, b.example")
    assert Config().TRUSTED_HOSTS == ["a.example", "b.example"]


def test_the_development_server_logs_no_reset_token(app, caplog):
    server = make_server("127.0.0.1", 0, app, request_handler=RedactingRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            url = f"http://127.0.0.1:{server.server_port}/reset-password/{TOKEN}"
            try:
                urllib.request.urlopen(url, timeout=5)
            except urllib.error.HTTPError as answer:
                assert answer.code == 400  # the token is not a valid one
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("/reset-password/[redacted]" in line for line in lines), lines
    assert not any(TOKEN in line for line in lines)


def test_gunicorn_logs_no_reset_token():
    from gunicorn.config import Config as GunicornConfig

    config = GunicornConfig()
    config.set("logger_class", "portal.serving.log_redaction.RedactingGunicornLogger")
    assert config.logger_class is RedactingGunicornLogger
    conf_text = open("portal/serving/gunicorn_conf.py").read()
    assert '"portal.serving.log_redaction.RedactingGunicornLogger"' in conf_text
    logger = RedactingGunicornLogger(config)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/reset-password/{TOKEN}",
        "PATH_INFO": f"/reset-password/{TOKEN}",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://portal.example/reset-password/{TOKEN}",
    }
    response = SimpleNamespace(status="302 FOUND", sent=0, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))
    line = config.access_log_format % atoms + " " + repr(atoms)
    assert TOKEN not in line
    assert atoms["r"] == "POST /reset-password/[redacted] HTTP/1.1"


def test_redact_skips_text_without_a_reset_path_and_redacts_every_token_in_the_rest():
    # The substring test before the regex (the access log's ~50 atoms a line) changes nothing.
    assert redact("POST /billing/webhook HTTP/1.1") == "POST /billing/webhook HTTP/1.1"
    assert redact("/reset-password/") == "/reset-password/"
    line = f"/a/reset-password/{TOKEN}?next=1 https://x/reset-password/{TOKEN}#f"
    assert (
        redact(line) == "/a/reset-password/[redacted]?next=1 https://x/reset-password/[redacted]#f"
    )


def test_a_percent_encoded_reset_path_is_redacted_too(app):
    """The server decodes the path before routing, so an encoded one still opens the reset
    page with the token in it: the log must not keep it either."""
    encoded = f"GET /reset%2Dpassword/{TOKEN} HTTP/1.1"
    assert TOKEN not in redact(encoded)
    assert redact(encoded) == "GET /reset-password/[redacted] HTTP/1.1"
    assert redact("GET /search?q=100%25 HTTP/1.1") == "GET /search?q=100%25 HTTP/1.1"
    page = app.test_client().get(f"/reset%2Dpassword/{TOKEN}")
    assert page.status_code != 404  # it does route: the redaction above is needed


def test_the_simulator_gets_its_secrets_by_environment_not_argv():
    environ = {
        "STRIPE_SECRET_KEY": "sk_test_secret_key_value",
        "STRIPE_WEBHOOK_SECRET": "whsec_secret_value",
        "STRIPE_THIN_WEBHOOK_SECRET": "whsec_thin_secret_value",
    }
    command, env = simulator_launch("http://127.0.0.1:12111", "http://127.0.0.1:5000", environ)
    for secret in environ.values():
        assert not any(secret in part for part in command), command
    # What the simulator's command line makes of that command and environment:
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        args = parse_args(command[3:])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert args.api_key == "sk_test_secret_key_value"
    assert args.webhook_secret == ["whsec_secret_value"]
    assert args.event_destination_secret == ["whsec_thin_secret_value"]
    assert args.webhook_url == ["http://127.0.0.1:5000/billing/webhook"]


def _active_keys(app, tenant_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ApiKey)
            .where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
        )


@pytest.mark.both_dbs
def test_a_tenant_holds_at_most_50_active_keys(app, factory):
    account = factory.account()
    with app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        for number in range(MAX_ACTIVE_KEYS):
            create_api_key(tenant, f"key {number}")
    refused = account.post("/keys", {"name": "one too many"})
    assert refused.status_code == 409
    assert "already has 50 active API keys" in refused.get_data(as_text=True)
    assert _active_keys(app, account.tenant_id) == MAX_ACTIVE_KEYS
    with app.app_context():
        first = db.session.scalar(sa.select(ApiKey.id).order_by(ApiKey.id).limit(1))
    assert account.post(f"/keys/{first}/revoke").status_code == 303
    assert account.post("/keys", {"name": "in its place"}).status_code == 201


def test_key_creation_is_throttled(app, factory):
    account = factory.account()
    for number in range(10):
        assert account.post("/keys", {"name": f"key {number}"}).status_code == 201
    throttled = account.post("/keys", {"name": "too fast"})
    assert throttled.status_code == 429
    assert _active_keys(app, account.tenant_id) == 10
