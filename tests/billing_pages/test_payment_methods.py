"""Cards on the billing page: make default, remove (never the last paying one), add, isolation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from billing_support import give_customer, upgrade_through_checkout, use_simulator

from tests.factory import Account

HTMX = {"HX-Request": "true", "HX-Target": "payment-methods"}


@pytest.fixture
def app_config(app_config: dict[str, Any], sim: Any) -> dict[str, Any]:
    return use_simulator(app_config, sim)


def _cards(sim: Any, account: Account) -> list[str]:
    with account.app.app_context():
        customer = account.tenant().stripe_customer_id
    listed = sim.client().v1.payment_methods.list({"customer": customer, "type": "card"})
    return [method.id for method in listed.data]


def _default(sim: Any, account: Account) -> str | None:
    with account.app.app_context():
        customer = account.tenant().stripe_customer_id
    settings = sim.client().v1.customers.retrieve(customer).invoice_settings
    return settings.default_payment_method if settings else None


def test_cards_are_listed_with_brand_last4_expiry_and_default(account: Account, sim: Any) -> None:
    first, second = give_customer(account, sim, cards=2)
    html = account.client.get("/billing/").get_data(as_text=True)
    assert html.count("Visa ending 4242") >= 2
    assert re.search(r"Expires \d\d/\d{4}", html)
    assert html.count(">Default<") == 1
    assert f"/billing/payment-methods/{second}/default" in html
    assert f"/billing/payment-methods/{first}/default" not in html


def test_make_default_without_js(account: Account, sim: Any) -> None:
    first, second = give_customer(account, sim, cards=2)
    response = account.post(f"/billing/payment-methods/{second}/default")
    assert response.status_code == 303
    assert response.headers["Location"] == "/billing/#payment-methods"
    assert _default(sim, account) == second
    assert "is now your default card" in account.client.get("/billing/").get_data(as_text=True)


def test_make_default_with_htmx_returns_the_component(account: Account, sim: Any) -> None:
    first, second = give_customer(account, sim, cards=2)
    token = account.client.csrf_token("/billing/")
    response = account.client.post(
        f"/billing/payment-methods/{second}/default", data={"csrf_token": token}, headers=HTMX
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="payment-methods"')
    assert "<html" not in html
    assert "is now your default card" in html
    assert f"/billing/payment-methods/{first}/default" in html
    assert _default(sim, account) == second


def test_last_card_of_a_paid_subscription_cannot_be_removed(account: Account, sim: Any) -> None:
    upgrade_through_checkout(account, sim)
    [card] = _cards(sim, account)
    response = account.post(f"/billing/payment-methods/{card}/remove")
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "only card paying for your Pro plan" in html
    assert 'role="alert"' in html
    assert _cards(sim, account) == [card]


def test_a_second_card_can_be_removed_and_the_default_moves(account: Account, sim: Any) -> None:
    upgrade_through_checkout(account, sim)
    [paying] = _cards(sim, account)
    [extra] = give_customer(account, sim, cards=1)
    assert _default(sim, account) == extra
    response = account.post(f"/billing/payment-methods/{extra}/remove")
    assert response.status_code == 303
    assert _cards(sim, account) == [paying]
    assert _default(sim, account) == paying
    assert "was removed" in account.client.get("/billing/").get_data(as_text=True)


def test_without_a_paid_subscription_the_last_card_can_go(account: Account, sim: Any) -> None:
    [card] = give_customer(account, sim, cards=1)
    assert account.post(f"/billing/payment-methods/{card}/remove").status_code == 303
    assert _cards(sim, account) == []
    assert "No card on file" in account.client.get("/billing/").get_data(as_text=True)


def test_add_card_goes_to_checkout_in_setup_mode(account: Account, sim: Any) -> None:
    give_customer(account, sim, cards=1)
    response = account.post("/billing/payment-methods/add")
    assert response.status_code == 303
    url = response.headers["Location"]
    assert url.startswith(sim.url + "/checkout/")
    session_id = url.rsplit("/", 1)[1]
    session = sim.client().v1.checkout.sessions.retrieve(session_id)
    assert session.mode == "setup"
    paid = sim.pay_checkout(url, "4242424242424242")
    assert paid.location and "/billing/payment-methods/added?session_id=" in paid.location
    back = account.client.get(paid.location.replace(account.app.config["PORTAL_BASE_URL"], ""))
    assert back.status_code == 303
    assert len(_cards(sim, account)) == 2


def test_billing_portal_link_opens_stripes_hosted_portal(account: Account, sim: Any) -> None:
    from portal.billing.cli import bootstrap_catalog

    give_customer(account, sim, cards=1)
    with account.app.app_context():
        bootstrap_catalog()  # makes the portal configuration sessions must name
    response = account.post("/billing/portal")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(sim.url + "/billing_portal/")


class TestIsolation:
    """Tenant A can neither change nor see tenant B's cards and invoices."""

    @pytest.fixture
    def victim_card(self, other_account: Account, sim: Any) -> str:
        upgrade_through_checkout(other_account, sim)
        [card] = give_customer(other_account, sim, cards=1)
        return card

    @pytest.mark.parametrize("action", ["default", "remove"])
    def test_other_tenants_card_is_404(
        self, account: Account, other_account: Account, victim_card: str, sim: Any, action: str
    ) -> None:
        give_customer(account, sim, cards=1)
        before = (_cards(sim, other_account), _default(sim, other_account))
        response = account.post(f"/billing/payment-methods/{victim_card}/{action}")
        assert response.status_code == 404
        assert "no such card" in response.get_data(as_text=True).lower()
        assert (_cards(sim, other_account), _default(sim, other_account)) == before

    def test_tenant_without_customer_gets_404_too(
        self, account: Account, victim_card: str, sim: Any
    ) -> None:
        response = account.post(f"/billing/payment-methods/{victim_card}/remove")
        assert response.status_code == 404
        assert sim.client().v1.payment_methods.retrieve(victim_card).customer is not None

    def test_invoices_of_another_tenant_are_not_shown(
        self, account: Account, other_account: Account, victim_card: str, sim: Any
    ) -> None:
        upgrade_through_checkout(account, sim)
        mine = account.client.get("/billing/").get_data(as_text=True)
        theirs = other_account.client.get("/billing/").get_data(as_text=True)
        their_links = set(re.findall(r'href="([^"]+/invoice/[^"/]+)"', theirs))
        my_links = set(re.findall(r'href="([^"]+/invoice/[^"/]+)"', mine))
        assert their_links and my_links and not their_links & my_links
