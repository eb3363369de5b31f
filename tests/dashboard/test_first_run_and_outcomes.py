"""The first-run guide, the outcome breakdown on the usage page, the keys page's API address,
and the dashboard's plan line while a cancellation is pending."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from flask import Flask

from portal.extensions import db
from portal.models import ApiKey
from tests.factory import Factory


def _steps(html: str) -> dict[str, bool]:
    return {
        step: "step-done" in classes
        for classes, step in re.findall(r'<li class="([^"]*)" data-step="(\w+)"', html)
    }


def test_the_guide_ticks_each_step_and_leaves_when_all_three_are_done(
    app: Flask, factory: Factory
) -> None:
    acme = factory.account(name="Acme")
    html = unescape(acme.client.get("/").get_data(as_text=True))
    assert "Get started in three steps" in html
    assert _steps(html) == {"key": False, "call": False, "watch": False}
    assert 'curl -H "Authorization: Bearer $CONTINUUM_API_KEY" http://' in html
    assert "/dashboard/usage-bars?guide=1" in html

    factory.key(acme.tenant_id, "laptop")
    assert _steps(acme.client.get("/").get_data(as_text=True)) == {
        "key": True,
        "call": False,
        "watch": False,
    }
    with app.app_context():
        key = db.session.scalar(db.select(ApiKey).where(ApiKey.tenant_id == acme.tenant_id))
        key.last_used_at = datetime.now(UTC)
        db.session.commit()
    factory.usage(acme.tenant_id, "api_calls", 1)
    # A page already showing the guide sees the last tick in its poll ...
    polled = acme.client.get("/dashboard/usage-bars?guide=1", headers={"HX-Request": "true"})
    fragment = unescape(polled.get_data(as_text=True))
    assert "You're set up" in fragment
    assert _steps(fragment) == {"key": True, "call": True, "watch": True}
    # ... and the next page load no longer shows it.
    html = acme.client.get("/").get_data(as_text=True)
    assert 'id="first-run"' not in html and "guide=1" not in html


def test_the_usage_page_breaks_calls_down_by_outcome_per_endpoint(factory: Factory) -> None:
    acme = factory.account(name="Acme")
    route = "/api/memories"
    factory.usage(acme.tenant_id, f"api_calls:{route}", 50)
    factory.usage(acme.tenant_id, f"outcome:client_error:{route}", 4)
    factory.usage(acme.tenant_id, f"outcome:server_error:{route}", 2)
    factory.usage(acme.tenant_id, f"outcome:refused_rate_limit:{route}", 7)
    factory.usage(acme.tenant_id, "outcome:refused_plan:/api/federation", 3)
    factory.usage(acme.tenant_id, "outcome:refused_storage:/api/memories", 1)
    html = acme.client.get("/usage").get_data(as_text=True)
    row = re.search(rf'<tr data-outcomes="{route}">.*?</tr>', html, re.S)
    assert row
    cells = dict(re.findall(r'data-outcome="(\w+)">([\d,]+)<', row.group(0)))
    assert cells == {
        "succeeded": "46",
        "client_error": "4",
        "server_error": "2",
        "refused_rate_limit": "7",
        "refused_plan": "0",
        "refused_storage": "1",
    }
    # An endpoint whose every call was refused is listed too.
    assert '<tr data-outcomes="/api/federation">' in html
    assert "Calls this billing period" in html and "monthly calls" not in html


def test_the_keys_page_shows_the_api_address_and_an_example(app: Flask, factory: Factory) -> None:
    app.config["PORTAL_BASE_URL"] = "https://portal.example.com"
    html = unescape(factory.account().client.get("/keys").get_data(as_text=True))
    assert "<code data-api-base>https://portal.example.com</code>" in html
    assert (
        'curl -H "Authorization: Bearer $CONTINUUM_API_KEY" https://portal.example.com/api/memories'
        in html
    )
    assert 'href="https://portal.example.com/docs"' in html
    app.config["API_BASE_URL"] = "https://api.example.com/"
    html = factory.account().client.get("/keys").get_data(as_text=True)
    assert "<code data-api-base>https://api.example.com</code>" in html


@pytest.mark.parametrize("pending", [True, False])
def test_a_pending_cancellation_shows_on_the_dashboard(factory: Factory, pending: bool) -> None:
    acme = factory.account("pro", name="Acme")
    end = datetime(2026, 12, 28, 10, tzinfo=UTC)
    factory.subscription(
        acme.tenant_id,
        cancel_at_period_end=pending,
        period_end=max(end, datetime.now(UTC) + timedelta(days=2)),
    )
    html = acme.client.get("/").get_data(as_text=True)
    assert ("Pro · ends " in html) is pending
    assert ("Pro plan" in html) is not pending
