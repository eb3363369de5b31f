"""Bad input on every team form: a 4xx with a message a person can act on, and nothing
written (no membership, invite, role or activity entry changes), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Membership
from portal.teams.models import TeamActivity, TeamInvite
from tests.factory import PASSWORD


def _state(app) -> tuple:
    with app.app_context():
        memberships = db.session.execute(
            sa.select(Membership.user_id, Membership.tenant_id, Membership.role).order_by(
                Membership.id
            )
        ).all()
        invites = db.session.execute(
            sa.select(TeamInvite.email, TeamInvite.nonce, TeamInvite.revoked_at)
        ).all()
        entries = db.session.scalar(sa.select(sa.func.count()).select_from(TeamActivity))
        return (tuple(memberships), tuple(invites), entries)


@pytest.mark.both_dbs
def test_bad_input_on_every_team_form(smtp_server, app, factory):
    owner = factory.account(name="Acme")
    dev = factory.member(owner.tenant_id, "developer")
    other = factory.account(name="Globex")
    outsider = factory.member(other.tenant_id, "viewer")
    with app.app_context():
        dev_id, outsider_id, mine = (
            db.session.scalar(sa.select(Membership.id).where(Membership.user_id == uid))
            for uid in (dev.user_id, outsider.user_id, owner.user_id)
        )
    owner.client.post_form(
        "/team/invites", {"email": "pending@example.com", "role": "viewer"}, token_from="/team"
    )
    smtp_server.wait_for(1)
    with app.app_context():
        other_invite = db.session.execute(
            sa.insert(TeamInvite).values(
                tenant_id=other.tenant_id,
                email="x@example.com",
                role="viewer",
                nonce="n",
                created_at=sa.func.now(),
                sent_at=sa.func.now(),
                expires_at=sa.func.now(),
            )
        ).inserted_primary_key[0]
        db.session.commit()
    before = _state(app)

    cases: list[tuple[str, dict[str, str], int, str]] = [
        ("/team/invites", {"email": "", "role": "viewer"}, 400, "Enter your email"),
        ("/team/invites", {"email": "not an address", "role": "viewer"}, 400, "not a valid"),
        ("/team/invites", {"email": "a" * 300 + "@x.com", "role": "viewer"}, 400, "at most"),
        ("/team/invites", {"email": "<script>@x", "role": "viewer"}, 400, "not a valid"),
        ("/team/invites", {"email": "new@example.com", "role": ""}, 400, "Pick a role"),
        ("/team/invites", {"email": "new@example.com", "role": "admin"}, 400, "Pick a role"),
        ("/team/invites", {"email": "new@example.com", "role": "owner"}, 400, "Pick a role"),
        ("/team/invites", {"email": "new@example.com"}, 400, "Pick a role"),
        (f"/team/invites/{other_invite}/resend", {}, 404, "no such pending invite"),
        (f"/team/invites/{other_invite}/revoke", {}, 404, "no such pending invite"),
        ("/team/invites/999999/revoke", {}, 404, "no such pending invite"),
        (f"/team/members/{dev_id}/role", {}, 400, "Pick a role"),
        (f"/team/members/{dev_id}/role", {"role": "root" * 500}, 400, "Pick a role"),
        (f"/team/members/{dev_id}/role", {"role": "developer"}, 400, "already is developer"),
        (f"/team/members/{outsider_id}/role", {"role": "billing"}, 404, "no such member"),
        (f"/team/members/{outsider_id}/remove", {"revoke_keys": "yes"}, 404, "no such member"),
        ("/team/members/999999/remove", {}, 404, "no such member"),
        ("/team/hand-over", {"password": PASSWORD, "own_role": "viewer"}, 400, "Pick the member"),
        (
            "/team/hand-over",
            {"membership_id": "abc", "password": PASSWORD, "own_role": "viewer"},
            400,
            "Pick the member",
        ),
        (
            "/team/hand-over",
            {"membership_id": "9" * 40, "password": PASSWORD, "own_role": "viewer"},
            400,
            "Pick the member",
        ),
        (
            "/team/hand-over",
            {"membership_id": str(dev_id), "password": "", "own_role": "viewer"},
            400,
            "password is not right",
        ),
        (
            "/team/hand-over",
            {"membership_id": str(dev_id), "password": "p" * 100_000, "own_role": "viewer"},
            400,
            "password is not right",
        ),
        (
            "/team/hand-over",
            {"membership_id": str(dev_id), "password": PASSWORD, "own_role": "owner"},
            400,
            "Pick a role",
        ),
        (
            "/team/hand-over",
            {"membership_id": str(outsider_id), "password": PASSWORD, "own_role": "viewer"},
            404,
            "no such member",
        ),
        (
            "/team/hand-over",
            {"membership_id": str(mine), "password": PASSWORD, "own_role": "viewer"},
            400,
            "another member",
        ),
        ("/team/switch", {"tenant_id": str(other.tenant_id)}, 404, "not a member of that team"),
        ("/team/switch", {"tenant_id": "-1"}, 404, "not a member of that team"),
        ("/team/switch", {"tenant_id": "1" * 5000}, 404, "not a member of that team"),
        ("/team/leave", {"confirm": "no"}, 400, "Confirm"),
    ]
    for path, data, status, message in cases:
        response = owner.client.post_form(path, data, token_from="/team")
        body = response.get_data(as_text=True)
        assert response.status_code == status, (path, data, response.status_code)
        assert message in body, (path, data, body[:3000])
        assert _state(app) == before, (path, data)

    # Forms without their CSRF token are refused too.
    response = owner.client.post("/team/invites", data={"email": "new@example.com"})
    assert response.status_code == 400
    assert _state(app) == before

    # A query string that is not a number pages from the newest entry.
    assert owner.client.get("/team/activity?before=drop%20table").status_code == 200
    assert owner.client.get("/team/members/999999/remove").status_code == 404
