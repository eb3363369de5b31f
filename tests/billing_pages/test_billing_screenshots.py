"""The plans and billing pages in a real browser, at desktop and phone widths, with and without JS.

Screenshots land in ``screenshot_dir`` (tests/screenshots/) as billing-*.png; a person looks
at them. Each state is also checked with axe-core at both widths (no serious or critical
fault). The tests also check what the pictures should show: the toggle switches prices with
CSS only, htmx swaps the preview step in place, and the no-JS path reaches the same states.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from billing_support import give_customer, upgrade_through_checkout, use_simulator
from flask import Flask

from portal.models import utcnow
from tests.axe import assert_accessible, enable_axe
from tests.conftest import checked_page
from tests.factory import Account, Factory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    return use_simulator(app_config, sim)


class Shooter:
    """Saves full-page screenshots of one browser page at both widths, and checks at each that
    nothing makes the page scroll sideways (the one layout fault a picture hides best)."""

    def __init__(self, page: Any, directory: Path) -> None:
        self.page = page
        self.directory = directory

    def both(self, name: str) -> None:
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(viewport)
            overflow = self.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} at {label} width scrolls sideways by {overflow}px"
            if self.page.evaluate("window.axe !== undefined"):
                assert_accessible(self.page, f"billing {name} ({label})")
            self.page.screenshot(
                path=str(self.directory / f"billing-{name}-{label}.png"), full_page=True
            )
        self.page.set_viewport_size(DESKTOP)


@pytest.fixture
def browser_page(browser: Any, live_server: Any) -> Iterator[Any]:
    with checked_page(browser, live_server.url, DESKTOP) as page:
        enable_axe(page)
        yield page


def sign_in(page: Any, account: Account, live_server: Any) -> None:
    """Start the browser signed in as the account's owner (the form has its own tests)."""
    page.context.clear_cookies()
    page.context.add_cookies([account.browser_cookie(live_server.url)])


def test_plans_page_both_toggles(
    app: Flask,
    sim: Any,
    browser_page: Any,
    screenshot_dir: Path,
    live_server: Any,
    factory: Factory,
) -> None:
    page = browser_page
    shots = Shooter(page, screenshot_dir)
    page.goto("/billing/upgrade")
    monthly = page.locator(".plan-card.featured .price.when-month")
    yearly = page.locator(".plan-card.featured .price.when-year")
    assert monthly.is_visible() and not yearly.is_visible()
    shots.both("plans-anonymous-monthly")

    account = factory.account(email="plans@example.com")
    sign_in(page, account, live_server)
    page.goto("/billing/upgrade")
    shots.both("plans-free-monthly")
    page.locator("label[for=interval-year]").click()
    assert yearly.is_visible() and not monthly.is_visible()
    assert page.locator("#interval-year").is_checked()
    shots.both("plans-free-yearly")

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "interval-year"

    from portal.billing.cli import bootstrap_catalog

    with app.app_context():
        bootstrap_catalog()
    page.get_by_role("button", name="Upgrade to Pro").click()
    page.wait_for_url(f"{sim.url}/checkout/**")
    page.get_by_text("/ year").wait_for()


def test_enterprise_form_and_its_errors(browser_page: Any, screenshot_dir: Path) -> None:
    page = browser_page
    shots = Shooter(page, screenshot_dir)
    page.goto("/billing/upgrade")
    page.get_by_role("button", name="Contact sales").click()
    page.wait_for_url("**/billing/enterprise")
    shots.both("enterprise-form")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Work email").fill("not an email")
    page.get_by_role("button", name="Send to sales").click()
    page.get_by_text("Enter a valid email address").wait_for()
    assert page.locator("[aria-invalid=true]").count() >= 2
    shots.both("enterprise-form-errors")


