"""Every customer page, signed out and signed in, in Chromium at 1280×800 and 390×844: axe-core
finds no serious or critical fault, nothing scrolls sideways, and a screenshot of each state is
saved as tests/screenshots/tour-<state>-<width>.png for a person to look at.

The Stripe-backed billing states (trial, past due, cancelling...) are toured, with the same
checks, by tests/billing_pages/test_billing_screenshots.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from portal.extensions import db
from portal.models import ApiKey
from tests.axe import assert_accessible, enable_axe
from tests.conftest import checked_page
from tests.factory import Factory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def look(page: Any, directory: Path, state: str) -> None:
    """At both widths: no sideways scroll, no blocking axe fault, and a full-page screenshot."""
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{state} at {label} width scrolls sideways by {overflow}px"
        assert_accessible(page, f"{state} ({label})")
        page.screenshot(path=str(directory / f"tour-{state}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def test_signed_out_pages(browser: Any, live_server: Any, screenshot_dir: Path) -> None:
    with checked_page(browser, live_server.url, DESKTOP) as page:
        enable_axe(page)
        for state, path in (
            ("home", "/"),
            ("login", "/login"),
            ("signup", "/signup"),
            ("reset-request", "/reset-password"),
            ("plans-signed-out", "/billing/upgrade"),
            ("enterprise", "/billing/enterprise"),
        ):
            page.goto(path)
            look(page, screenshot_dir, state)
        page.goto("/login")
        page.get_by_label("Email").fill("nobody@example.com")
        page.get_by_label("Password").fill("wrong password!")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("do not match an account").wait_for()
        look(page, screenshot_dir, "login-error")


def test_signed_in_pages(
    app: Any, browser: Any, live_server: Any, screenshot_dir: Path, factory: Factory
) -> None:
    acme = factory.account(name="Acme")
    with checked_page(browser, live_server.url, DESKTOP) as page:
        enable_axe(page)
        page.context.add_cookies([acme.browser_cookie(live_server.url)])
        page.goto("/")
        page.locator("#first-run").wait_for()
        look(page, screenshot_dir, "dashboard-first-run")
        page.goto("/keys")
        look(page, screenshot_dir, "keys-empty")
        page.get_by_label("Key name").fill("production server")
        page.get_by_role("button", name="Create key").click()
        page.locator("#new-key-value").wait_for()
        look(page, screenshot_dir, "keys-created")
        for name in ("laptop", "old ci runner"):
            factory.key(acme.tenant_id, name)
        with app.app_context():
            old = db.session.scalar(db.select(ApiKey).where(ApiKey.name == "old ci runner"))
            old.revoked_at = datetime.now(UTC)
            db.session.commit()
        page.goto("/keys")
        look(page, screenshot_dir, "keys-list")

        with app.app_context():
            for key in db.session.scalars(db.select(ApiKey)):
                key.last_used_at = datetime.now(UTC)
            db.session.commit()
        route = "/api/memories"
        factory.usage(acme.tenant_id, "api_calls", 64)
        factory.usage(acme.tenant_id, f"api_calls:{route}", 60)
        factory.usage(acme.tenant_id, "api_calls:/api/search", 4)
        factory.usage(acme.tenant_id, f"outcome:client_error:{route}", 3)
        factory.usage(acme.tenant_id, f"outcome:refused_rate_limit:{route}", 9)
        factory.usage(acme.tenant_id, "outcome:refused_plan:/api/federation", 2)
        page.goto("/")
        look(page, screenshot_dir, "dashboard")
        page.goto("/usage")
        look(page, screenshot_dir, "usage")
        page.goto("/billing/")
        look(page, screenshot_dir, "billing-free")
        page.goto("/billing/upgrade")
        look(page, screenshot_dir, "plans-free")
        page.goto("/billing/enterprise")
        look(page, screenshot_dir, "enterprise-signed-in")
