"""In a real browser: an owner invites a developer and a billing member by email; each joins
through the emailed link and sees exactly their navigation; the owner removes the developer,
who loses access at their next click.

Screenshots land in tests/screenshots/ as teams-NN-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import checked_page
from tests.factory import PASSWORD
from tests.teams.support import SIGNUP_PASSWORD, latest_link

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def shoot(page, screenshot_dir: Path, name: str) -> None:
    page.screenshot(path=str(screenshot_dir / f"teams-{name}.png"), full_page=True)


def nav(page) -> list[str]:
    return [text.strip() for text in page.locator("ul.nav-links a").all_inner_texts()]


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def test_owner_invites_a_developer_and_a_billing_member(
    smtp_server, browser, live_server, factory, screenshot_dir
):
    factory.account(email="owner@acme.example", name="Acme")
    factory.account(email="finance@example.com", name="Finance Co")
    base = live_server.url

    with checked_page(browser, base, DESKTOP) as owner:
        sign_in(owner, "owner@acme.example")
        assert nav(owner) == ["Dashboard", "Usage", "API keys", "Billing", "Plans", "Team"]
        owner.get_by_role("link", name="Team").click()
        owner.wait_for_url("**/team")
        shoot(owner, screenshot_dir, "01-team-alone")
        for email, role in (("dev@example.com", "developer"), ("finance@example.com", "billing")):
            owner.get_by_label("Email address").fill(email)
            owner.get_by_label("Role").select_option(role)
            owner.get_by_role("button", name="Send invite").click()
            owner.get_by_text(f"Invite sent to {email}").wait_for()
        shoot(owner, screenshot_dir, "02-invites-pending")

        dev_link = base + latest_link(smtp_server, "dev@example.com", count=1)
        finance_link = base + latest_link(smtp_server, "finance@example.com", count=2)

        with checked_page(browser, base, DESKTOP) as dev:
            dev.goto(dev_link)
            dev.get_by_role("heading", name="Join Acme").wait_for()
            shoot(dev, screenshot_dir, "03-invite-page")
            dev.get_by_label("Choose a password").fill(SIGNUP_PASSWORD)
            dev.get_by_label("Repeat it").fill(SIGNUP_PASSWORD)
            dev.get_by_role("button", name="Create account and join").click()
            dev.get_by_text("Welcome to Acme. Your role is developer.").wait_for()
            assert nav(dev) == ["Dashboard", "Usage", "API keys"]
            dev.get_by_role("link", name="API keys").click()
            dev.get_by_label("Key name").fill("dev laptop")
            dev.get_by_role("button", name="Create key").click()
            dev.locator("#new-key-value").wait_for()
            shoot(dev, screenshot_dir, "04-developer-keys")
            dev.goto("/billing/")
            dev.get_by_text("does not include billing").wait_for()
            shoot(dev, screenshot_dir, "05-developer-forbidden-billing")

            with checked_page(browser, base, DESKTOP) as finance:
                finance.goto(finance_link)
                finance.get_by_label("Password", exact=True).fill(PASSWORD)
                finance.get_by_role("button", name="Sign in and join").click()
                finance.get_by_text("Welcome to Acme. Your role is billing.").wait_for()
                assert nav(finance) == ["Dashboard", "Usage", "Billing", "Plans"]
                # Two teams now: the header's switcher offers the other one.
                finance.locator("details.team-switcher summary").click()
                shoot(finance, screenshot_dir, "06-billing-member-switcher")
                finance.get_by_role("button", name="Finance Co (owner)").click()
                finance.get_by_text("You are now working in Finance Co as owner.").wait_for()
                assert "Team" in nav(finance)

            owner.goto("/team")
            owner.get_by_text("dev@example.com").first.wait_for()
            shoot(owner, screenshot_dir, "07-team-members")
            owner.goto("/keys")
            assert "dev@example.com" in owner.locator("tbody tr").first.inner_text()
            owner.goto("/team/activity")
            shoot(owner, screenshot_dir, "08-activity")

            owner.goto("/team")
            owner.get_by_role("link", name=re.compile(r"Remove\s+dev@example.com")).click()
            owner.get_by_text("dev laptop").wait_for()
            shoot(owner, screenshot_dir, "09-remove-confirm")
            owner.get_by_role("button", name="Remove from the team").click()
            owner.get_by_text("Removed dev@example.com and revoked 1 API key(s)").wait_for()

            # The developer's next click.
            dev.get_by_role("link", name="Usage").click()
            dev.get_by_role("heading", name="You are not in any team").wait_for()
            assert nav(dev) == []
            shoot(dev, screenshot_dir, "10-developer-after-removal")

    # The same pages at phone width: the billing member, in two teams, and the owner's team.
    with checked_page(browser, base, PHONE) as phone:
        sign_in(phone, "finance@example.com")
        phone.locator("details.team-switcher summary").click()
        shoot(phone, screenshot_dir, "11-phone-switcher")
    with checked_page(browser, base, PHONE) as phone:
        sign_in(phone, "owner@acme.example")
        phone.goto("/team")
        shoot(phone, screenshot_dir, "12-phone-team")
