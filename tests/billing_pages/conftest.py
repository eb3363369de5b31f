"""Fixtures for the plans and billing page tests (helpers live in billing_support.py)."""

from __future__ import annotations

import pytest

from tests.factory import Account, Factory


@pytest.fixture
def account(factory: Factory) -> Account:
    return factory.account(email="owner@example.com")


@pytest.fixture
def other_account(factory: Factory) -> Account:
    return factory.account(email="someone-else@example.com")
