"""The dashboard page, its polled fragment and the usage page, as a signed-in tenant sees them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.dashboard import routes
from portal.dashboard.usage import LiveUsage
from tests.factory import Factory


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> dict[int, LiveUsage]:
    """Live counts per tenant id, standing in for the enforcement store's snapshot."""
    counts: dict[int, LiveUsage] = {}
    monkeypatch.setattr(routes, "live_usage", lambda tenant_id: counts.get(tenant_id, LiveUsage()))
    return counts


def bar(html: str, key: str) -> str:
    match = re.search(rf'<div class="usage-bar [^"]*" data-bar="{key}".*?</progress>', html, re.S)
    assert match, f"no {key} bar"
    return match.group(0)


@pytest.mark.parametrize(
    ("calls", "level", "percent"),
    [(0, "ok", "0%"), (79, "ok", "79%"), (80, "warn", "80%"), (100, "over", "100%")],
)
def test_calls_today_bar_changes_colour_at_80_and_100_percent(
    live: dict, calls: int, level: str, percent: str, factory: Factory
) -> None:
    acme = factory.account(name="Acme")
    client = acme.client
    factory.usage(acme.tenant_id, "api_calls", calls)
    html = client.get("/").get_data(as_text=True)
    today = bar(html, "calls_today")
    assert f'class="usage-bar level-{level}"' in today
    assert f'<progress value="{calls}" max="100"' in today
    assert f'aria-label="API calls today: {calls} of 100, {percent} used"' in today


def test_every_limit_has_a_bar_with_live_values(live: dict, factory: Factory) -> None:
    acme = factory.account("pro", name="Acme")
    client = acme.client
    factory.storage(acme.tenant_id, memories=85_000, embeddings=10, bytes_used=10_000_000_000)
    live[acme.tenant_id] = LiveUsage(calls_this_minute=40, calls_today=5_000, concurrent=10)
    html = client.get("/").get_data(as_text=True)
    assert "level-ok" in bar(html, "calls_minute") and 'value="40" max="100"' in html
    assert "level-ok" in bar(html, "calls_today") and 'value="5000" max="10000"' in html
    assert "level-warn" in bar(html, "memories")
    assert "level-over" in bar(html, "storage")
    assert "level-over" in bar(html, "concurrent")
    assert "Pro plan" in html and "10,000" in html


def test_a_few_bytes_of_storage_do_not_read_as_zero(live: dict, factory: Factory) -> None:
    acme = factory.account(name="Acme")
    client = acme.client
    factory.storage(acme.tenant_id, memories=1, embeddings=1, bytes_used=40)
    assert "<strong>under 0.1 MB</strong> of 100 MB" in client.get("/").get_data(as_text=True)


def test_fragment_endpoint_returns_only_the_bars_block(live: dict, factory: Factory) -> None:
    acme = factory.account(name="Acme")
    client = acme.client
    factory.usage(acme.tenant_id, "api_calls", 42)
    factory.usage(
        acme.tenant_id, "api_calls", 100, day=datetime.now(UTC).date().replace(day=1) - timedelta(1)
    )
    live[acme.tenant_id] = LiveUsage(calls_today=45)
    page = client.get("/").get_data(as_text=True)
    response = client.get("/dashboard/usage-bars", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True).strip()
    assert response.status_code == 200
    assert fragment.startswith('<div id="usage-bars"') and fragment.endswith("</div>")
    assert "<html" not in fragment and "<nav" not in fragment and "Your plan" not in fragment
    assert fragment.count("<progress") == 5
    # The period's total is live too: today's live calls count, last month's do not.
    today = datetime.now(UTC).date()
    assert f"45 calls this billing period (1 {today:%b} to today, UTC)." in fragment
    # The chart is swapped in the same poll, and its today is the live count, as the bar's.
    assert '<div id="trend-chart" hx-swap-oob="true">' in fragment
    assert f"<td>{today.day} {today:%b %Y}</td><td>45</td>" in fragment
    assert 'hx-trigger="every 3s, portal:visible"' in fragment and "data-poll-while-visible" in page
    # The same markup serves both: the page holds the fragment's opening tag verbatim.
    assert fragment.splitlines()[0] in page


