"""The analytics page's call outcomes per endpoint: real calls through the example API (each
outcome the gates and handlers produce), flushed, then read on the staff page and its CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Flask

from examples.continuum_api import create_api_app
from portal.admin import usage_stats as use
from portal.enforcement import enforcement_for
from portal.extensions import db
from portal.models import utcnow
from tests.factory import Factory, PortalClient

HEADER = [
    "Endpoint",
    "Succeeded",
    "Client errors",
    "Server errors",
    "Refused: rate limit",
    "Refused: plan",
    "Refused: storage",
]


def test_outcomes_per_endpoint_on_the_page_and_in_the_csv(
    staff: PortalClient, app: Flask, app_config: dict[str, Any], factory: Factory
) -> None:
    enforcement = enforcement_for(app)
    api = create_api_app(app_config, enforcement=enforcement).test_client()
    free = factory.account("free", key=True)
    pro = factory.account("pro", key=True)
    today = utcnow().date()
    factory.usage(pro.tenant_id, "outcome:server_error:/api/memories", 2, today)
    factory.usage(pro.tenant_id, "outcome:refused_storage:/api/memories", 1, today)

    def status(method: str, path: str, account: Any, **kwargs: Any) -> int:
        return api.open(path, method=method, headers=account.headers, **kwargs).status_code

    assert status("POST", "/api/federation", free, json={"memory_ids": []}) == 403  # plan
    assert [status("GET", "/api/memories", free) for _ in range(8)] == [200] * 8
    assert status("GET", "/api/search", pro) == 400  # no ?q=: the handler's client error
    assert status("GET", "/api/search?q=tea", pro) == 200
    assert [status("GET", "/api/search?q=tea", free) for _ in range(3)] == [200, 200, 429]
    enforcement.flusher.flush()

    with app.app_context():
        found = {o.route: o.counts for o in use.endpoint_outcomes(db.session, today, today)}
    assert found["/api/memories"] == {
        "succeeded": 8,
        "client_error": 0,
        "server_error": 2,
        "refused_rate_limit": 0,
        "refused_plan": 0,
        "refused_storage": 1,
    }
    assert found["/api/search"] == {
        "succeeded": 3,  # two Free calls and Pro's good one; the 400 is a client error
        "client_error": 1,
        "server_error": 0,
        "refused_rate_limit": 1,
        "refused_plan": 0,
        "refused_storage": 0,
    }
    assert found["/api/federation"]["refused_plan"] == 1
    assert sum(found["/api/federation"].values()) == 1  # refused: never admitted

    html = staff.get("/admin/").get_data(as_text=True)
    assert "Call outcomes per endpoint, last 30 days" in html
    assert "Refused: rate limit" in html
    rows = list(
        csv.reader(
            io.StringIO(staff.get("/admin/analytics/endpoint-outcomes.csv").get_data(as_text=True))
        )
    )
    assert rows[0] == HEADER
    assert rows[1] == ["/api/memories", "8", "0", "2", "0", "0", "1"]  # the busiest first
    assert rows[2] == ["/api/search", "3", "1", "0", "1", "0", "0"]
    assert rows[3] == ["/api/federation", "0", "0", "0", "0", "1", "0"]
    enforcement.stop()
