"""Invites: sent by real SMTP, signed, single-use, seven days, resend/revoke, and neither the
invite form nor the link tells anyone whether an address has an account."""

from __future__ import annotations

import time
from types import SimpleNamespace

import itsdangerous.timed
import pytest
import sqlalchemy as sa

from portal.db import utcnow
from portal.extensions import db
from portal.models import Membership, Tenant, User
from portal.teams.models import TeamActivity, TeamInvite
from tests.factory import PASSWORD, PortalClient
from tests.teams.support import SIGNUP_PASSWORD, latest_link, send_invite


def _anonymous(app) -> PortalClient:
    return PortalClient(app, app.response_class, use_cookies=True)


def _join(client: PortalClient, path: str, **form: str):
    return client.post_form(path, form)


def _actions(app, tenant_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(TeamActivity.action)
                .where(TeamActivity.tenant_id == tenant_id)
                .order_by(TeamActivity.id)
            )
        )


@pytest.mark.both_dbs
def test_new_person_signs_up_through_the_invite_and_joins(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    response = send_invite(owner, "dev@example.com", "developer")
    assert response.status_code == 303
    (mail,) = smtp_server.wait_for(1)
    assert mail["To"] == "dev@example.com"
    assert "7 days" in mail.get_content() and "developer" in mail.get_content()
    path = latest_link(smtp_server, "dev@example.com")

    visitor = _anonymous(app)
    page = visitor.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "I have an account" in text and "I am new here" in text

    joined = _join(
        visitor, path, action="signup", password=SIGNUP_PASSWORD, confirm=SIGNUP_PASSWORD
    )
    assert joined.status_code == 303, joined.get_data(as_text=True)
    assert visitor.get("/keys").status_code == 200
    assert visitor.get("/billing/").status_code == 403
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "dev@example.com"))
        assert [(m.tenant_id, m.role) for m in user.memberships] == [(owner.tenant_id, "developer")]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Tenant)) == 1
    assert _actions(app, owner.tenant_id) == ["invited", "joined"]

    # Used once: the same link no longer works, for anyone.
    again = _anonymous(app).get(path)
    assert again.status_code == 410
    assert "already used" in again.get_data(as_text=True)


@pytest.mark.both_dbs
def test_existing_account_signs_in_through_the_invite_and_gets_a_second_team(
    smtp_server, app, factory
):
    owner = factory.account(name="Acme")
    other = factory.account(email="finance@example.com", name="")
    send_invite(owner, "finance@example.com", "billing")
    path = latest_link(smtp_server, "finance@example.com")
    visitor = _anonymous(app)

    wrong = _join(visitor, path, action="signin", password="not the password at all")
    assert wrong.status_code == 400
    assert "does not match" in wrong.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Membership)
                .where(Membership.tenant_id == owner.tenant_id)
            )
            == 1
        )

    assert _join(visitor, path, action="signin", password=PASSWORD).status_code == 303
    # They now act for Acme, as billing; their own tenant is still theirs.
    assert visitor.get("/billing/").status_code == 200
    assert visitor.get("/keys").status_code == 403
    with app.app_context():
        roles = {
            m.tenant_id: m.role
            for m in db.session.scalars(
                sa.select(Membership).where(Membership.user_id == other.user_id)
            )
        }
    assert roles == {other.tenant_id: "owner", owner.tenant_id: "billing"}


@pytest.mark.both_dbs
def test_signing_up_through_an_invite_checks_the_password_and_writes_nothing_when_refused(
    smtp_server, app, factory
):
    owner = factory.account(name="Acme")
    send_invite(owner, "new@example.com")
    path = latest_link(smtp_server, "new@example.com")
    visitor = _anonymous(app)
    for password, confirm, message in [
        ("short", "short", "at least 12"),
        (SIGNUP_PASSWORD, "something else entirely", "do not match"),
        ("password1234", "password1234", "too common"),
        ("x" * 2000, "x" * 2000, "at most 128"),
    ]:
        response = _join(visitor, path, action="signup", password=password, confirm=confirm)
        assert response.status_code == 400, password
        assert message in response.get_data(as_text=True)
    nonsense = _join(visitor, path, action="promote-me", password=SIGNUP_PASSWORD)
    assert nonsense.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.email == "new@example.com")) is None
        invite = db.session.scalar(sa.select(TeamInvite))
        assert invite.accepted_at is None


