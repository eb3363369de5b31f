"""Sign-out really ends a session; sessions time out; the CSRF token rotates at sign-in; the
production cookie is ``__Host-``; signed-in pages are never cached (issue 12, item 2)."""

from __future__ import annotations

import pytest

from portal.auth.sessions import ABSOLUTE_LIFETIME, IDLE_TIMEOUT, SEEN_AT, SIGNED_IN_AT
from portal.config import Config
from tests.factory import CSRF_INPUT, PASSWORD, SIGNED_IN_PAGE


def _cookie(client, app) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


@pytest.mark.both_dbs
def test_a_cookie_copied_before_sign_out_is_refused_after(app, auth, factory):
    factory.account(email=auth.email)
    assert auth.login().status_code == 302
    copied = _cookie(auth.client, app)
    assert auth.client.get(SIGNED_IN_PAGE).status_code == 200

    signed_out = auth.logout()
    assert signed_out.status_code == 302
    page = auth.client.get(signed_out.headers["Location"]).get_data(as_text=True)
    assert "signed out, here and on every other device" in page

    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], copied)
    response = thief.get(SIGNED_IN_PAGE)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    ("signed_in_ago", "seen_ago", "ends"),
    [
        (IDLE_TIMEOUT - 60, IDLE_TIMEOUT - 60, False),
        (IDLE_TIMEOUT + 60, IDLE_TIMEOUT + 60, True),  # idle too long
        (ABSOLUTE_LIFETIME - 60, 60, False),
        (ABSOLUTE_LIFETIME + 60, 60, True),  # in use all along, but too old
    ],
)
def test_sessions_time_out_when_idle_and_at_their_absolute_lifetime(
    factory, signed_in_ago, seen_ago, ends
):
    account = factory.account()
    client = account.client
    with client.session_transaction() as session:
        session[SIGNED_IN_AT] -= signed_in_ago
        session[SEEN_AT] -= seen_ago
    response = client.get(SIGNED_IN_PAGE)
    if ends:
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
        assert client.get(SIGNED_IN_PAGE).status_code == 302  # the session stays ended
    else:
        assert response.status_code == 200


def test_a_session_without_a_sign_in_time_is_not_accepted(factory):
    account = factory.account()
    client = account.client
    with client.session_transaction() as session:
        del session[SIGNED_IN_AT]
    assert client.get(SIGNED_IN_PAGE).status_code == 302


def test_the_csrf_token_rotates_at_sign_in(app, auth, factory):
    factory.account(email=auth.email)
    before = auth.csrf_token("/login")
    assert auth.login().status_code == 302
    page = auth.client.get(SIGNED_IN_PAGE).get_data(as_text=True)
    after = CSRF_INPUT.search(page).group(1)
    assert after != before
    # The token from before the sign-in no longer passes.
    refused = auth.client.post("/keys", data={"name": "old token", "csrf_token": before})
    assert refused.status_code == 400
    assert "security token" in refused.get_data(as_text=True)


def test_the_production_session_cookie_is_host_prefixed(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    config = Config()
    assert config.SESSION_COOKIE_NAME == "__Host-session"
    assert config.SESSION_COOKIE_SECURE is True
    monkeypatch.setenv("PORTAL_ENV", "development")
    assert Config().SESSION_COOKIE_NAME == "session"


def test_the_host_prefixed_cookie_is_set_as_browsers_require(app, client, factory):
    factory.account(email="owner@example.com")
    app.config.update(SESSION_COOKIE_NAME="__Host-session", SESSION_COOKIE_SECURE=True)
    https = "https://localhost"
    page = client.get("/login", base_url=https).get_data(as_text=True)
    token = CSRF_INPUT.search(page).group(1)
    response = client.post(
        "/login",
        base_url=https,
        headers={"Referer": f"{https}/login"},  # Flask-WTF checks it over HTTPS
        data={"email": "owner@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_every_signed_in_page_is_no_store(app, factory):
    account = factory.account()
    pages = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static"
    )
    checked = 0
    for path in pages:
        response = account.client.get(path)
        if response.status_code < 400:
            assert response.headers.get("Cache-Control") == "no-store", path
            checked += 1
    assert checked >= 5, pages
