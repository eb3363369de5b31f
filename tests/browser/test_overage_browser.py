"""In a real browser: a Pro owner turns overage on with a cap, sees a bad cap refused in place,
turns it off again without JavaScript, and watches the dashboard's overage card follow the
period's usage. Free sees why it has no overage switch.

Screenshots land in tests/screenshots/ (``SCREENSHOT_DIR``) as overage-*.png at 1280x800 and
390x844; a person looks at them. Each width is also checked for sideways scrolling.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import MeterReport, Subscription, Tenant
from tests.conftest import checked_page
from tests.factory import Account, Factory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def shoot(page: Any, directory: Path, name: str, selector: str | None = None) -> None:
    """Screenshots at both widths (of ``selector``'s element when given), checking that the
    page never scrolls sideways."""
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} at {label} width scrolls sideways by {overflow}px"
        path = str(directory / f"overage-{name}-{label}.png")
        if selector:
            page.locator(selector).screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=True)
    page.set_viewport_size(DESKTOP)


def pro_owner(factory: Factory) -> tuple[Account, datetime]:
    """A Pro tenant whose subscription already has its metered item (no Stripe call needed)."""
    account = factory.account("pro", name="Acme")
    sub = factory.subscription(
        account.tenant_id, "active", period_end=datetime.now(UTC) + timedelta(days=20)
    )
    with account.app.app_context():
        db.session.execute(
            sa.update(Subscription)
            .where(Subscription.id == sub.id)
            .values(metered_item_id="si_test_metered")
        )
        db.session.commit()
    assert sub.current_period_start is not None
    return account, sub.current_period_start


def stored(account: Account) -> tuple[bool, int]:
    with account.app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        return tenant.overage_enabled, tenant.overage_cap_cents


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    with checked_page(browser, live_server.url, DESKTOP) as page:
        page.live_server = live_server
        yield page


def sign_in(page: Any, account: Account) -> None:
    page.context.clear_cookies()
    page.context.add_cookies([account.browser_cookie(page.live_server.url)])


def test_pro_owner_turns_overage_on_sees_an_error_in_place_and_the_card(
    page: Any, app: Flask, factory: Factory, screenshot_dir: Path
) -> None:
    from playwright.sync_api import expect

    account, period_start = pro_owner(factory)
    sign_in(page, account)
    page.goto("/billing/")
    section = page.locator("#overage")
    expect(section.get_by_label("Monthly spend cap", exact=True)).to_have_value("20.00")
    expect(section.get_by_role("switch")).not_to_be_checked()
    shoot(page, screenshot_dir, "billing-off")

    section.get_by_role("switch").check()
    section.get_by_label("Monthly spend cap", exact=True).fill("1e3")
    section.get_by_role("button", name="Save overage and alerts").click()
    expect(section.locator(".field-error")).to_contain_text("enter dollars in digits")
    assert page.url.endswith("/billing/"), "htmx swapped the section in place"
    expect(section.get_by_label("Monthly spend cap", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(section.get_by_label("Monthly spend cap", exact=True)).to_have_value("1e3")
    assert stored(account) == (False, 2_000)
    shoot(page, screenshot_dir, "billing-error")

    section.get_by_label("Monthly spend cap", exact=True).fill("35.50")
    section.get_by_label("50% of the monthly spend cap").uncheck()
    section.get_by_role("button", name="Save overage and alerts").click()
    expect(section.locator(".notice")).to_contain_text("Overage is on, capped at $35.50")
    expect(section.locator("[data-overage-state]")).to_have_text("Overage on")
    assert stored(account) == (True, 3_550)
    shoot(page, screenshot_dir, "billing-on")

    with app.app_context():
        db.session.add(
            MeterReport(
                tenant_id=account.tenant_id,
                period_start=int(period_start.timestamp()),
                quantity=290_000,
                event_time=int(datetime.now(UTC).timestamp()),
            )
        )
        db.session.commit()
    today = datetime.now(UTC).date()
    for days_ago, calls, overage in ((0, 40_000, 30_000), (1, 10_000, 0), (2, 14_000, 4_000)):
        factory.usage(account.tenant_id, "api_calls", calls, today - timedelta(days=days_ago))
        factory.usage(account.tenant_id, "api_calls_overage", overage, today - timedelta(days_ago))
    page.get_by_role("link", name="Dashboard").click()
    card = page.locator("#overage-card")
    expect(card).to_contain_text("Overage this period")
    expect(card.locator('[data-overage="calls"]')).to_have_text("290,000")
    expect(card.locator('[data-overage="cost"]')).to_have_text("$29.00")
    expect(card.locator('[data-bar="overage_cap"]')).to_have_attribute("data-level", "warn")
    expect(page.locator("rect.chart-overage")).to_have_count(2)
    shoot(page, screenshot_dir, "dashboard-card", "#overage-card")
    shoot(page, screenshot_dir, "dashboard-chart", ".chart-figure")
    shoot(page, screenshot_dir, "dashboard")

    # The polled fragment moves the card along: the cap is reached.
    with app.app_context():
        db.session.add(
            MeterReport(
                tenant_id=account.tenant_id,
                period_start=int(period_start.timestamp()),
                quantity=65_000,
                event_time=int(datetime.now(UTC).timestamp()),
            )
        )
        db.session.commit()
    page.evaluate("htmx.trigger('#usage-bars', 'portal:visible')")
    expect(card.locator('[data-overage="cost"]')).to_have_text("$35.50")
    expect(card.locator('[data-bar="overage_cap"]')).to_have_attribute("data-level", "over")
    shoot(page, screenshot_dir, "dashboard-card-at-cap", "#overage-card")


def test_without_javascript_the_form_saves_and_shows_errors(
    browser: Any, live_server: Any, factory: Factory, screenshot_dir: Path
) -> None:
    context = browser.new_context(
        viewport=DESKTOP, base_url=live_server.url, java_script_enabled=False
    )
    page = context.new_page()
    page.live_server = live_server
    account, _ = pro_owner(factory)
    sign_in(page, account)
    page.goto("/billing/")
    section = page.locator("#overage")
    section.get_by_label("Monthly spend cap", exact=True).fill("0")
    section.get_by_role("button", name="Save overage and alerts").click()
    page.locator("#overage .field-error").get_by_text("must be at least $1.00").wait_for()
    assert page.locator("#subscription").count() == 1, "the whole page came back"
    shoot(page, screenshot_dir, "nojs-error")

    page.locator("#overage").get_by_role("switch").check()
    page.locator("#overage").get_by_label("Monthly spend cap", exact=True).fill("$1,000")
    page.locator("#overage").get_by_role("button", name="Save overage and alerts").click()
    page.locator("main").get_by_text("Overage is on, capped at $1,000.00").wait_for()
    assert page.url.endswith("/billing/#overage")
    assert stored(account) == (True, 100_000)
    context.close()


def test_free_and_pro_without_overage_are_offered_it(
    page: Any, factory: Factory, screenshot_dir: Path
) -> None:
    from playwright.sync_api import expect

    free = factory.account()
    sign_in(page, free)
    page.goto("/billing/")
    expect(page.locator("#overage")).to_contain_text("Overage comes with Pro")
    expect(page.locator("#overage").get_by_role("switch")).to_have_count(0)
    shoot(page, screenshot_dir, "billing-free", "#overage")

    account, _ = pro_owner(factory)
    sign_in(page, account)
    page.goto("/")
    offer = page.locator("#overage-card")
    expect(offer).to_contain_text("Turn on overage")
    shoot(page, screenshot_dir, "dashboard-offer")
    offer.get_by_role("link", name="Turn on overage").click()
    page.wait_for_url("**/billing/#overage")
