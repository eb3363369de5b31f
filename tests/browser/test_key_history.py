"""A key shown once stays shown once: not in htmx's history cache, not after signing out.

Screenshots land in tests/screenshots/ as history-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import checked_page
from tests.factory import PASSWORD

pytestmark = pytest.mark.browser

KEY_SHAPE = re.compile(r"ck_test_[A-Za-z0-9_-]{43}")


def _everywhere(page) -> str:  # type: ignore[no-untyped-def]
    """The page's DOM and both web storages, as one string to search for a secret."""
    return page.evaluate(
        """() => document.documentElement.outerHTML
            + JSON.stringify(Object.assign({}, sessionStorage))
            + JSON.stringify(Object.assign({}, localStorage))"""
    )


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}])
def test_back_after_sign_out_never_shows_the_key_again(
    browser, live_server, factory, screenshot_dir: Path, viewport
) -> None:
    account = factory.account(email="history@example.com")
    with checked_page(browser, live_server.url, viewport) as page:
        page.goto("/login")
        page.get_by_label("Email").fill(account.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        page.get_by_role("link", name="API keys").click()
        page.wait_for_url(f"{live_server.url}/keys")
        page.get_by_label("Key name").fill("laptop")
        page.get_by_role("button", name="Create key").click()
        raw_key = page.locator("#new-key-value").input_value()
        assert KEY_SHAPE.fullmatch(raw_key)
        # Moving on within the portal would snapshot the page into htmx's history cache.
        page.get_by_role("link", name="Usage").first.click()
        page.wait_for_url(f"{live_server.url}/usage")
        assert raw_key not in _everywhere(page)

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{live_server.url}/login")
        for _ in range(2):
            page.go_back()
            page.wait_for_load_state()
            page.locator("main").wait_for()
            assert raw_key not in _everywhere(page)
        page.screenshot(path=str(screenshot_dir / "history-after-back-twice.png"))
        assert page.evaluate("sessionStorage.getItem('htmx-history-cache')") in (None, "[]")
