"""Tenants with a signed-in test client, and a way to set usage rows directly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login import FlaskLoginClient

from portal.extensions import db
from portal.models import Membership, StorageUsage, Tenant, UsageCounter, User


def create_owner(name: str, tier: str = "free") -> User:
    """A tenant and its owner, committed; call inside an app context."""
    tenant = Tenant(name=name, tier=tier)
    user = User(email=f"{name.lower()}@example.com", password_hash="unused-in-these-tests")
    db.session.add_all([tenant, user, Membership(user=user, tenant=tenant)])
    db.session.commit()
    return user


@pytest.fixture
def make_tenant() -> Callable[..., User]:
    return create_owner


@pytest.fixture
def signed_in(app: Flask) -> Callable[..., FlaskClient]:
    """``signed_in("Acme", tier="pro")`` -> a client signed in as the owner (``.tenant_id``)."""
    app.test_client_class = FlaskLoginClient

    def sign_in(name: str, tier: str = "free") -> FlaskClient:
        with app.app_context():
            user = create_owner(name, tier)
            client = app.test_client(user=user)
            client.tenant_id = user.tenant.id  # type: ignore[attr-defined]
            return client

    return sign_in


@pytest.fixture
def record(app: Flask) -> Callable[..., None]:
    """``record("Acme", "api_calls", 80)`` sets a usage_counter row (today by default)."""

    def set_counter(name: str, metric: str, value: int, day: date | None = None) -> None:
        with app.app_context():
            tenant = db.session.execute(db.select(Tenant).filter_by(name=name)).scalar_one()
            day = day or datetime.now(UTC).date()
            db.session.merge(UsageCounter(tenant_id=tenant.id, metric=metric, day=day, value=value))
            db.session.commit()

    return set_counter


@pytest.fixture
def store(app: Flask) -> Callable[..., None]:
    """``store("Acme", memories=900, bytes_used=...)`` sets the tenant's storage row."""

    def set_storage(name: str, **values: int) -> None:
        with app.app_context():
            tenant = db.session.execute(db.select(Tenant).filter_by(name=name)).scalar_one()
            db.session.merge(StorageUsage(tenant_id=tenant.id, **values))
            db.session.commit()

    return set_storage
