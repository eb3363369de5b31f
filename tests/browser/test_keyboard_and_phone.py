"""Keyboard, screen readers and phones, in Chromium: every control shows a focus ring, Space
works on anything that looks like a button, htmx results take focus and are announced, the
keys list is cards on a phone, and chart labels stay legible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from portal.extensions import db
from portal.models import ApiKey
from tests.conftest import checked_page
from tests.factory import Factory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

#: For the focused element: whether it shows a ring (an outline, or Pico's box-shadow ring).
RING = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  return {tag: el.tagName, text: (el.textContent || el.value || "").trim().slice(0, 40),
          ring: outline || (style.boxShadow !== "none" && style.boxShadow !== "")};
}"""


def _tab_through(page: Any, limit: int = 60) -> list[dict[str, Any]]:
    """Press Tab until focus comes back round (or ``limit``), noting each control's ring."""
    seen = []
    page.locator("body").focus()
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = page.evaluate(RING)
        if state["tag"] == "BODY" or state in seen[:1]:
            break
        seen.append(state)
    return seen


def test_every_control_shows_a_focus_ring(browser: Any, live_server: Any, factory: Factory) -> None:
    acme = factory.account(name="Acme")
    factory.key(acme.tenant_id, "laptop")
    with checked_page(browser, live_server.url, DESKTOP) as page:
        page.context.add_cookies([acme.browser_cookie(live_server.url)])
        for path in ("/", "/keys", "/usage", "/billing/", "/billing/upgrade"):
            page.goto(path)
            controls = _tab_through(page)
            assert len(controls) >= 5, path
            missing = [c for c in controls if not c["ring"]]
            assert not missing, f"{path}: no focus ring on {missing}"


def test_space_on_a_button_styled_link_and_focus_and_news_after_a_swap(
    browser: Any, live_server: Any, factory: Factory
) -> None:
    acme = factory.account(name="Acme")
    with checked_page(browser, live_server.url, DESKTOP) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.context.add_cookies([acme.browser_cookie(live_server.url)])
        page.goto("/")
        page.get_by_role("button", name="Upgrade to Pro").focus()
        page.keyboard.press("Space")
        page.wait_for_url(f"{live_server.url}/billing/upgrade")

        page.goto("/keys")
        page.get_by_label("Key name").fill("ci")
        page.keyboard.press("Enter")
        page.locator("#new-key-value").wait_for()
        # Focus is on the new key's panel, and the news is in the live region.
        assert page.evaluate("document.activeElement.classList.contains('new-key')")
        announcer = page.locator("#announcer")
        announcer.filter(has_text="Key “ci” created").wait_for(state="attached")
        page.get_by_role("button", name="Copy", exact=True).focus()
        page.keyboard.press("Space")
        announcer.filter(has_text="Copied to the clipboard.").wait_for(state="attached")


def test_keys_are_cards_on_a_phone_with_revoked_ones_folded(
    app: Any, browser: Any, live_server: Any, factory: Factory, screenshot_dir: Path
) -> None:
    acme = factory.account(name="Acme")
    factory.key(acme.tenant_id, "a production server with a rather long name")
    for name in ("old laptop", "old ci"):
        factory.key(acme.tenant_id, name)
    with app.app_context():
        for key in db.session.scalars(db.select(ApiKey).where(ApiKey.name.like("old %"))):
            key.revoked_at = datetime.now(UTC)
        db.session.commit()
    with checked_page(browser, live_server.url, PHONE) as page:
        page.context.add_cookies([acme.browser_cookie(live_server.url)])
        page.goto("/keys")
        row = page.locator("#api-keys tr", has_text="production server")
        name = row.locator(".key-name")
        status = row.locator(".key-status")
        revoke = row.get_by_text("Revoke…")
        for part in (name, status, revoke):
            box = part.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], part
        # Name, status and Revoke are seen together, within one screen.
        boxes = [part.bounding_box() for part in (name, status, revoke)]
        assert max(b["y"] + b["height"] for b in boxes) - min(b["y"] for b in boxes) < 300
        folded = page.get_by_text("Show revoked (2)")
        assert folded.is_visible()
        assert not page.get_by_text("old laptop").is_visible()
        page.screenshot(path=str(screenshot_dir / "phone-keys-cards.png"), full_page=True)
        folded.click()
        assert page.get_by_text("old laptop").is_visible()
        page.screenshot(path=str(screenshot_dir / "phone-keys-revoked-open.png"), full_page=True)


def test_on_a_phone_the_next_plan_comes_first_and_chart_labels_are_legible(
    browser: Any, live_server: Any, factory: Factory
) -> None:
    acme = factory.account(name="Acme")
    factory.usage(acme.tenant_id, "api_calls", 40)
    with checked_page(browser, live_server.url, PHONE) as page:
        page.context.add_cookies([acme.browser_cookie(live_server.url)])
        page.goto("/billing/upgrade")
        tops = page.evaluate(
            """() => [...document.querySelectorAll('.plan-card')].map(c => [
                 c.querySelector('h2, h3').textContent.trim(), c.getBoundingClientRect().top])"""
        )
        first = min(tops, key=lambda pair: pair[1])[0]
        assert "Pro" in first, tops
        for width in (360, 390, 575, 600, 700, 767, 800, 960, 1023, 1024, 1280):
            viewport = {"width": width, "height": 900}
            page.set_viewport_size(viewport)
            page.goto("/")
            sizes = page.evaluate(
                """() => [...document.querySelectorAll('svg.chart text')].map(
                     t => t.getBoundingClientRect().height)"""
            )
            smallest = page.evaluate(
                """() => { const svg = document.querySelector('svg.chart');
                     const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
                     return Math.min(...[...svg.querySelectorAll('text')].map(
                       t => parseFloat(getComputedStyle(t).fontSize) * scale)); }"""
            )
            assert sizes and smallest >= 11, (viewport, smallest)
