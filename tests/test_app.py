"""The app factory, configuration and error pages."""

from __future__ import annotations

import pytest
from flask import Flask

from portal import create_app
from portal.config import ConfigError
from tests.factory import Factory, PortalClient


def test_factory_refuses_to_start_without_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"SECRET_KEY": ""})


def test_testing_config_is_applied(app: Flask) -> None:
    assert app.config["TESTING"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_unknown_page_gets_a_styled_404(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"There is nothing at this address" in response.data
    assert b"<nav" in response.data


def test_unknown_api_path_gets_json_404(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"].startswith("There is nothing")


@pytest.mark.both_dbs
def test_migrations_create_every_table(app: Flask) -> None:
    import sqlalchemy as sa

    from portal.extensions import db

    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_an_unreachable_database_gets_a_503_page_not_a_500(
    app: Flask, client: PortalClient, factory: Factory
) -> None:
    import os

    from portal.extensions import db

    factory.account().sign_in(client)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        path = db.engine.url.database
    os.rename(path, f"{path}.away")  # the next connection opens an empty file: no tables
    try:
        response = client.get("/keys")
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        os.replace(f"{path}.away", path)
    assert response.status_code == 503
    assert b"cannot reach our database" in response.data
    assert client.get("/keys").status_code == 200
