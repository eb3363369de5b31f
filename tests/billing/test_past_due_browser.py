# ruff: noqa: F811  (fixtures imported from test_lifecycle_e2e are this module's parameters)
"""Past due in Chromium: the one-click pay button, the bank's words when 0341 is declined,
then picking a working card clears the banner in place. Screenshots at both widths as
tests/screenshots/past-due-*.png, each state checked with axe-core."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stripe_sim.testing import SimulatorProcess
from tests.axe import assert_accessible, enable_axe
from tests.conftest import checked_page
from tests.factory import Factory

from .conftest import CARD_FAILS_LATER, Billing
from .test_lifecycle_e2e import (  # noqa: F401 - clock and portal_url are fixtures
    DAY,
    Person,
    clock,
    eventually,
    portal_url,
    upgrade,
)

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _look(page: Any, directory: Path, state: str) -> None:
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        assert_accessible(page, f"past due {state} ({label})")
        page.screenshot(path=str(directory / f"past-due-{state}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def test_pay_now_declined_then_a_working_card_clears_the_banner(
    billing: Billing,
    clock: Callable[[int], None],
    portal_url: str,
    factory: Factory,
    sim: SimulatorProcess,
    browser: Any,
    screenshot_dir: Path,
) -> None:
    account = factory.account()
    person = Person(portal_url)
    person.sign_in_as(account)
    billing.app.config["STRIPE_TRIAL_DAYS"] = 7
    upgrade(person, sim, CARD_FAILS_LATER)
    clock(8 * DAY)
    eventually(lambda: billing.state(1)[1][0][1] == "past_due")

    with checked_page(browser, portal_url, DESKTOP) as page:
        enable_axe(page)
        page.context.add_cookies([account.browser_cookie(portal_url)])
        page.goto("/billing/")
        pay = page.get_by_role("button", name=re.compile(r"Pay \$[\d.]+ now with Visa •••• 0341"))
        assert page.locator(".past-due-banner").is_visible()
        assert (
            page.locator("[data-next-retry]")
            .inner_text()
            .startswith("If nothing changes, we try the card on file again on")
        )
        _look(page, screenshot_dir, "pay-now")
        pay.click()
        notice = page.locator("#subscription .notice-error")
        notice.wait_for()
        assert "Your bank declined Visa •••• 0341: “Your card was declined.”" in notice.inner_text()
        assert page.evaluate("document.activeElement.classList.contains('notice')")
        said = re.search(r"again on (\d{1,2} \w{3} \d{4})", notice.inner_text())
        shown = re.search(
            r"again on (\d{1,2} \w{3} \d{4})", page.locator("[data-next-retry]").inner_text()
        )
        assert said and shown and said[1] == shown[1]
        _look(page, screenshot_dir, "declined")

        customer = billing.customer_id(1)
        good = billing.stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer})
        # Stripe tells the portal with payment_method.attached; the billing page's mirror
        # learns the card from it (sent here, so the page does not race the delivery).
        attached = billing.send("payment_method.attached", good.to_dict(for_json=True))
        assert attached.status_code == 200
        page.goto("/billing/")
        page.get_by_role("button", name=re.compile(r"Make default and pay \$")).click()
        page.locator("main").get_by_text("Your plan is active again.").wait_for()
        assert page.locator(".past-due-banner").count() == 0
        assert billing.state(1)[1][0][1] == "active"
        _look(page, screenshot_dir, "paid")