@pytest.mark.parametrize(("setting", "shown"), [(0.5, "0.5"), (10, "10"), (0, "0.1")])
def test_the_poll_interval_is_the_usage_poll_setting(
    app: Flask, factory: Factory, live: dict, setting: float, shown: str
) -> None:
    app.config["USAGE_POLL_SECONDS"] = setting
    html = factory.account().client.get("/").get_data(as_text=True)
    assert f'hx-trigger="every {shown}s, portal:visible"' in html
    assert f"Live, every {shown} s" in html


def test_tenant_never_sees_another_tenants_usage(live: dict, factory: Factory) -> None:
    alice = factory.account(name="Alice").client
    bob_account = factory.account(name="Bob")
    bob = bob_account.client
    factory.usage(bob_account.tenant_id, "api_calls", 77)
    factory.usage(bob_account.tenant_id, "api_calls:search", 77)
    factory.storage(bob_account.tenant_id, memories=555, bytes_used=5_000_000)
    live[bob_account.tenant_id] = LiveUsage(calls_this_minute=9, calls_today=77, concurrent=2)
    bobs = ("<strong>555</strong>", 'value="77"', 'value="9"', "search</code>", ">77</p>")
    for path in ("/", "/dashboard/usage-bars", "/usage"):
        html = alice.get(path).get_data(as_text=True)
        assert not [marker for marker in bobs if marker in html], path
        assert bobs[0] in bob.get(path).get_data(as_text=True)


def test_dashboard_projection_and_chart(live: dict, factory: Factory) -> None:
    acme = factory.account(name="Acme")
    client = acme.client
    today = datetime.now(UTC).date()
    factory.usage(acme.tenant_id, "api_calls", 40, day=today - timedelta(days=2))
    html = client.get("/").get_data(as_text=True)
    assert "No API calls yet today. Your daily limit is 100 calls." in html
    assert "calls this billing period" in html and "monthly calls" not in html
    svg = re.search(r"<svg class=\"chart\".*?</svg>", html, re.S)
    assert svg and '<title id="chart-title">API calls per day, last 30 days</title>' in svg.group(0)
    assert svg.group(0).count('<rect class="chart-bar') == 30
    assert 'aria-labelledby="chart-title chart-desc"' in svg.group(0)
    table = re.search(r'<div class="visually-hidden">.*?</table>', html, re.S)
    assert table and table.group(0).count("<tr>") == 31 and "<td>40</td>" in table.group(0)


def test_usage_page_lists_endpoints_and_storage(live: dict, factory: Factory) -> None:
    acme = factory.account(name="Acme")
    client = acme.client
    factory.usage(acme.tenant_id, "api_calls", 15)
    factory.usage(acme.tenant_id, "api_calls:search", 11)
    factory.usage(acme.tenant_id, "api_calls:memories", 4)
    factory.storage(acme.tenant_id, memories=120, embeddings=340, bytes_used=2_500_000)
    html = client.get("/usage").get_data(as_text=True)
    rows = re.findall(
        r'<tr data-endpoint="([^"]+)">\s*<td><code>[^<]+</code></td>\s*'
        r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>',
        html,
    )
    assert rows == [("search", "11", "11"), ("memories", "4", "4")]
    assert '<dd data-storage="embeddings">340' in html
    assert '<dd data-storage="bytes">2,500,000 bytes' in html
    assert 'value="120" max="1000"' in html


@pytest.mark.parametrize("path", ["/usage", "/dashboard/usage-bars"])
def test_signed_out_visitors_are_not_shown_usage(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (302, 401)


def test_the_poll_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.config import Config

    monkeypatch.delenv("USAGE_POLL_SECONDS", raising=False)
    assert Config().USAGE_POLL_SECONDS == 3
    monkeypatch.setenv("USAGE_POLL_SECONDS", "1.5")
    assert Config().USAGE_POLL_SECONDS == 1.5
