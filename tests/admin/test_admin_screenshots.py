"""Each console page in a real browser at 1280x800, as admin-*.png screenshots a person looks
at; no script error, no CSP refusal, nothing scrolling sideways."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin import contracts
from portal.admin.audit import Actor
from portal.extensions import db
from portal.models import Tenant, utcnow
from tests.conftest import checked_page
from tests.factory import Factory, sign_in

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1280, "height": 800}


def seed(app: Flask, factory: Factory) -> int:
    """A small business: Pro tenants paying monthly and yearly, one that left, a trial, an
    enterprise contract with overrides, usage, invoices, overage and two requests."""
    now = utcnow()
    for days in range(330, 0, -45):
        account = factory.account("pro", name=f"Pro {days}")
        factory.subscription(account.tenant_id, started_at=now - timedelta(days=days))
        factory.usage(
            account.tenant_id,
            "api_calls",
            4_000 + days * 10,
            (now - timedelta(days=days % 28)).date(),
        )
        factory.invoice(account.tenant_id, attempt_count=1 if days % 2 else 2)
    yearly = factory.account("pro", name="Yearly Co").tenant_id
    factory.subscription(yearly, interval="year", started_at=now - timedelta(days=200))
    gone = factory.account("free", name="Gone Ltd").tenant_id
    factory.subscription(
        gone, "canceled", started_at=now - timedelta(days=100), ended_at=now - timedelta(days=5)
    )
    trial = factory.account("pro", name="Trying Inc").tenant_id
    factory.subscription(trial, "trialing", trial_end=now + timedelta(days=9))
    big = factory.account("free", name="Bigco", customer_id="cus_bigco", key=True).tenant_id
    with app.app_context():
        tenant = db.session.get(Tenant, big)
        assert tenant is not None
        contracts.make_enterprise(
            tenant,
            contracts.ContractTerms(
                200_000,
                (now - timedelta(days=120)).date(),
                notes="Three-year deal, net 30.",
                overrides={"api_calls_per_day": 5_000_000, "concurrent_requests": 250},
            ),
            Actor("staff@continuum.example"),
        )
    for day in range(30):
        factory.usage(big, "api_calls", 90_000 + day * 3_000, (now - timedelta(days=day)).date())
    factory.usage(big, "api_calls:/api/federation", 12_000)
    factory.usage(big, "outcome:client_error:/api/federation", 240)
    factory.usage(big, "outcome:refused_rate_limit:/api/federation", 1_310)
    factory.usage(big, "api_calls:/api/memories", 48_000)
    factory.usage(big, "outcome:server_error:/api/memories", 12)
    factory.usage(big, "outcome:refused_storage:/api/memories", 75)
    factory.usage(gone, "outcome:refused_plan:/api/federation", 60)
    factory.invoice(big, amount=200_000, invoice_id="in_bigco_1")
    factory.storage(big, memories=8_000_000, bytes_used=700_000_000_000)
    overage = factory.account("pro", name="Overage Co").tenant_id
    start = factory.subscription(overage).current_period_start
    assert start is not None
    factory.meter_report(overage, start, 250_000, reported=True)
    factory.inquiry(big, company="Bigco")
    factory.inquiry(None, company="Analytical Engines", message="We need 2M calls a day.\nSoon.")
    return big


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    with checked_page(browser, live_server.url, VIEWPORT) as page:
        yield page


def shoot(page: Any, directory: Path, name: str) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
    page.screenshot(path=str(directory / f"admin-{name}.png"), full_page=True)


def test_console_pages(
    app: Flask, factory: Factory, page: Any, live_server: Any, screenshot_dir: Path
) -> None:
    big = seed(app, factory)
    staff = sign_in(app, factory.staff())
    cookie = staff.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])

    page.goto("/admin/")
    page.get_by_role("heading", name="Revenue and usage").wait_for()
    assert page.locator("svg.chart").count() == 3
    shoot(page, screenshot_dir, "analytics")
    # The long page in parts a person can read: the figures, then each charted table.
    page.locator(".figures").screenshot(path=str(screenshot_dir / "admin-analytics-figures.png"))
    tables = ("mrr-history", "conversion-history", "calls-per-tier", "top-tenants")
    for table in (*tables, "endpoint-outcomes"):
        page.locator(f"#{table}").screenshot(
            path=str(screenshot_dir / f"admin-analytics-{table}.png")
        )

    page.get_by_role("link", name="Tenants", exact=True).click()
    page.get_by_role("heading", name="Tenants", exact=True).wait_for()
    shoot(page, screenshot_dir, "tenants")
    page.get_by_label("Tier").select_option("enterprise")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Bigco").click()
    page.get_by_role("heading", name="Limits", exact=True).wait_for()
    shoot(page, screenshot_dir, "tenant")

    page.get_by_role("button", name="Change contract").click()
    page.get_by_label("Monthly price (USD)").fill("abc")
    page.get_by_role("button", name="Save the contract").click()
    page.get_by_text("Enter the monthly price in dollars").wait_for()
    shoot(page, screenshot_dir, "contract-errors")

    page.goto(f"/admin/tenants/{big}/limits")
    shoot(page, screenshot_dir, "limits")
    page.goto("/admin/requests")
    shoot(page, screenshot_dir, "requests")
    page.goto("/admin/audit")
    shoot(page, screenshot_dir, "audit")

    app.config["ADMIN_REQUIRE_TOTP"] = True
    page.goto("/admin/")
    page.get_by_role("heading", name="Set up your authenticator app").wait_for()
    shoot(page, screenshot_dir, "second-factor")
