"""Managing a team: roles, removal (taking effect at the next request), leaving, handing
ownership over with the owner's password, and the activity log owners read."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import ApiKey, Membership
from portal.teams.models import TeamActivity
from tests.factory import PASSWORD


def _role(app, membership_user: int, tenant_id: int) -> str | None:
    with app.app_context():
        return db.session.scalar(
            sa.select(Membership.role).where(
                Membership.user_id == membership_user, Membership.tenant_id == tenant_id
            )
        )


def _membership_id(app, user_id: int, tenant_id: int) -> int:
    with app.app_context():
        found = db.session.scalar(
            sa.select(Membership.id).where(
                Membership.user_id == user_id, Membership.tenant_id == tenant_id
            )
        )
        assert found is not None
        return found


def _post(account, path: str, data: dict[str, str] | None = None):
    return account.client.post_form(path, data or {}, token_from="/")


@pytest.mark.both_dbs
def test_owner_changes_a_role_and_it_applies_at_the_next_request(app, factory):
    owner = factory.account(name="Acme")
    dev = factory.member(owner.tenant_id, "developer")
    assert dev.client.get("/keys").status_code == 200
    member_id = _membership_id(app, dev.user_id, owner.tenant_id)
    response = _post(owner, f"/team/members/{member_id}/role", {"role": "viewer"})
    assert response.status_code == 303
    assert dev.client.get("/keys").status_code == 403
    assert dev.client.get("/usage").status_code == 200
    with app.app_context():
        entry = db.session.scalar(sa.select(TeamActivity).order_by(TeamActivity.id.desc()))
        assert (entry.action, entry.subject, entry.detail) == (
            "role_changed",
            dev.email,
            {"from": "developer", "to": "viewer"},
        )


def test_the_last_owner_can_be_neither_demoted_nor_removed_nor_leave(app, factory):
    owner = factory.account(name="Acme")
    factory.member(owner.tenant_id, "billing")
    mine = _membership_id(app, owner.user_id, owner.tenant_id)
    demoted = _post(owner, f"/team/members/{mine}/role", {"role": "viewer"})
    assert demoted.status_code == 409
    assert "needs an owner" in demoted.get_data(as_text=True)
    removed = _post(owner, f"/team/members/{mine}/remove", {})
    assert removed.status_code == 400  # one does not remove oneself; one leaves
    left = _post(owner, "/team/leave", {"confirm": "yes"})
    assert left.status_code == 409
    assert "needs an owner" in left.get_data(as_text=True)
    assert _role(app, owner.user_id, owner.tenant_id) == "owner"


def test_owner_cannot_be_given_by_a_role_change(app, factory):
    owner = factory.account(name="Acme")
    dev = factory.member(owner.tenant_id, "developer")
    member_id = _membership_id(app, dev.user_id, owner.tenant_id)
    response = _post(owner, f"/team/members/{member_id}/role", {"role": "owner"})
    assert response.status_code == 400
    assert "handed over" in response.get_data(as_text=True)
    assert _role(app, dev.user_id, owner.tenant_id) == "developer"


@pytest.mark.both_dbs
def test_removed_member_loses_access_at_the_next_click_and_their_keys_can_go_too(app, factory):
    owner = factory.account(name="Acme")
    dev = factory.member(owner.tenant_id, "developer")
    kept_dev = factory.member(owner.tenant_id, "developer")
    made = dev.client.post_form("/keys", {"name": "dev laptop"}, token_from="/keys")
    assert made.status_code == 201
    other = kept_dev.client.post_form("/keys", {"name": "ci"}, token_from="/keys")
    assert other.status_code == 201
    with app.app_context():
        keys = {k.name: k.id for k in db.session.scalars(sa.select(ApiKey))}
    member_id = _membership_id(app, dev.user_id, owner.tenant_id)

    confirm = owner.client.get(f"/team/members/{member_id}/remove").get_data(as_text=True)
    assert "dev laptop" in confirm and "ci" not in confirm.split("They made")[1].split("</ul>")[0]
    response = _post(owner, f"/team/members/{member_id}/remove", {"revoke_keys": "yes"})
    assert response.status_code == 303

    # The removed developer's very next request: no keys page, no usage, nothing of Acme.
    gone = dev.client.get("/keys")
    assert gone.status_code in (302, 303)
    landing = dev.client.get(gone.headers["Location"], follow_redirects=True)
    assert "Acme" not in landing.get_data(as_text=True)
    assert dev.client.get("/usage").status_code in (302, 303)
    with app.app_context():
        assert db.session.get(ApiKey, keys["dev laptop"]).revoked_at is not None
        assert db.session.get(ApiKey, keys["ci"]).revoked_at is None
        actions = list(db.session.scalars(sa.select(TeamActivity.action).order_by(TeamActivity.id)))
    assert actions[-2:] == ["key_revoked", "removed"]


def test_removing_without_revoking_keeps_the_keys(app, factory):
    owner = factory.account(name="Acme")
    dev = factory.member(owner.tenant_id, "developer")
    dev.client.post_form("/keys", {"name": "dev laptop"}, token_from="/keys")
    member_id = _membership_id(app, dev.user_id, owner.tenant_id)
    assert _post(owner, f"/team/members/{member_id}/remove", {}).status_code == 303
    with app.app_context():
        (key,) = db.session.scalars(sa.select(ApiKey))
        assert key.revoked_at is None and key.created_by_id == dev.user_id


def test_keys_show_who_made_them(app, factory):
    owner = factory.account(name="Acme")
    dev = factory.member(owner.tenant_id, "developer", "dev@example.com")
    dev.client.post_form("/keys", {"name": "dev laptop"}, token_from="/keys")
    page = owner.client.get("/keys").get_data(as_text=True)
    row = page.split("dev laptop")[1].split("</tr>")[0]
    assert "dev@example.com" in row


@pytest.mark.both_dbs
def test_handing_over_ownership_needs_the_owners_password(app, factory):
    owner = factory.account(name="Acme")
    finance = factory.member(owner.tenant_id, "billing")
    target = _membership_id(app, finance.user_id, owner.tenant_id)
    wrong = _post(
        owner,
        "/team/hand-over",
        {"membership_id": str(target), "password": "guess guess guess", "own_role": "developer"},
    )
    assert wrong.status_code == 400
    assert "password is not right" in wrong.get_data(as_text=True)
    assert _role(app, finance.user_id, owner.tenant_id) == "billing"

    done = _post(
        owner,
        "/team/hand-over",
        {"membership_id": str(target), "password": PASSWORD, "own_role": "developer"},
    )
    assert done.status_code == 303
    assert _role(app, finance.user_id, owner.tenant_id) == "owner"
    assert _role(app, owner.user_id, owner.tenant_id) == "developer"
    assert owner.client.get("/team").status_code == 403
    assert finance.client.get("/team").status_code == 200
    log = finance.client.get("/team/activity").get_data(as_text=True)
    assert "handed ownership over to" in log and owner.email in log


def test_a_member_can_leave(app, factory):
    owner = factory.account(name="Acme")
    viewer = factory.member(owner.tenant_id, "viewer")
    page = viewer.client.get("/team/leave")
    assert page.status_code == 200
    unconfirmed = viewer.client.post_form("/team/leave", {}, token_from="/team/leave")
    assert unconfirmed.status_code == 400
    left = viewer.client.post_form("/team/leave", {"confirm": "yes"}, token_from="/team/leave")
    assert left.status_code == 303
    assert _role(app, viewer.user_id, owner.tenant_id) is None
    assert viewer.client.get("/usage", follow_redirects=True).request.path == "/no-team"


def test_activity_log_lists_who_did_what_and_only_owners_read_it(app, factory):
    owner = factory.account(name="Acme")
    dev = factory.member(owner.tenant_id, "developer", "dev@example.com")
    dev.client.post_form("/keys", {"name": "deploy bot"}, token_from="/keys")
    with app.app_context():
        key_id = db.session.scalar(sa.select(ApiKey.id))
    dev.client.post_form(f"/keys/{key_id}/revoke", {}, token_from="/keys")
    page = owner.client.get("/team/activity")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "made the API key deploy bot" in text
    assert "revoked the API key deploy bot" in text
    assert text.count("dev@example.com") >= 2
    for role in ("billing", "developer", "viewer"):
        assert factory.member(owner.tenant_id, role).client.get("/team/activity").status_code == 403


def test_a_removed_member_gets_a_json_403_on_the_json_routes(app, factory):
    owner = factory.account(name="Acme")
    finance = factory.member(owner.tenant_id, "billing")
    assert finance.client.get("/v1/billing/subscription").status_code == 200
    member_id = _membership_id(app, finance.user_id, owner.tenant_id)
    assert _post(owner, f"/team/members/{member_id}/remove", {}).status_code == 303
    response = finance.client.get("/v1/billing/subscription")
    assert response.status_code == 403
    assert response.get_json() == {"error": "You are no longer a member of that team."}
