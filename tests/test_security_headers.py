"""Security headers on every response, the CSP's Stripe origins, and the nonce in pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.teams.access import ACCESS, PUBLIC
from portal.web.security import content_security_policy, stripe_form_origins


def csp_directives(response: Any) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


@pytest.mark.parametrize("path", ["/", "/no-such-page", "/static/css/portal.css"])
def test_every_response_carries_the_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "camera=()" in headers["Permissions-Policy"]
    directives = csp_directives(response)
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["style-src"] == "'self'"
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers  # development over plain HTTP


def test_scripts_carry_this_requests_nonce(client: FlaskClient) -> None:
    first, second = client.get("/"), client.get("/")
    nonce = re.search(r"'nonce-([^']+)'", csp_directives(first)["script-src"])
    assert nonce
    html = first.get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(f'nonce="{nonce.group(1)}"' in tag for tag in scripts)
    assert csp_directives(second)["script-src"] != csp_directives(first)["script-src"]
    assert '"includeIndicatorStyles":false' in html  # htmx would inject an inline <style>


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        ("", ("https://checkout.stripe.com", "https://billing.stripe.com")),
        ("http://127.0.0.1:41234/", ("http://127.0.0.1:41234",)),
        ("https://sim.example.test/v1", ("https://sim.example.test",)),
    ],
)
def test_forms_may_lead_to_stripe_or_the_simulator(api_base: str, expected: tuple) -> None:
    assert stripe_form_origins(api_base) == expected
    policy = content_security_policy("n", expected)
    assert f"form-action 'self' {' '.join(expected)}" in policy


def test_simulator_origin_reaches_the_header(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "STRIPE_API_BASE": "http://127.0.0.1:5999"})
    directives = csp_directives(app.test_client().get("/"))
    assert directives["form-action"] == "'self' http://127.0.0.1:5999"
    assert directives["connect-src"] == "'self'"


def test_hsts_outside_development(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "ENV_NAME": "production"})
    assert "max-age=" in app.test_client().get("/").headers["Strict-Transport-Security"]


def test_cross_origin_redirect_for_htmx_becomes_hx_redirect(app: Flask, monkeypatch) -> None:
    from flask import redirect

    # Every portal route declares who may open it (portal.teams.access); these are public.
    monkeypatch.setitem(ACCESS, "to_stripe", PUBLIC)
    monkeypatch.setitem(ACCESS, "to_home", PUBLIC)
    app.add_url_rule("/to-stripe", "to_stripe", lambda: redirect("https://checkout.stripe.com/c/1"))
    app.add_url_rule("/to-home", "to_home", lambda: redirect("/"))
    client = app.test_client()
    boosted = client.get("/to-stripe", headers={"HX-Request": "true"})
    assert boosted.status_code == 200
    assert boosted.headers["HX-Redirect"] == "https://checkout.stripe.com/c/1"
    assert "Location" not in boosted.headers
    plain = client.get("/to-stripe")
    assert plain.status_code == 302 and "HX-Redirect" not in plain.headers
    local = client.get("/to-home", headers={"HX-Request": "true"})
    assert local.status_code == 302 and "HX-Redirect" not in local.headers


def test_error_pages_are_styled_and_keep_the_headers(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'class="error-page"' in html and "portal.css" in html
    assert "There is nothing at this address" in html


def test_unexpected_errors_get_the_styled_500(app: Flask, monkeypatch) -> None:
    def broken() -> str:
        raise RuntimeError("boom")

    monkeypatch.setitem(ACCESS, "broken", PUBLIC)

    app.add_url_rule("/broken", "broken", broken)
    response = app.test_client().get("/broken")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert 'class="error-page"' in html and "Nothing was changed" in html and "boom" not in html
    assert response.headers["X-Frame-Options"] == "DENY"
