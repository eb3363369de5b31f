"""Every billing form needs its CSRF token, and hostile input never gets a 500."""

from __future__ import annotations

from typing import Any

import pytest
from billing_support import give_customer, use_simulator

from tests.factory import Account, Factory

FORMS = [
    "/billing/checkout",
    "/billing/change-plan",
    "/billing/cancel",
    "/billing/resume",
    "/billing/payment-methods/pm_anything/default",
    "/billing/payment-methods/pm_anything/remove",
    "/billing/payment-methods/add",
    "/billing/portal",
    "/billing/enterprise",
]


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    return use_simulator(app_config, sim)


@pytest.mark.parametrize("path", FORMS)
@pytest.mark.parametrize("token", [None, "forged-token"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    account: Account, sim: Any, path: str, token: str | None, factory: Factory
) -> None:
    give_customer(account, sim, cards=1)
    factory.subscription(account.tenant_id, "active")
    data = {"interval": "year", "proration_date": "1"}
    if token:
        data["csrf_token"] = token
    response = account.client.post(path, data=data)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "card_id",
    [
        "pm_" + "A" * 300,
        "..%2F..%2Fv1%2Fcustomers",
        "pm_%00",
        "pm_%E2%80%AE",
        "cus_123",
        "%F0%9F%92%B3",
        "pm_does_not_exist",
    ],
)
@pytest.mark.parametrize("action", ["default", "remove"])
def test_hostile_card_ids_are_404(account: Account, sim: Any, card_id: str, action: str) -> None:
    give_customer(account, sim, cards=1)
    response = account.post(f"/billing/payment-methods/{card_id}/{action}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "change=" + "y" * 5000,
        "change=%00",
        "change=year&change=month",
        "confirm=cancel%00",
        "confirm=" + "c" * 5000,
        "interval=%FF%FE",
    ],
)
@pytest.mark.parametrize("path", ["/billing/", "/billing/upgrade"])
def test_hostile_query_strings_render_the_page(
    account: Account, sim: Any, path: str, query: str, factory: Factory
) -> None:
    give_customer(account, sim, cards=1)
    factory.subscription(account.tenant_id, "active")
    assert account.client.get(f"{path}?{query}").status_code == 200


@pytest.mark.parametrize(
    "form",
    [
        {"interval": "fortnightly", "proration_date": "1700000000"},
        {"interval": "year" * 1000, "proration_date": "-1"},
        {"interval": "", "proration_date": "1e10"},
        {"interval": "\x00year", "proration_date": "١٧٠٠٠٠٠٠٠٠"},
        {},
    ],
)
def test_hostile_plan_change_forms_are_4xx(
    account: Account, sim: Any, form: dict[str, str], factory: Factory
) -> None:
    give_customer(account, sim, cards=1)
    factory.subscription(account.tenant_id, "active")
    response = account.post("/billing/change-plan", form)
    assert 400 <= response.status_code < 500


def test_actions_need_a_signed_in_user(app: Any) -> None:
    client = app.test_client()
    client.get("/billing/upgrade")
    for path in FORMS[:-1]:
        response = client.post(path, data={})
        assert response.status_code in (302, 400), path
