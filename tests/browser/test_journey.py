"""The whole tenant journey in a real browser, against the Stripe simulator (issue 6, item 6).

One served process holds the portal and the example API (as ``make run`` does); the simulator
is its own process with a test clock, and delivers signed webhooks to the portal. Screenshots
of every page and state land in ``screenshot_dir`` as journey-NN-*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from examples.continuum_api import create_api_app
from portal.billing.cli import bootstrap_catalog
from portal.enforcement import enforcement_for
from portal.extensions import db
from portal.models import Subscription, Tenant
from portal.serving.dispatch import PathDispatcher
from tests.factory import PASSWORD

pytestmark = pytest.mark.browser

EMAIL = "journey@example.com"
WEBHOOK_SECRET = "whsec_test_browser_journey"
CARD_OK = "4242424242424242"
CARD_SECOND = "5555555555554444"
CARD_DECLINED = "4000000000000002"
CARD_FAILS_LATER = "4000000000000341"
DAY = 86_400
#: The bars poll this often here (3 s in production), so the journey waits less for them.
POLL_SECONDS = 0.5
#: Pages the journey answers with an error on purpose: the 404 and the invalid Enterprise form.
DELIBERATE_ERRORS = ("/no-such-page", "/billing/enterprise")


@pytest.fixture
def clock(sim: Any) -> str:
    """A simulator test clock at the current time; every customer the portal creates joins it."""
    created = sim.client().v1.test_helpers.test_clocks.create(
        {"frozen_time": int(time.time()), "name": "browser journey"}
    )
    return str(created.id)


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any, clock: str) -> dict[str, Any]:
    app_config.update(
        STRIPE_SECRET_KEY=sim.api_key,
        STRIPE_API_BASE=sim.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_TEST_CLOCK=clock,
        USAGE_POLL_SECONDS=POLL_SECONDS,
    )
    return app_config


@pytest.fixture
def portal_url(app: Flask, live_server: Any, sim: Any) -> Iterator[str]:
    """The served portal with the example API under /api, its catalog and webhooks wired."""
    api = create_api_app(dict(app.config), enforcement=enforcement_for(app))
    app.wsgi_app = PathDispatcher(app.wsgi_app, api)  # type: ignore[method-assign]
    with app.app_context():
        bootstrap_catalog()
    sim.add_webhook_endpoint(f"{live_server.url}/billing/webhook", WEBHOOK_SECRET)
    yield live_server.url
    enforcement_for(app).stop()


class Journey:
    """The browser page plus numbered screenshots and a few waits the steps share."""

    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page = page
        self.base = base
        self.shots = shots
        self.number = 0
        self.console: list[str] = []
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text} @ {self.page.url}")

    def shoot(self, name: str) -> None:
        self.number += 1
        path = self.shots / f"journey-{self.number:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def text(self) -> str:
        return str(self.page.inner_text("main"))

    def wait_for_text(self, text: str, path: str | None = None, timeout: float = 20.0) -> None:
        """Wait until ``text`` is on the page, reloading ``path`` while webhooks catch up."""
        deadline = time.monotonic() + timeout
        while text not in self.text():
            assert time.monotonic() < deadline, f"{text!r} never appeared on {self.page.url}"
            time.sleep(0.5)
            if path:
                self.go(path)

    def pay(self, card: str, *, expect_back: bool = True) -> None:
        """Fill the simulator's hosted Checkout form like a person and submit it."""
        page = self.page
        page.wait_for_selector("input[name=card_number]")
        if page.locator("input[name=email]").count():
            page.fill("input[name=email]", EMAIL)
        page.fill("input[name=card_number]", card)
        page.fill("input[name=expiry]", "12 / 34")
        page.fill("input[name=cvc]", "123")
        page.fill("input[name=name]", "Ada Journey")
        page.locator("form button[type=submit]").click()
        if expect_back:
            page.wait_for_url(re.compile(re.escape(self.base) + r"/billing/.*"))
        else:
            page.wait_for_load_state()


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 20.0,
    detail: Callable[[], str] = lambda: "",
) -> None:
    """Poll from Python: Playwright's wait_for_function evaluates strings, which our CSP forbids."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what} {detail()}"
        time.sleep(0.25)


def navigations(page: Any) -> int:
    return int(page.evaluate("performance.getEntriesByType('navigation').length"))


def progress(page: Any, bar: str) -> tuple[int, int]:
    element = page.locator(f'[data-bar="{bar}"] progress')
    return int(element.get_attribute("value")), int(element.get_attribute("max"))


def advance_clock(sim: Any, clock: str, to: int) -> None:
    """Move the test clock and wait until the simulator finished its work at that time.

    As at Stripe, one advance moves at most two intervals of the shortest subscription (the
    monthly overage item: two months), so a longer move goes in steps of 59 days.
    """
    stripe = sim.client()
    now = stripe.v1.test_helpers.test_clocks.retrieve(clock).frozen_time
    while now < to:
        now = min(to, now + 59 * DAY)
        stripe.v1.test_helpers.test_clocks.advance(clock, {"frozen_time": now})
        deadline = time.monotonic() + 30
        while stripe.v1.test_helpers.test_clocks.retrieve(clock).status != "ready":
            assert time.monotonic() < deadline, "the test clock never became ready"
            time.sleep(0.2)


def subscription_row(app: Flask) -> Subscription:
    with app.app_context():
        row = (
            db.session.execute(db.select(Subscription).order_by(Subscription.id.desc()))
            .scalars()
            .first()
        )
        assert row is not None
        db.session.expunge(row)
        return row


def tenant_tier(app: Flask) -> str:
    with app.app_context():
        return str(db.session.execute(db.select(Tenant.tier)).scalar_one())


def test_tenant_journey(
    browser: Any, app: Flask, portal_url: str, sim: Any, clock: str, screenshot_dir: Path
) -> None:
    for stale in screenshot_dir.glob("journey-*.png"):
        stale.unlink()  # numbering shifts when steps change; keep only this run's pictures
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    journey = Journey(context.new_page(), portal_url, screenshot_dir)
    steps: list[Callable[[Journey, Flask, Any, str], None]] = [
        sign_up_and_land_on_the_dashboard,
        create_a_key_and_watch_the_minute_bar,
        upgrade_with_4242,
        second_card_default_and_remove_the_old,
        switch_to_yearly_after_the_preview,
        cancel_at_period_end_then_resume,
        cancel_again_and_advance_to_free,
        declined_card_then_past_due,
        billing_portal_and_enterprise_form,
        phone_width_and_error_pages,
        pages_without_javascript,
        sign_out,
    ]
    for step in steps:
        step(journey, app, sim, clock)
    # No CSP violation, script error or failed request on any portal page but the deliberate ones.
    portal_errors = [
        line
        for line in journey.console
        if f"@ {portal_url}" in line and not line.endswith(DELIBERATE_ERRORS)
    ]
    assert not portal_errors, portal_errors
    assert not [line for line in journey.console if "Content Security Policy" in line]
    context.close()


# --- 1. sign up ------------------------------------------------------------------------------


def sign_up_and_land_on_the_dashboard(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    j.go("/")
    j.shoot("home")
    j.go("/signup")
    j.shoot("signup")
    j.page.get_by_label("Email").fill(EMAIL)
    j.page.get_by_label("Password").fill(PASSWORD)
    j.page.get_by_role("button", name="Create account").click()
    j.page.wait_for_url(j.base + "/")
    assert "Free plan" in j.text()
    assert progress(j.page, "calls_today") == (0, 100)
    j.shoot("dashboard-new-tenant")


# --- 2. API key, API calls, live bar ---------------------------------------------------------


def create_a_key_and_watch_the_minute_bar(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    page = j.page
    page.get_by_role("link", name="API keys").click()
    page.wait_for_url(j.base + "/keys")
    page.get_by_label("Key name").fill("journey laptop")
    page.get_by_role("button", name="Create key").click()
    key_input = page.locator("#new-key-value")
    key_input.wait_for()
    raw_key = key_input.input_value()
    j.shoot("api-key-created")

    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(j.base + "/")
    page.wait_for_selector('[data-bar="calls_minute"]')
    page.evaluate("window.journeyMarker = 'still here'")
    before = navigations(page)
    assert progress(page, "calls_minute") == (0, 10)

    # The minute bar counts the current UTC minute: keep the calls and the polls inside one.
    # With the bars polled every POLL_SECONDS, ten seconds is ample for both.
    left_in_minute = 60 - time.time() % 60
    if left_in_minute < 10:
        time.sleep(left_in_minute + 0.5)
    for _ in range(4):
        response = requests.get(
            f"{j.base}/api/search",
            params={"q": "journey"},
            headers={"Authorization": f"Bearer {raw_key}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
    wait_until(
        lambda: progress(page, "calls_minute")[0] >= 4,
        "the minute bar to move",
        detail=lambda: f"bar shows {progress(page, 'calls_minute')}",
    )
    assert progress(page, "calls_minute") == (4, 10)
    assert progress(page, "calls_today")[0] >= 4
    for text in ("Ada prefers tea.", "The launch is on Friday."):
        response = requests.post(
            f"{j.base}/api/memories",
            json={"content": text},
            headers={"Authorization": f"Bearer {raw_key}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
    wait_until(lambda: progress(page, "memories") == (2, 1_000), "the memories bar to move")
    assert page.evaluate("window.journeyMarker") == "still here"
    assert navigations(page) == before
    j.shoot("dashboard-minute-bar-moved")

    j.go("/usage")
    j.wait_for_text("search", path="/usage")  # per-endpoint counts are flushed within a second
    j.shoot("usage-page")


# --- 3. upgrade ------------------------------------------------------------------------------


def upgrade_with_4242(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    page = j.page
    page.get_by_role("link", name="Plans").click()
    page.wait_for_url(j.base + "/billing/upgrade")
    tops = {
        round(box["y"])
        for box in (card.bounding_box() for card in page.locator(".plan-card").all())
    }
    assert len(tops) == 1, "Free, Pro and Enterprise should sit side by side"
    j.shoot("plans-monthly")
    page.locator("label[for=interval-year]").click()
    j.shoot("plans-yearly-toggle")
    page.locator("label[for=interval-month]").click()
    page.get_by_role("button", name="Upgrade to Pro").click()
    page.wait_for_url(re.compile(re.escape(sim.url) + r"/checkout/.*"))
    j.shoot("checkout-hosted-page")
    j.pay(CARD_OK)
    j.wait_for_text("Welcome to Pro")
    j.shoot("billing-after-upgrade")

    j.go("/")
    assert "Pro plan" in j.text()
    assert progress(page, "calls_today")[1] == 10_000
    assert progress(page, "calls_minute")[1] == 100
    assert "10,000" in page.inner_text("#plan-heading >> xpath=../..")
    j.shoot("dashboard-pro-limits")


# --- 4. cards --------------------------------------------------------------------------------


def second_card_default_and_remove_the_old(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    page = j.page
    j.go("/billing/")
    page.get_by_role("button", name="Add a card").click()
    page.wait_for_url(re.compile(re.escape(sim.url) + r"/checkout/.*"))
    j.shoot("checkout-setup-mode")
    j.pay(CARD_SECOND)
    j.wait_for_text("Your new card is saved")
    cards = page.locator("#payment-methods li.saved-card")
    assert cards.count() == 2
    j.shoot("billing-two-cards")

    # Setup mode makes the new card the default; the buttons are exercised both ways anyway.
    visa, mastercard = cards.filter(has_text="4242"), cards.filter(has_text="4444")
    assert "Default" in mastercard.inner_text()
    visa.get_by_role("button", name=re.compile("Make default")).click()
    wait_until(lambda: "Default" in visa.inner_text(), "the Visa to become the default")
    j.shoot("billing-old-card-default-again")
    mastercard.get_by_role("button", name=re.compile("Make default")).click()
    wait_until(lambda: "Default" in mastercard.inner_text(), "the Mastercard to be the default")
    j.shoot("billing-second-card-default")

    visa.get_by_text("Remove…").click()
    j.shoot("billing-card-remove-confirm")
    visa.get_by_role("button", name=re.compile("Yes, remove")).click()
    remaining = page.locator("#payment-methods li.saved-card")
    wait_until(lambda: remaining.count() == 1, "the old card to be removed")
    assert "4444" in remaining.inner_text() and "Default" in remaining.inner_text()
    j.shoot("billing-old-card-removed")


# --- 5. yearly -------------------------------------------------------------------------------


def switch_to_yearly_after_the_preview(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    page = j.page
    j.go("/billing/")
    page.get_by_role("button", name=re.compile("Switch to yearly billing")).click()
    page.wait_for_selector("table.proration")
    preview = page.inner_text("#subscription")
    assert "Due today" in preview and "$" in preview
    j.shoot("billing-yearly-preview")
    page.get_by_role("button", name=re.compile(r"Confirm and pay .* with \w+ •••• 4444")).click()
    page.wait_for_selector("table.proration", state="detached")
    j.wait_for_text("billed yearly", path="/billing/")
    assert subscription_row(app).interval == "year"
    j.shoot("billing-yearly")


# --- 6. cancel and resume --------------------------------------------------------------------


def cancel_at_period_end_then_resume(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    page = j.page
    j.go("/billing/")
    page.get_by_role("button", name="Cancel plan").click()
    page.get_by_role("button", name="Cancel at period end").wait_for()
    j.shoot("billing-cancel-confirmation")
    page.get_by_role("button", name="Cancel at period end").click()
    page.get_by_role("button", name="Resume Pro").wait_for()
    assert subscription_row(app).cancel_at_period_end
    j.shoot("billing-canceling")
    page.get_by_role("button", name="Resume Pro").click()
    page.get_by_role("button", name="Cancel plan").wait_for()
    assert not subscription_row(app).cancel_at_period_end
    j.shoot("billing-resumed")


# --- 7. cancel, advance the clock, Free ------------------------------------------------------


def cancel_again_and_advance_to_free(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    page = j.page
    j.go("/billing/")
    page.get_by_role("button", name="Cancel plan").click()
    page.get_by_role("button", name="Cancel at period end").click()
    page.get_by_role("button", name="Resume Pro").wait_for()
    period_end = subscription_row(app).current_period_end
    assert period_end is not None
    advance_clock(sim, clock, int(period_end.timestamp()) + DAY)
    j.wait_for_text("You're on Free", path="/billing/", timeout=30)
    assert tenant_tier(app) == "free"
    j.shoot("billing-ended-free")
    j.go("/")
    assert "Free plan" in j.text()
    assert progress(page, "calls_today")[1] == 100
    j.shoot("dashboard-back-on-free")


# --- 8. declined card, then a failing renewal ------------------------------------------------


def declined_card_then_past_due(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    page = j.page
    j.go("/billing/upgrade")
    page.locator("label[for=interval-month]").click()
    page.get_by_role("button", name="Upgrade to Pro").click()
    page.wait_for_url(re.compile(re.escape(sim.url) + r"/checkout/.*"))
    j.pay(CARD_DECLINED, expect_back=False)
    assert "declined" in page.content().lower()
    assert tenant_tier(app) == "free"
    j.shoot("checkout-declined-0002")

    j.pay(CARD_OK)
    j.wait_for_text("Welcome to Pro")
    page.get_by_role("button", name="Add a card").click()
    page.wait_for_url(re.compile(re.escape(sim.url) + r"/checkout/.*"))
    j.pay(CARD_FAILS_LATER)
    j.wait_for_text("Your new card is saved")
    j.shoot("billing-0341-default")

    period_end = subscription_row(app).current_period_end
    assert period_end is not None
    advance_clock(sim, clock, int(period_end.timestamp()) + 3600)
    j.wait_for_text("Your last payment", path="/", timeout=30)
    banner = page.locator(".past-due-banner")
    assert banner.is_visible() and "Fix payment" in banner.inner_text()
    j.shoot("dashboard-past-due-banner")
    banner.get_by_role("button", name="Fix payment").click()
    page.wait_for_url(re.compile(re.escape(j.base) + r"/billing/.*"))
    assert "Payment failed" in j.text()
    j.shoot("billing-past-due")


# --- Stripe's billing portal, the Enterprise form -------------------------------------------


def billing_portal_and_enterprise_form(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    page = j.page
    j.go("/billing/")
    # A boosted form whose answer redirects to another origin: the portal answers HX-Redirect.
    page.get_by_role("button", name="Open Stripe billing portal").click()
    page.wait_for_url(re.compile(re.escape(sim.url) + r"/billing_portal/.*"))
    j.shoot("stripe-billing-portal")
    page.get_by_role("link", name=re.compile("Return|Back", re.I)).first.click()
    page.wait_for_url(re.compile(re.escape(j.base) + r"/billing/.*"))

    j.go("/billing/enterprise")
    j.shoot("enterprise-form")
    page.get_by_role("button", name="Send to sales").click()
    page.locator(".form-errors").wait_for()
    j.shoot("enterprise-form-errors")
    page.get_by_label("Your name").fill("Ada Journey")
    page.get_by_label("Company").fill("Journey Labs")
    page.get_by_label(re.compile("calls per day", re.I)).fill("2000000")
    page.get_by_label("What do you need?").fill("We need federation at scale.")
    page.get_by_role("button", name="Send to sales").click()
    page.wait_for_url(j.base + "/billing/upgrade")
    assert "Our sales team has your request" in j.text()
    j.shoot("enterprise-sent")


# --- pages at phone width, and the error pages -----------------------------------------------


def phone_width_and_error_pages(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    j.page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (
        ("/", "dashboard"),
        ("/usage", "usage"),
        ("/billing/", "billing"),
        ("/billing/upgrade", "plans"),
        ("/keys", "keys"),
    ):
        j.go(path)
        width = j.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways at phone width ({width}px)"
        j.shoot(f"phone-{name}")
    j.page.set_viewport_size({"width": 1280, "height": 900})
    j.go("/no-such-page")
    assert "There is nothing at this address" in j.text()
    j.shoot("error-404")


# --- without JavaScript, and signing out -----------------------------------------------------


def pages_without_javascript(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    """The same session with scripts off: every page still renders its current state."""
    context = j.page.context.browser.new_context(
        java_script_enabled=False,
        viewport={"width": 1280, "height": 900},
        storage_state=j.page.context.storage_state(),
    )
    page = context.new_page()
    for path, name in (("/", "dashboard"), ("/billing/", "billing"), ("/usage", "usage")):
        page.goto(j.base + path)
        assert page.locator("main h1").count() == 1
        j.number += 1
        page.screenshot(
            path=str(j.shots / f"journey-{j.number:02d}-nojs-{name}.png"), full_page=True
        )
    assert page.locator('[data-bar="calls_today"] progress').count() == 0  # on /usage
    page.goto(j.base + "/")
    assert progress(page, "calls_today")[1] == 10_000
    context.close()


def sign_out(j: Journey, app: Flask, sim: Any, clock: str) -> None:
    j.go("/")
    j.page.get_by_role("button", name="Sign out").click()
    j.page.wait_for_url(re.compile(re.escape(j.base) + r"/login.*"))
    j.shoot("signed-out")
    j.go("/dashboard/usage-bars")
    assert "/login" in j.page.url
