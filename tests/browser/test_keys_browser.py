"""In a real browser: sign up, sign in, create an API key, copy it, revoke it; with and without JS.

Screenshots land in tests/screenshots/ (``SCREENSHOT_DIR``) as keys-NN-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.factory import PASSWORD

pytestmark = pytest.mark.browser

EMAIL = "browser@example.com"
KEY_SHAPE = re.compile(r"ck_test_[A-Za-z0-9_-]{43}")
VIEWPORT = {"width": 1280, "height": 800}


def shoot(page, screenshot_dir: Path, name: str) -> None:
    page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)


def test_sign_up_sign_in_create_and_revoke_a_key(browser, live_server, screenshot_dir):
    context = browser.new_context(viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    base = live_server.url

    page.goto(f"{base}/signup")
    shoot(page, screenshot_dir, "keys-01-signup")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("too short")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Use at least 12 characters.").wait_for()
    shoot(page, screenshot_dir, "keys-02-signup-error")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/")
    page.get_by_text("You are on the Free plan").wait_for()
    shoot(page, screenshot_dir, "keys-03-dashboard-after-signup")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    shoot(page, screenshot_dir, "keys-04-signin")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    shoot(page, screenshot_dir, "keys-05-dashboard")

    page.get_by_role("link", name="API keys").click()
    page.wait_for_url(f"{base}/keys")
    shoot(page, screenshot_dir, "keys-06-keys-empty")
    page.get_by_label("Key name").fill("production server")
    page.get_by_role("button", name="Create key").click()
    key_input = page.locator("#new-key-value")
    key_input.wait_for()
    raw_key = key_input.input_value()
    assert KEY_SHAPE.fullmatch(raw_key)
    page.get_by_role("button", name="Copy", exact=True).click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == raw_key
    shoot(page, screenshot_dir, "keys-07-key-created")

    page.reload()
    assert raw_key not in page.content()
    row = page.locator("tbody tr")
    assert row.count() == 1
    assert row.locator("td").nth(0).inner_text() == raw_key[:12] + "…"

    page.get_by_text("Revoke…").click()
    page.get_by_role("button", name="Yes, revoke “production server”").wait_for()
    shoot(page, screenshot_dir, "keys-08-revoke-confirm")
    page.get_by_role("button", name="Yes, revoke “production server”").click()
    page.locator("main").get_by_text("Calls with it now fail").wait_for()
    # The news is announced to screen readers, and focus moves to it.
    page.locator("#announcer", has_text="Calls with it now fail").wait_for(state="attached")
    assert page.evaluate("document.activeElement.textContent").startswith("Revoked")
    assert page.locator(".badge", has_text="Revoked").count() == 1
    shoot(page, screenshot_dir, "keys-09-revoked")
    assert script_errors == []
    context.close()


def test_keys_work_without_javascript(browser, live_server, screenshot_dir, factory):
    context = browser.new_context(java_script_enabled=False, viewport=VIEWPORT)
    context.add_cookies([factory.account().browser_cookie(live_server.url)])
    page = context.new_page()
    page.goto(f"{live_server.url}/keys")
    page.get_by_label("Key name").fill("no-js server")
    page.get_by_role("button", name="Create key").click()
    raw_key = page.locator("#new-key-value").input_value()
    assert KEY_SHAPE.fullmatch(raw_key)
    assert not page.get_by_role("button", name="Copy").is_visible()
    shoot(page, screenshot_dir, "keys-10-nojs-created")

    page.goto(f"{live_server.url}/keys")
    page.get_by_text("Revoke…").click()
    page.get_by_role("button", name="Yes, revoke “no-js server”").click()
    page.wait_for_url(f"{live_server.url}/keys")
    page.get_by_text("Revoked “no-js server”").wait_for()
    shoot(page, screenshot_dir, "keys-11-nojs-revoked")
    context.close()
