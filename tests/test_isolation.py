"""Tenant isolation: one tenant can neither see nor revoke another's API keys, even by id."""

from __future__ import annotations

import pytest

from portal.errors import NotFound
from portal.extensions import db
from portal.keys import api_keys
from portal.models import ApiKey


@pytest.mark.both_dbs
def test_tenant_cannot_see_or_revoke_another_tenants_keys(app, client, auth, factory):
    alice = factory.account(email="alice@example.com", key=True, key_name="alice production")
    bob = factory.account(email="bob@example.com", key=True, key_name="bob production")
    raw_a, id_a, raw_b, id_b = alice.key, alice.key_id, bob.key, bob.key_id

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
def test_domain_functions_scope_by_tenant(app, factory):
    alice = factory.account(email="alice@example.com", key=True, key_name="alice key")
    id_b = factory.account(email="bob@example.com", key=True, key_name="bob key").key_id
    with app.app_context():
        tenant_a = alice.tenant()
        assert [key.name for key in api_keys.list_api_keys(tenant_a)] == ["alice key"]
        with pytest.raises(NotFound):
            api_keys.revoke_api_key(tenant_a, id_b)
        assert db.session.get(ApiKey, id_b).revoked_at is None


def test_keys_page_needs_a_signed_in_user(app, client, auth, factory):
    key_id = factory.account(email="alice@example.com", key=True).key_id
    assert client.get("/keys").status_code == 302
    response = client.post(f"/keys/{key_id}/revoke", data={"csrf_token": auth.csrf_token()})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is None
