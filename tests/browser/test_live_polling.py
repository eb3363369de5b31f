"""The dashboard's usage bars poll every few seconds while the tab is visible, and only then."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser

FRAGMENT = "/dashboard/usage-bars"


def set_visibility(page: Any, state: str) -> None:
    """Headless tabs are always visible, so the test overrides what the page reads."""
    page.evaluate(
        "state => { Object.defineProperty(document, 'visibilityState',"
        " {value: state, configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        state,
    )


def test_bars_poll_only_while_the_tab_is_visible(browser: Any, live_server: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    polls: list[float] = []
    page.on(
        "request",
        lambda request: polls.append(time.monotonic()) if FRAGMENT in request.url else None,
    )
    page.goto(f"{live_server.url}/signup")
    page.get_by_label("Email").fill("poller@example.com")
    page.get_by_label("Password").fill("violet harbour lantern 42")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_server.url}/")

    page.wait_for_timeout(7_000)
    assert len(polls) >= 2, "the bars should poll every 3 s while visible"

    set_visibility(page, "hidden")
    page.wait_for_timeout(300)  # a request already in flight may still land
    hidden_from = len(polls)
    page.wait_for_timeout(7_000)
    assert len(polls) == hidden_from, "no polling while the tab is hidden"

    set_visibility(page, "visible")
    page.wait_for_timeout(1_000)
    assert len(polls) > hidden_from, "coming back to the tab refreshes at once"
    context.close()
