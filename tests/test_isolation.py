"""Tenant isolation: one tenant can neither see nor revoke another's API keys, even by id."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.errors import NotFound
from portal.extensions import db
from portal.keys import api_keys
from portal.models import ApiKey, User

RAW_KEY = re.compile(r'value="(ck_test_[A-Za-z0-9_-]{43})"')


def sign_up_with_key(app: Flask, auth, email: str, key_name: str) -> tuple[str, int]:
    """Sign ``email`` up, create a key through the page, sign out; return (raw key, key id)."""
    assert auth.signup(email).status_code == 302
    page = auth.post_form("/keys", {"name": key_name}).get_data(as_text=True)
    raw = RAW_KEY.search(page).group(1)
    auth.logout()
    with app.app_context():
        return raw, api_keys.find_active_key(raw).id


@pytest.mark.both_dbs
def test_tenant_cannot_see_or_revoke_another_tenants_keys(app, client, auth):
    raw_a, id_a = sign_up_with_key(app, auth, "alice@example.com", "alice production")
    raw_b, id_b = sign_up_with_key(app, auth, "bob@example.com", "bob production")

    assert auth.login("alice@example.com").status_code == 302
    listing = client.get("/keys").get_data(as_text=True)
    assert "alice production" in listing
    assert "bob production" not in listing
    assert raw_b[:12] not in listing

    for guess in (id_b, id_b + 1, 0, 10**9):
        response = auth.post_form(f"/keys/{guess}/revoke", {}, token_from="/keys")
        assert response.status_code == 404, guess
        assert "bob production" not in response.get_data(as_text=True)
    with app.app_context():
        assert api_keys.find_active_key(raw_b) is not None

    # The same request for her own key works, which shows the 404s above were about ownership.
    response = auth.post_form(f"/keys/{id_a}/revoke", {}, token_from="/keys")
    assert response.status_code == 303
    with app.app_context():
        assert api_keys.find_active_key(raw_a) is None


@pytest.mark.both_dbs
def test_domain_functions_scope_by_tenant(app, auth):
    sign_up_with_key(app, auth, "alice@example.com", "alice key")
    _, id_b = sign_up_with_key(app, auth, "bob@example.com", "bob key")
    with app.app_context():
        alice = db.session.scalar(sa.select(User).where(User.email == "alice@example.com"))
        tenant_a = alice.tenant
        assert [key.name for key in api_keys.list_api_keys(tenant_a)] == ["alice key"]
        with pytest.raises(NotFound):
            api_keys.revoke_api_key(tenant_a, id_b)
        assert db.session.get(ApiKey, id_b).revoked_at is None


def test_keys_page_needs_a_signed_in_user(app, client, auth):
    _, key_id = sign_up_with_key(app, auth, "alice@example.com", "alice key")
    assert client.get("/keys").status_code == 302
    response = client.post(f"/keys/{key_id}/revoke", data={"csrf_token": auth.csrf_token()})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is None
