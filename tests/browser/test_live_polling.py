"""The dashboard's usage bars poll while the tab is visible, and only then.

The poll interval is a setting (``USAGE_POLL_SECONDS``), so each test picks one that makes
its point quickly: a short one to watch polls arrive and stop, a long one to show that coming
back to the tab refreshes at once rather than at the next tick. The tests wait for requests
and values, not for fixed times, except where the point is that nothing happens.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.factory import Account, Factory

pytestmark = pytest.mark.browser

FRAGMENT = "/dashboard/usage-bars"
CALLS_TODAY = '[data-bar="calls_today"] progress'


def set_visibility(page: Any, state: str) -> None:
    """Headless tabs are always visible, so the test overrides what the page reads."""
    page.evaluate(
        "state => { Object.defineProperty(document, 'visibilityState',"
        " {value: state, configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        state,
    )


def is_poll(request: Any) -> bool:
    return FRAGMENT in request.url


@pytest.fixture
def owner(factory: Factory) -> Account:
    return factory.account()


@pytest.fixture
def poll_seconds() -> float:
    """``USAGE_POLL_SECONDS`` for the test; each test parametrizes it."""
    return 3.0


@pytest.fixture
def dashboard(
    browser: Any, app: Flask, live_server: Any, owner: Account, poll_seconds: float
) -> Iterator[Any]:
    """A signed-in tab on the dashboard, recording every poll of the fragment."""
    app.config["USAGE_POLL_SECONDS"] = poll_seconds
    context = browser.new_context(base_url=live_server.url)
    context.add_cookies([owner.browser_cookie(live_server.url)])
    page = context.new_page()
    page.polls = []
    page.on("request", lambda request: page.polls.append(request) if is_poll(request) else None)
    page.goto("/")
    assert page.get_attribute(CALLS_TODAY, "value") == "0"
    yield page
    context.close()


@pytest.mark.parametrize("poll_seconds", [0.3])
def test_visible_tab_follows_usage_and_a_hidden_one_stops_polling(
    dashboard: Any, owner: Account, factory: Factory, poll_seconds: float
) -> None:
    from playwright.sync_api import expect

    page = dashboard
    factory.usage(owner.tenant_id, "api_calls", 42)
    expect(page.locator(CALLS_TODAY)).to_have_attribute("value", "42")
    # The 30-day chart moves in the same poll: today's bar says 42 too (its table, for
    # screen readers, and the bar's tooltip), and the first-run guide ticks its last step.
    expect(page.locator(".chart-figure tbody tr").last.locator("td").nth(1)).to_have_text("42")
    expect(page.locator("rect.chart-bar-today title")).to_contain_text(": 42 calls")
    expect(page.locator('[data-step="watch"]')).to_have_class("step-done")
    factory.usage(owner.tenant_id, "api_calls", 43)
    expect(page.locator(CALLS_TODAY)).to_have_attribute("value", "43")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    set_visibility(page, "hidden")
    interval_ms = poll_seconds * 1000
    page.wait_for_timeout(interval_ms)  # a poll already in flight may still land
    hidden_from = len(page.polls)
    factory.usage(owner.tenant_id, "api_calls", 77)
    page.wait_for_timeout(5 * interval_ms)  # five ticks, each of which would have polled
    assert len(page.polls) == hidden_from, "no polling while the tab is hidden"
    assert page.get_attribute(CALLS_TODAY, "value") == "43"


@pytest.mark.parametrize("poll_seconds", [60])
def test_coming_back_to_the_tab_refreshes_at_once(
    dashboard: Any, owner: Account, factory: Factory
) -> None:
    """With a minute between ticks, a poll within seconds can only be the tab coming back."""
    from playwright.sync_api import expect

    page = dashboard
    assert page.locator("#usage-bars").get_attribute("hx-trigger").startswith("every 60s")
    set_visibility(page, "hidden")
    factory.usage(owner.tenant_id, "api_calls", 42)
    with page.expect_request(is_poll, timeout=5_000):
        set_visibility(page, "visible")
    expect(page.locator(CALLS_TODAY)).to_have_attribute("value", "42")
    assert len(page.polls) == 1


def test_a_poll_landing_after_a_page_change_is_dropped(
    browser: Any, app: Flask, live_server: Any, owner: Account
) -> None:
    """The dashboard's poll (with the chart and the guide out of band) is still in flight when
    the person follows a link: it is cancelled, and nothing errors on the new page."""
    from tests.conftest import checked_page

    app.config["USAGE_POLL_SECONDS"] = 0.2
    held: list[Any] = []
    with checked_page(browser, live_server.url, {"width": 1280, "height": 800}) as page:
        page.context.add_cookies([owner.browser_cookie(live_server.url)])
        page.goto("/")
        page.route(f"**{FRAGMENT}*", lambda route: held.append(route))
        deadline = time.monotonic() + 10
        while not held:  # the next poll is held back, in flight
            assert time.monotonic() < deadline, "no poll was made"
            page.wait_for_timeout(50)
        page.get_by_role("link", name="API keys").click()
        page.wait_for_url(f"{live_server.url}/keys")
        assert held, "a poll was in flight"
        for route in held:
            route.fulfill(response=route.fetch())
        # Give a late answer the time to land (there is no event for "nothing happened").
        page.wait_for_timeout(300)
        assert page.locator("#api-keys").is_visible()
