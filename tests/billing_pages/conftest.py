"""Fixtures for the plans and billing page tests (helpers live in billing_support.py)."""

from __future__ import annotations

import pytest
from billing_support import Account, sign_up
from flask import Flask


@pytest.fixture
def account(app: Flask) -> Account:
    return sign_up(app, "owner@example.com")


@pytest.fixture
def other_account(app: Flask) -> Account:
    return sign_up(app, "someone-else@example.com")