def test_billing_page_in_each_state(
    live_server: Any, sim: Any, browser_page: Any, screenshot_dir: Path, factory: Factory
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    shots = Shooter(page, screenshot_dir)
    now = utcnow()
    # (name, mirrored status or None for Free, its fields, what the plan section must say)
    states: list[tuple[str, str | None, dict[str, Any], str]] = [
        ("free", None, {}, "You're on Free"),
        (
            "trialing",
            "trialing",
            {"trial_end": now + timedelta(days=9), "period_end": now + timedelta(days=9)},
            "Your free trial of Pro ends on",
        ),
        ("active", "active", {}, "Your plan: Pro"),
        ("canceling", "active", {"cancel_at_period_end": True}, "you can resume until then"),
        ("past-due", "past_due", {"past_due_since": now - timedelta(days=2)}, "payment failed"),
        (
            "canceled",
            "canceled",
            {"ended_at": now - timedelta(days=3), "period_end": now - timedelta(days=3)},
            "Your Pro plan ended on",
        ),
    ]
    for name, status, fields, says in states:
        account = factory.account(email=f"{name}@example.com")
        cards = 2 if name == "active" else 1
        if status:
            give_customer(account, sim, cards=cards)
            factory.subscription(account.tenant_id, status, **fields)
        sign_in(page, account, live_server)
        page.goto("/billing/")
        expect(page.locator("#subscription")).to_contain_text(says)
        if status:
            expect(page.locator("#payment-methods li.saved-card")).to_have_count(cards)
        shots.both(f"page-{name}")
        if name == "canceling":
            page.goto("/")
            expect(page.locator("[data-plan]")).to_contain_text("Pro · ends ")
            shots.both("dashboard-canceling")
        if name == "past-due":
            page.goto("/")
            expect(page.locator(".past-due-banner")).to_contain_text("Fix payment")
            shots.both("dashboard-past-due-banner")


def test_upgrade_switch_cancel_resume_with_htmx(
    app: Flask,
    sim: Any,
    browser_page: Any,
    screenshot_dir: Path,
    live_server: Any,
    factory: Factory,
) -> None:
    from portal.billing.cli import bootstrap_catalog

    with app.app_context():
        bootstrap_catalog()
    page = browser_page
    shots = Shooter(page, screenshot_dir)
    account = factory.account(email="journey@example.com")
    sign_in(page, account, live_server)
    page.goto("/billing/upgrade")
    page.get_by_role("button", name="Upgrade to Pro").click()
    page.wait_for_url(f"{sim.url}/checkout/**")
    page.get_by_label("Card number").fill("4242424242424242")
    page.get_by_label("Expiry").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Name on card").fill("Journey Tester")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{live_server.url}/billing/**")
    page.get_by_text("Welcome to Pro").wait_for()
    shots.both("page-active-with-invoice")

    page.get_by_role("button", name="Switch to yearly billing").click()
    page.get_by_role("heading", name="Switch to yearly billing").wait_for()
    assert page.url.endswith("/billing/"), "htmx swaps the step in place"
    shots.both("switch-preview")
    page.get_by_role("button", name="Confirm and pay").click()
    page.locator("main").get_by_text("now billed yearly").wait_for()
    # The plan change is announced to screen readers, and focus is on its notice.
    page.locator("#announcer", has_text="now billed yearly").wait_for(state="attached")
    assert page.evaluate("document.activeElement.classList.contains('notice')")
    assert page.locator(".flashes").count() == 0, "the swap cleared the stale 'Welcome' flash"
    page.locator("#invoices").get_by_text("$249.40").wait_for()
    shots.both("switched-yearly")

    page.get_by_role("button", name="Cancel plan").click()
    page.get_by_role("heading", name="Cancel Pro at the end of this period?").wait_for()
    page.wait_for_function("document.activeElement.classList.contains('step')")
    shots.both("cancel-confirm")
    page.get_by_role("button", name="Cancel at period end").click()
    page.get_by_text("you can resume until then").first.wait_for()
    shots.both("canceling-after-confirm")
    page.get_by_role("button", name="Resume Pro").click()
    page.locator("main").get_by_text("Welcome back").wait_for()

    # The only card of a renewing plan: the confirmation says why it cannot go, and offers no
    # button (the server refuses it too: tests/billing_pages/test_payment_methods.py).
    page.locator("#payment-methods").get_by_text("Remove…").click()
    page.locator("[data-last-card]").get_by_text("only card paying for your Pro plan").wait_for()
    assert (
        page.locator("#payment-methods")
        .get_by_role("button", name=re.compile("Yes, remove"))
        .count()
        == 0
    )
    shots.both("card-remove-refused")


def test_without_javascript_the_same_steps_work(
    app: Flask, sim: Any, browser: Any, live_server: Any, screenshot_dir: Path, factory: Factory
) -> None:
    context = browser.new_context(
        viewport=DESKTOP, base_url=live_server.url, java_script_enabled=False
    )
    page = context.new_page()
    shots = Shooter(page, screenshot_dir)
    account = factory.account(email="nojs@example.com")
    upgrade_through_checkout(account, sim)
    give_customer(account, sim, cards=1)
    sign_in(page, account, live_server)

    page.goto("/billing/upgrade")
    page.locator("label[for=interval-year]").click()
    assert page.locator(".plan-card.featured .price.when-year").is_visible()
    shots.both("nojs-plans-yearly")

    page.goto("/billing/")
    page.get_by_role("button", name="Cancel plan").click()
    page.wait_for_url("**/billing/?confirm=cancel*")
    shots.both("nojs-cancel-step")
    page.get_by_role("button", name="Keep Pro").click()
    page.get_by_role("button", name="Make default").click()
    page.locator("main").get_by_text("is now your default card").wait_for()
    assert page.url.endswith("/billing/#payment-methods")
    shots.both("nojs-card-default")
    context.close()
