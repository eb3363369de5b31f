"""API keys: the domain functions and the /keys page."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.keys import api_keys
from portal.models import ApiKey, Tenant

RAW_KEY = re.compile(r'value="(ck_test_[A-Za-z0-9_-]{43})"')


@pytest.fixture
def tenant(app, factory):
    """A tenant row, in an app context that lasts the test (the domain functions need one)."""
    tenant_id = factory.tenant("acme")
    with app.app_context():
        yield db.session.get(Tenant, tenant_id)


@pytest.fixture
def signed_in(auth, factory):
    factory.account().sign_in(auth.client)
    return auth


def create_key_via_page(auth, name: str = "production server"):
    return auth.post_form("/keys", {"name": name})


@pytest.mark.parametrize("environment", ["test", "live"])
def test_generate_key_shape(environment):
    raw, prefix = api_keys.generate_key(environment)
    assert re.fullmatch(rf"ck_{environment}_[A-Za-z0-9_-]{{43}}", raw)
    assert prefix == raw[:12]
    assert api_keys.looks_like_key(raw)
    assert api_keys.generate_key(environment)[0] != raw


def test_generate_key_refuses_unknown_environment():
    with pytest.raises(ValueError):
        api_keys.generate_key("prod")


def test_hash_key_is_sha256_hex():
    assert api_keys.hash_key("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.both_dbs
def test_key_is_stored_only_as_hash_and_prefix(app, tenant):
    api_key, raw = api_keys.create_api_key(tenant, "production server")
    row = db.session.execute(sa.select(ApiKey.__table__).where(ApiKey.id == api_key.id)).one()
    assert raw not in [str(value) for value in row]
    secret = raw[len("ck_test_") :]
    assert all(secret not in str(value) for value in row)
    assert row.key_hash == api_keys.hash_key(raw)
    assert row.prefix == raw[:12]


@pytest.mark.both_dbs
def test_find_active_key_and_revoke(app, tenant):
    api_key, raw = api_keys.create_api_key(tenant, "ci")
    assert api_keys.find_active_key(raw).id == api_key.id
    revoked = api_keys.revoke_api_key(tenant, api_key.id)
    assert revoked.revoked_at is not None
    assert api_keys.find_active_key(raw) is None
    # Revoking again is harmless and keeps the first revocation time.
    assert api_keys.revoke_api_key(tenant, api_key.id).revoked_at == revoked.revoked_at


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ck_test_",
        "sk_test_" + "a" * 43,
        "ck_prod_" + "a" * 43,
        "ck_test_" + "a" * 42,
        "ck_test_" + "a" * 44,
        "ck_test_" + "é" * 43,
        "ck_test_" + "a" * 42 + "=",
        "ck_test_" + "a" * 42 + "\n",
        None,
        12345,
    ],
)
def test_malformed_keys_never_reach_the_database(app, tenant, raw, monkeypatch):
    def no_database(*args, **kwargs):
        raise AssertionError("malformed key reached the database")

    monkeypatch.setattr(db.session, "scalar", no_database)
    assert api_keys.find_active_key(raw) is None


def test_unknown_well_formed_key_is_not_found(app, tenant):
    assert api_keys.find_active_key(api_keys.generate_key()[0]) is None


@pytest.mark.parametrize(("name", "stored"), [("  web   app ", "web app"), ("x" * 100, "x" * 100)])
def test_key_names_are_trimmed(app, tenant, name, stored):
    api_key, _ = api_keys.create_api_key(tenant, name)
    assert api_key.name == stored


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_bad_key_names_are_refused(app, tenant, name):
    with pytest.raises(PortalError):
        api_keys.create_api_key(tenant, name)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_live_keys_when_a_live_stripe_key_is_configured(app, tenant):
    app.config["STRIPE_SECRET_KEY"] = "sk_live_abc"
    api_key, raw = api_keys.create_api_key(tenant, "prod")
    assert raw.startswith("ck_live_")
    assert api_key.prefix.startswith("ck_live_")
    assert api_keys.find_active_key(raw).id == api_key.id


def test_list_api_keys_newest_first(app, tenant):
    first, _ = api_keys.create_api_key(tenant, "first")
    second, _ = api_keys.create_api_key(tenant, "second")
    assert [key.id for key in api_keys.list_api_keys(tenant)] == [second.id, first.id]


def test_revoking_a_missing_key_is_not_found(app, tenant):
    with pytest.raises(NotFound):
        api_keys.revoke_api_key(tenant, 999)


# --- the /keys page ----------------------------------------------------------------------------


@pytest.mark.both_dbs
def test_create_shows_the_key_once(app, client, signed_in):
    response = create_key_via_page(signed_in)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    raw = RAW_KEY.search(body).group(1)
    assert "only time it is shown" in body
    with app.app_context():
        assert api_keys.find_active_key(raw).name == "production server"
    listing = client.get("/keys").get_data(as_text=True)
    assert raw not in listing
    assert raw[:12] + "…" in listing
    assert "production server" in listing
    assert "Never" in listing


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Give the key a name"), ("   ", "Give the key a name"), ("x" * 101, "at most 100")],
)
def test_create_refuses_bad_names(app, signed_in, name, message):
    response = create_key_via_page(signed_in, name)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body
    assert 'aria-invalid="true"' in body
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_a_one_megabyte_key_name_is_refused_and_nothing_created(app, signed_in):
    response = create_key_via_page(signed_in, "x" * (1024 * 1024))
    assert response.status_code == 413
    assert "limited to 1 MB" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_create_without_csrf_is_refused(app, client, signed_in):
    response = client.post("/keys", data={"name": "sneaky"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_htmx_create_returns_only_the_component(signed_in):
    token = signed_in.csrf_token("/keys")
    response = signed_in.client.post(
        "/keys", data={"name": "htmx", "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 201
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="api-keys"')
    assert "<html" not in body
    assert RAW_KEY.search(body)


@pytest.mark.both_dbs
def test_revoke_via_page_refuses_the_key_afterwards(app, client, signed_in):
    raw = RAW_KEY.search(create_key_via_page(signed_in).get_data(as_text=True)).group(1)
    with app.app_context():
        key_id = api_keys.find_active_key(raw).id
    response = signed_in.post_form(f"/keys/{key_id}/revoke", {}, token_from="/keys")
    assert response.status_code == 303
    assert response.headers["Location"] == "/keys"
    page = client.get("/keys").get_data(as_text=True)
    assert "Revoked “production server”" in page
    assert "Revoked " in page and "badge-muted" in page
    with app.app_context():
        assert api_keys.find_active_key(raw) is None


def test_htmx_revoke_returns_the_component(app, signed_in):
    raw = RAW_KEY.search(create_key_via_page(signed_in).get_data(as_text=True)).group(1)
    with app.app_context():
        key_id = api_keys.find_active_key(raw).id
    token = signed_in.csrf_token("/keys")
    response = signed_in.client.post(
        f"/keys/{key_id}/revoke", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="api-keys"')
    assert "Calls with it now fail" in body


def test_revoke_without_csrf_is_refused(app, client, signed_in):
    raw = RAW_KEY.search(create_key_via_page(signed_in).get_data(as_text=True)).group(1)
    with app.app_context():
        key_id = api_keys.find_active_key(raw).id
    assert client.post(f"/keys/{key_id}/revoke").status_code == 400
    with app.app_context():
        assert api_keys.find_active_key(raw) is not None


def test_key_names_are_escaped(signed_in):
    body = create_key_via_page(signed_in, "<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