def test_nothing_reveals_whether_an_address_has_an_account(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    factory.account(email="known@example.com")
    answers = {}
    pages = {}
    for address in ("known@example.com", "unknown@example.com"):
        response = send_invite(owner, address)
        answers[address] = owner.client.get(response.headers["Location"]).get_data(as_text=True)
        path = latest_link(smtp_server, address, count=len(answers))
        page = _anonymous(app).get(path)
        assert page.status_code == 200
        pages[address] = page.get_data(as_text=True)
    for address, text in answers.items():
        assert f"Invite sent to {address}. The link works for 7 days." in text

    def neutral(text: str, address: str) -> str:
        import re

        text = text.replace(address, "ADDRESS")
        text = re.sub(r'name="csrf_token" value="[^"]+"', "", text)
        text = re.sub(r"/invites/[^\"']+", "/invites/TOKEN", text)
        return re.sub(r'nonce="[^"]+"', "", text)

    assert neutral(pages["known@example.com"], "known@example.com") == neutral(
        pages["unknown@example.com"], "unknown@example.com"
    )


def test_tampered_links_are_refused(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    send_invite(owner, "dev@example.com")
    path = latest_link(smtp_server, "dev@example.com")
    token = path.rsplit("/", 1)[1]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    visitor = _anonymous(app)
    for bad in (flipped, token[:-5], "not-a-token", "x" * 5000, token + "x"):
        response = visitor.get(f"/invites/{bad}")
        assert response.status_code == 400, bad
        assert "not valid" in response.get_data(as_text=True)
        posted = visitor.post_form(f"/invites/{bad}", {"action": "signup"}, token_from="/login")
        assert posted.status_code == 400
    # Signed with another secret: the right shape, the wrong signature.
    forged = itsdangerous.URLSafeTimedSerializer("another secret", salt="continuum.team-invite")
    with app.app_context():
        invite_id = db.session.scalar(sa.select(TeamInvite.id))
        nonce = db.session.scalar(sa.select(TeamInvite.nonce))
    response = visitor.get(f"/invites/{forged.dumps({'i': invite_id, 'n': nonce})}")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(TeamInvite.accepted_at)) is None


def test_expired_links_are_refused(smtp_server, app, factory, monkeypatch):
    owner = factory.account(name="Acme")
    send_invite(owner, "dev@example.com")
    path = latest_link(smtp_server, "dev@example.com")
    visitor = _anonymous(app)
    later = time.time() + 8 * 24 * 3600
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: later))
    response = visitor.get(path)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    monkeypatch.undo()
    assert visitor.get(path).status_code == 200
    # The stored expiry counts too (e.g. a token whose clock the signature cannot see).
    with app.app_context():
        invite = db.session.scalar(sa.select(TeamInvite))
        invite.expires_at = utcnow()
        db.session.commit()
    assert visitor.get(path).status_code == 410
    assert "Expired" in owner.client.get("/team").get_data(as_text=True)


@pytest.mark.both_dbs
def test_a_link_works_once(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    send_invite(owner, "dev@example.com")
    path = latest_link(smtp_server, "dev@example.com")
    first, second = _anonymous(app), _anonymous(app)
    page_token = second.csrf_token(path)  # the second tab opened the page before the first joined
    ok = _join(first, path, action="signup", password=SIGNUP_PASSWORD, confirm=SIGNUP_PASSWORD)
    assert ok.status_code == 303
    reused = second.post(
        path, data={"csrf_token": page_token, "action": "signin", "password": SIGNUP_PASSWORD}
    )
    assert reused.status_code == 410
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Membership)) == 2


def test_a_link_opened_by_another_signed_in_account_is_refused(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    stranger = factory.account(email="stranger@example.com")
    send_invite(owner, "dev@example.com")
    path = latest_link(smtp_server, "dev@example.com")
    page = stranger.client.get(path)
    assert page.status_code == 403
    assert "different address" in page.get_data(as_text=True)
    posted = stranger.client.post_form(path, {}, token_from="/keys")
    assert posted.status_code == 403
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(Membership).where(
                    Membership.user_id == stranger.user_id,
                    Membership.tenant_id == owner.tenant_id,
                )
            )
            is None
        )
        assert db.session.scalar(sa.select(TeamInvite.accepted_at)) is None


def test_resend_replaces_the_link_and_revoke_ends_it(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    send_invite(owner, "dev@example.com")
    old = latest_link(smtp_server, "dev@example.com")
    with app.app_context():
        invite_id = db.session.scalar(sa.select(TeamInvite.id))
    team = owner.client.get("/team").get_data(as_text=True)
    assert "dev@example.com" in team and "Pending invites" in team

    resent = owner.client.post_form(f"/team/invites/{invite_id}/resend", {}, token_from="/team")
    assert resent.status_code == 303
    new = latest_link(smtp_server, "dev@example.com", count=2)
    assert new != old
    visitor = _anonymous(app)
    assert visitor.get(old).status_code == 410
    assert visitor.get(new).status_code == 200

    revoked = owner.client.post_form(f"/team/invites/{invite_id}/revoke", {}, token_from="/team")
    assert revoked.status_code == 303
    assert visitor.get(new).status_code == 410
    assert "No invites are waiting" in owner.client.get("/team").get_data(as_text=True)
    assert _actions(app, owner.tenant_id) == ["invited", "invite_resent", "invite_revoked"]
    # Another team's owner cannot touch this invite.
    other = factory.account(email="other-owner@example.com")
    response = other.client.post_form(f"/team/invites/{invite_id}/resend", {}, token_from="/team")
    assert response.status_code == 404


def test_inviting_a_member_or_an_already_invited_address_is_refused(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    dev = factory.member(owner.tenant_id, "developer", "dev@example.com")
    for address in (owner.email, dev.email, "DEV@Example.com"):
        response = send_invite(owner, address)
        assert response.status_code == 409
        assert "already a member" in response.get_data(as_text=True)
    assert send_invite(owner, "new@example.com").status_code == 303
    again = send_invite(owner, "new@example.com", "viewer")
    assert again.status_code == 409
    assert "already has a pending invite" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TeamInvite)) == 1


def test_password_guesses_through_one_invite_are_throttled(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    factory.account(email="known@example.com")
    send_invite(owner, "known@example.com")
    path = latest_link(smtp_server, "known@example.com")
    visitor = _anonymous(app)
    statuses = [
        _join(visitor, path, action="signin", password=f"guess number {n:04d}").status_code
        for n in range(6)
    ]
    assert statuses == [400] * 5 + [429]
