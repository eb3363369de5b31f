"""The polled fragment sends the 30-day chart only when it changed since the page's last one.

The poll URL (the ``hx-get`` of ``#usage-bars``, re-sent with every answer) carries the key of
the chart the page shows; an unchanged chart is left out of the answer, a changed one (today's
live count moved, a flushed day, a new day) is sent, with the new key in the next poll URL.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from portal.dashboard import routes
from portal.dashboard.usage import LiveUsage
from tests.factory import Factory

CHART = '<div id="trend-chart" hx-swap-oob="true">'


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> dict[int, LiveUsage]:
    """Live counts per tenant id, standing in for the enforcement store's snapshot."""
    counts: dict[int, LiveUsage] = {}
    monkeypatch.setattr(routes, "live_usage", lambda tenant_id: counts.get(tenant_id, LiveUsage()))
    return counts


def poll_url(body: str) -> str:
    found = re.search(r'<div id="usage-bars"[^>]*?hx-get="([^"]+)"', body)
    assert found, "no poll URL"
    return html.unescape(found.group(1))


def test_an_unchanged_chart_is_not_sent_again_and_a_changed_one_is(
    live: dict, factory: Factory
) -> None:
    acme = factory.account(name="Acme")
    client = acme.client
    headers = {"HX-Request": "true"}
    factory.usage(acme.tenant_id, "api_calls", 42)
    url = poll_url(client.get("/").get_data(as_text=True))
    assert "chart=" in url

    quiet = client.get(url, headers=headers).get_data(as_text=True)
    assert CHART not in quiet and "<svg" not in quiet
    assert '<div id="usage-bars"' in quiet and poll_url(quiet) == url  # same chart, same key

    live[acme.tenant_id] = LiveUsage(calls_today=45)  # today's bar moves: the chart is sent
    moved = client.get(url, headers=headers).get_data(as_text=True)
    today = datetime.now(UTC).date()
    assert CHART in moved and f"<td>{today.day} {today:%b %Y}</td><td>45</td>" in moved
    assert poll_url(moved) != url
    again = client.get(poll_url(moved), headers=headers).get_data(as_text=True)
    assert CHART not in again

    # A poll without a key (or with one the server never made) always gets the chart.
    assert CHART in client.get("/dashboard/usage-bars", headers=headers).get_data(as_text=True)
    forged = client.get("/dashboard/usage-bars?chart=nonsense", headers=headers)
    assert CHART in forged.get_data(as_text=True)


def test_the_first_run_guide_keeps_its_ticks_and_the_chart_key_together(
    live: dict, factory: Factory
) -> None:
    acme = factory.account(name="Acme")
    client = acme.client
    url = poll_url(client.get("/").get_data(as_text=True))
    assert "guide=1" in url and "chart=" in url
    live[acme.tenant_id] = LiveUsage(calls_today=1)
    body = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert CHART in body and 'id="first-run"' in body
    assert "guide=1" in poll_url(body)
