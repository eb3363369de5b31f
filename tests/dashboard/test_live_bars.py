"""The bars read the real enforcement store: calls to the example API move them at once."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from examples.continuum_api import create_api_app
from portal.enforcement import enforcement_for
from tests.factory import Factory


def minute_bar(client: FlaskClient) -> str:
    html = client.get("/dashboard/usage-bars").get_data(as_text=True)
    match = re.search(r'data-bar="calls_minute".*?<progress value="(\d+)" max="(\d+)"', html, re.S)
    assert match
    return f"{match.group(1)}/{match.group(2)}"


@pytest.fixture
def api(app: Flask) -> Iterator[FlaskClient]:
    """The example API sharing the portal app's counters, as in one ``make run`` process."""
    yield create_api_app(dict(app.config), enforcement=enforcement_for(app)).test_client()
    enforcement_for(app).stop()


def test_api_calls_move_the_minute_and_day_bars(api: FlaskClient, factory: Factory) -> None:
    acme = factory.account(name="Acme", key=True)
    portal = acme.client
    assert minute_bar(portal) == "0/10"
    for _ in range(3):
        response = api.get("/api/search?q=hello", headers={"Authorization": f"Bearer {acme.key}"})
        assert response.status_code == 200, response.get_data(as_text=True)
    assert minute_bar(portal) == "3/10"
    html = portal.get("/dashboard/usage-bars").get_data(as_text=True)
    assert re.search(r'data-bar="calls_today".*?<progress value="3" max="100"', html, re.S)
