"""A person in two teams: the header switches between them, and nothing of one shows in the
other. The navigation shows each role exactly what it may open."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.keys.api_keys import find_active_key
from portal.models import ApiKey
from tests.factory import PortalClient

NAV = re.compile(r'<ul class="nav-links">(.*?)</ul>', re.S)


def nav_labels(html: str) -> list[str]:
    match = NAV.search(html)
    assert match, "no navigation on the page"
    return re.findall(r">([^<>]+)</a>", match.group(1))


def _switch(client: PortalClient, tenant_id: int):
    return client.post_form("/team/switch", {"tenant_id": str(tenant_id)}, token_from="/usage")


@pytest.mark.both_dbs
def test_a_person_in_two_teams_sees_only_the_current_ones_data(app, factory):
    acme = factory.account(name="Acme", key=True, key_name="acme production")
    globex = factory.account(name="Globex", key=True, key_name="globex production")
    factory.usage(acme.tenant_id, "api_calls", 1234)
    factory.usage(globex.tenant_id, "api_calls", 98765)
    person = factory.member(acme.tenant_id, "developer", "pat@example.com")
    factory.join(person.user_id, globex.tenant_id, "developer")
    client = person.client

    # Acme first (the older membership).
    keys = client.get("/keys").get_data(as_text=True)
    assert "acme production" in keys and "globex production" not in keys
    assert "Globex (developer)" in keys  # the switcher offers the other team

    assert _switch(client, globex.tenant_id).status_code == 303
    keys = client.get("/keys").get_data(as_text=True)
    assert "globex production" in keys and "acme production" not in keys
    usage = client.get("/usage").get_data(as_text=True)
    assert "98,765" in usage and "1,234" not in usage

    # Acme's key cannot be revoked from Globex, even by its id.
    response = client.post_form(f"/keys/{acme.key_id}/revoke", {}, token_from="/keys")
    assert response.status_code == 404
    # A key made now belongs to Globex.
    assert (
        client.post_form("/keys", {"name": "made in globex"}, token_from="/keys").status_code == 201
    )
    with app.app_context():
        assert find_active_key(acme.key) is not None
        made = db.session.scalar(sa.select(ApiKey).where(ApiKey.name == "made in globex"))
        assert made.tenant_id == globex.tenant_id

    # Switching to a team one is not in reads like a team that does not exist.
    stranger = factory.account(name="Initech")
    assert _switch(client, stranger.tenant_id).status_code == 404
    assert _switch(client, 10**9).status_code == 404
    assert "globex production" in client.get("/keys").get_data(as_text=True)


def test_roles_differ_per_team(app, factory):
    acme = factory.account(name="Acme")
    globex = factory.account(name="Globex")
    person = factory.member(acme.tenant_id, "viewer", "pat@example.com")
    factory.join(person.user_id, globex.tenant_id, "billing")
    assert person.client.get("/billing/").status_code == 403
    _switch(person.client, globex.tenant_id)
    assert person.client.get("/billing/").status_code == 200
    assert person.client.get("/keys").status_code == 403


def test_removal_from_the_current_team_falls_back_to_the_other(app, factory):
    acme = factory.account(name="Acme", key=True, key_name="acme production")
    globex = factory.account(name="Globex", key=True, key_name="globex production")
    person = factory.member(acme.tenant_id, "developer", "pat@example.com")
    factory.join(person.user_id, globex.tenant_id, "developer")
    _switch(person.client, globex.tenant_id)
    token = person.client.csrf_token("/keys")  # the Globex keys page, open in a tab
    with app.app_context():
        from portal.models import Membership

        membership = db.session.scalar(
            sa.select(Membership).where(
                Membership.user_id == person.user_id, Membership.tenant_id == globex.tenant_id
            )
        )
        membership_id = membership.id
    globex.client.post_form(f"/team/members/{membership_id}/remove", {}, token_from="/team")
    # Their next request was meant for Globex: it is refused, not run against Acme.
    response = person.client.post("/keys", data={"name": "meant for globex", "csrf_token": token})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(ApiKey).where(ApiKey.name == "meant for globex")) is None
    page = person.client.get("/keys").get_data(as_text=True)
    assert "acme production" in page and "globex production" not in page


@pytest.mark.parametrize(
    ("role", "labels"),
    [
        ("owner", ["Dashboard", "Usage", "API keys", "Billing", "Plans", "Team"]),
        ("billing", ["Dashboard", "Usage", "Billing", "Plans"]),
        ("developer", ["Dashboard", "Usage", "API keys"]),
        ("viewer", ["Dashboard", "Usage"]),
    ],
)
def test_navigation_shows_only_what_the_role_may_open(app, factory, role, labels):
    owner = factory.account(name="Acme")
    account = owner if role == "owner" else factory.member(owner.tenant_id, role)
    assert nav_labels(account.client.get("/usage").get_data(as_text=True)) == labels


def test_pages_link_only_to_what_the_role_may_open(app, factory):
    owner = factory.account(name="Acme")
    viewer = factory.member(owner.tenant_id, "viewer")
    dashboard = viewer.client.get("/").get_data(as_text=True)
    assert 'href="/billing/' not in dashboard and "Upgrade to Pro" not in dashboard
    assert 'href="/billing/' in owner.client.get("/").get_data(as_text=True)


def test_past_due_banner_sends_only_billing_roles_to_fix_the_card(app, factory):
    from datetime import timedelta

    from portal.db import utcnow

    owner = factory.account(name="Acme", tier="pro")
    factory.subscription(owner.tenant_id, "past_due", past_due_since=utcnow() - timedelta(days=1))
    dev = factory.member(owner.tenant_id, "developer")
    owner_page = owner.client.get("/usage").get_data(as_text=True)
    dev_page = dev.client.get("/usage").get_data(as_text=True)
    assert "Your last payment" in owner_page and "Fix payment" in owner_page
    assert "Your last payment" in dev_page and "Fix payment" not in dev_page
    assert "An owner or billing member of the team can update the card." in dev_page


def test_the_next_person_on_the_same_browser_starts_in_their_own_team(app, factory, client, auth):
    factory.account(name="Acme", email="owner@example.com")
    factory.account(name="Globex", email="other@example.com", key=True, key_name="globex key")
    assert auth.login("owner@example.com").status_code == 302
    assert client.get("/keys").status_code == 200
    auth.logout()
    assert auth.login("other@example.com").status_code == 302
    page = client.get("/keys", follow_redirects=True).get_data(as_text=True)
    assert "globex key" in page
    assert "no longer a member" not in page


def test_the_header_names_a_one_person_account_once(factory):
    """Sign-up names a tenant after its owner's address; the header shows that address once.
    A team with a name of its own is named next to the address."""
    solo = factory.account(email="solo@example.com")
    html = solo.client.get("/usage").get_data(as_text=True)
    header = html.split("</nav>")[0]
    assert header.count("solo@example.com") == 1
    named = factory.account(name="Initech")
    header = named.client.get("/usage").get_data(as_text=True).split("</nav>")[0]
    assert "Initech (owner)" in header and "initech@example.com" in header
