"""Fixtures for the operator console: a staff member's signed-in client, and seeded tenants."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.factory import Factory, PortalClient, sign_in

STAFF_EMAIL = "staff@continuum.example"


@pytest.fixture
def staff_id(factory: Factory) -> int:
    return factory.staff(STAFF_EMAIL)


@pytest.fixture
def staff(app: Flask, staff_id: int) -> PortalClient:
    """A client signed in as staff (development: no second factor asked)."""
    return sign_in(app, staff_id)
