"""Password reset: the link comes by real SMTP, works once, expires, and reveals no accounts."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import itsdangerous.timed
import pytest
import sqlalchemy as sa

from portal.auth.accounts import RESET_TOKEN_MAX_AGE
from portal.extensions import db
from portal.models import User

NEUTRAL = "If an account uses that address, we have emailed it a link"
NEW_PASSWORD = "amber meadow compass 77"
LINK = re.compile(r"http://\S+/reset-password/(\S+)")


def request_reset(auth, email: str):
    return auth.post_form("/reset-password", {"email": email})


def reset_link_path(message) -> str:
    body = message.get_content()
    return urlsplit(LINK.search(body).group(0)).path


def choose_password(auth, path: str, password: str = NEW_PASSWORD):
    return auth.post_form(path, {"password": password})


@pytest.fixture
def member(smtp_server, app, auth, factory):
    """A signed-out user; the SMTP server is running before the app reads its settings."""
    factory.account(email=auth.email)
    return auth


@pytest.mark.both_dbs
def test_reset_link_works_once(smtp_server, member, app, client):
    response = request_reset(member, member.email)
    assert response.status_code == 302
    assert NEUTRAL in client.get(response.headers["Location"]).get_data(as_text=True)
    (mail,) = smtp_server.wait_for(1)
    assert mail["To"] == member.email
    assert "30 minutes" in mail.get_content()
    path = reset_link_path(mail)

    form_page = client.get(path)
    assert form_page.status_code == 200
    response = choose_password(member, path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"

    assert member.login(password=member.password).status_code == 400
    assert member.login(password=NEW_PASSWORD).status_code == 302
    member.logout()

    used = client.get(path)
    assert used.status_code == 400
    assert "invalid, already used or expired" in used.get_data(as_text=True)
    response = member.post_form(path, {"password": "yet another passphrase"}, token_from="/login")
    assert response.status_code == 400
    assert member.login(password=NEW_PASSWORD).status_code == 302


def test_unknown_address_gets_the_same_answer_and_no_mail(smtp_server, member, client):
    known = request_reset(member, member.email)
    unknown = request_reset(member, "stranger@example.com")
    assert (known.status_code, known.headers["Location"]) == (
        unknown.status_code,
        unknown.headers["Location"],
    )
    smtp_server.wait_for(1)
    time.sleep(0.3)  # give a wrongly sent second mail the time to arrive
    assert [str(m["To"]) for m in smtp_server.messages] == [member.email]


def test_expired_link_is_refused(smtp_server, member, client, monkeypatch):
    request_reset(member, member.email)
    path = reset_link_path(smtp_server.wait_for(1)[0])
    later = time.time() + RESET_TOKEN_MAX_AGE + 60
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: later))
    response = client.get(path)
    assert response.status_code == 400
    assert "invalid, already used or expired" in response.get_data(as_text=True)
    response = member.post_form(path, {"password": NEW_PASSWORD}, token_from="/login")
    assert response.status_code == 400
    monkeypatch.undo()
    assert member.login().status_code == 302


@pytest.mark.parametrize("token", ["nonsense", "eyJ1c2VyIjoxfQ.forged.signature", "x" * 500])
def test_forged_tokens_are_refused(member, client, token):
    response = client.get(f"/reset-password/{token}")
    assert response.status_code == 400
    assert "invalid, already used or expired" in response.get_data(as_text=True)


def test_new_password_must_follow_the_rules(smtp_server, member, app, client):
    request_reset(member, member.email)
    path = reset_link_path(smtp_server.wait_for(1)[0])
    response = choose_password(member, path, "short")
    assert response.status_code == 400
    assert "at least 12 characters" in response.get_data(as_text=True)
    with app.app_context():
        stored = db.session.scalar(sa.select(User.password_hash))
    # The link still works: nothing was changed.
    assert choose_password(member, path).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(User.password_hash)) != stored


@pytest.mark.parametrize("email", ["", "not-an-email"])
def test_reset_request_with_bad_email_gets_a_message(member, email):
    response = request_reset(member, email)
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.get_data(as_text=True)


def test_reset_requests_are_throttled_per_address(member):
    for _ in range(3):
        assert request_reset(member, member.email).status_code == 302
    response = request_reset(member, member.email)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_reset_requests_are_throttled_per_ip_across_addresses(member):
    for number in range(10):
        assert request_reset(member, f"nobody{number}@example.com").status_code == 302
    response = request_reset(member, member.email)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_a_new_password_signs_out_every_other_session(smtp_server, member, app):
    other_device = app.test_client()
    other = type(member)(other_device)
    assert other.login().status_code == 302
    assert other_device.get("/keys").status_code == 200

    request_reset(member, member.email)
    path = reset_link_path(smtp_server.wait_for(1)[0])
    assert choose_password(member, path).status_code == 302

    response = other_device.get("/keys")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
