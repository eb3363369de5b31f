"""The billing page's overage and alerts form: Pro turns overage on and off and sets its cap,
every tenant switches its alerts, and every bad value gets a 400 naming the field, on the
page, with nothing changed. Free and Enterprise are told why they have no overage switch."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import Subscription, Tenant
from tests.factory import Account, Factory

HTMX = {"HX-Request": "true", "HX-Target": "overage"}
ALL_ALERTS = ["daily_80", "daily_100", "cap_50", "cap_80", "cap_100"]


def pro_account(factory: Factory, *, metered: bool = True) -> Account:
    """A Pro tenant with an active mirrored subscription; ``metered``: it already has the
    metered item, so turning overage on needs no Stripe call."""
    account = factory.account("pro")
    sub = factory.subscription(account.tenant_id, "active")
    if metered:
        with account.app.app_context():
            db.session.execute(
                sa.update(Subscription)
                .where(Subscription.id == sub.id)
                .values(metered_item_id="si_test_metered")
            )
            db.session.commit()
    return account


def stored(account: Account) -> tuple[bool, int, list[str] | None]:
    with account.app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        return tenant.overage_enabled, tenant.overage_cap_cents, tenant.alerts_off


def post(account: Account, data: dict[str, str | list[str]], **kwargs: object):  # type: ignore[no-untyped-def]
    return account.post("/billing/overage", data, **kwargs)  # type: ignore[arg-type]


@pytest.mark.both_dbs
def test_pro_turns_overage_on_with_a_cap_then_off(factory: Factory) -> None:
    account = pro_account(factory)
    page = account.client.get("/billing/").get_data(as_text=True)
    assert 'id="overage"' in page and 'name="monthly_cap"' in page
    assert 'value="20.00"' in page, "the default cap is $20"
    assert "Overage off" in page

    response = post(account, {"enabled": "on", "monthly_cap": "150.50", "alerts": ALL_ALERTS})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/billing/#overage")
    assert stored(account) == (True, 15_050, None)
    page = account.client.get("/billing/").get_data(as_text=True)
    assert "Overage is on, capped at $150.50" in page
    assert 'value="150.50"' in page and "Overage on" in page

    response = post(account, {"monthly_cap": "$1,000", "alerts": ["daily_100", "cap_100"]})
    assert response.status_code == 303
    assert stored(account) == (False, 100_000, ["cap_50", "cap_80", "daily_80"])


@pytest.mark.both_dbs
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "enter an amount in dollars"),
        ("   ", "enter an amount in dollars"),
        ("-5", "must be at least $1.00"),
        ("0", "must be at least $1.00"),
        ("0.99", "must be at least $1.00"),
        ("10000.01", "can be at most $10,000.00"),
        ("99999999", "can be at most $10,000.00"),
        ("twenty", "enter dollars in digits"),
        ("1e3", "enter dollars in digits"),
        ("20.005", "use whole cents"),
        ("20,00", "enter dollars in digits"),
        ("２０", "enter dollars in digits"),
        ("1" * 1_000_000, "that is not an amount"),
    ],
)
def test_bad_cap_gets_a_400_naming_the_field_and_changes_nothing(
    factory: Factory, value: str, says: str
) -> None:
    account = pro_account(factory)
    before = stored(account)
    response = post(account, {"enabled": "on", "monthly_cap": value, "alerts": []})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was saved: check the monthly spend cap below." in html
    assert 'class="field-error">Monthly spend cap' in html and says in html
    assert "Overage off" in html, "the badge says what is stored, not what was sent"
    assert 'aria-invalid="true"' in html and "monthly-cap-error" in html
    assert "Your plan: Pro" in html, "the whole page comes back, with the message on it"
    assert len(html) < 200_000, "a huge value is not echoed back"
    assert stored(account) == before


def test_htmx_gets_only_the_section_back_with_its_error(factory: Factory) -> None:
    account = pro_account(factory)
    response = post(account, {"enabled": "on", "monthly_cap": "1e3"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert html.lstrip().startswith('<section id="overage"')
    assert 'value="1e3"' in html, "what was typed stays in the field"
    assert "Your plan" not in html

    response = post(account, {"enabled": "on", "monthly_cap": "25", "alerts": []}, headers=HTMX)
    assert response.status_code == 200
    assert "Overage is on, capped at $25.00" in response.get_data(as_text=True)
    assert stored(account) == (True, 2_500, sorted(ALL_ALERTS))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"enabled": "maybe", "monthly_cap": "20"}, "Overage"),
        ({"monthly_cap": "20", "alerts": ["daily_90"]}, "Email alerts"),
        ({"monthly_cap": "20", "alerts": ["x" * 10_000]}, "Email alerts"),
    ],
)
def test_other_bad_fields_are_named(factory: Factory, data: dict[str, object], field: str) -> None:
    account = pro_account(factory)
    response = post(account, data)  # type: ignore[arg-type]
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f"Nothing was saved: check the {field.lower()} below." in html
    assert f'class="field-error">{field}:' in html
    assert stored(account) == (False, 2_000, None)


def test_the_form_needs_its_csrf_token(factory: Factory) -> None:
    account = pro_account(factory)
    response = account.client.post("/billing/overage", data={"enabled": "on", "monthly_cap": "5"})
    assert response.status_code == 400
    assert stored(account) == (False, 2_000, None)


@pytest.mark.both_dbs
def test_free_sees_overage_comes_with_pro_and_switches_its_daily_alerts(
    factory: Factory,
) -> None:
    account = factory.account()
    page = account.client.get("/billing/").get_data(as_text=True)
    assert "Overage comes with Pro" in page and 'href="/billing/upgrade"' in page
    assert 'name="monthly_cap"' not in page and 'value="cap_50"' not in page
    assert 'value="daily_80"' in page

    response = post(account, {"alerts": ["daily_100"]})
    assert response.status_code == 303
    assert stored(account) == (False, 2_000, ["daily_80"])

    refused = post(account, {"enabled": "on", "monthly_cap": "20", "alerts": ["daily_100"]})
    assert refused.status_code == 403
    assert "Upgrade to Pro" in refused.get_data(as_text=True)
    refused = post(account, {"alerts": ["cap_50"]})
    assert refused.status_code == 400
    assert stored(account) == (False, 2_000, ["daily_80"])


def test_enterprise_is_told_overage_is_by_contract(app: Flask, factory: Factory) -> None:
    account = factory.account("enterprise")
    page = account.client.get("/billing/").get_data(as_text=True)
    assert "Overage on Enterprise is by contract" in page
    assert 'name="monthly_cap"' not in page
    refused = post(account, {"enabled": "on", "monthly_cap": "20"}, headers=HTMX)
    assert refused.status_code == 403
    assert "contract" in refused.get_data(as_text=True)
    assert stored(account) == (False, 2_000, None)


def test_a_member_who_is_not_an_owner_cannot_change_it(factory: Factory) -> None:
    owner = pro_account(factory)
    developer_id = factory.user(owner.tenant_id, "dev@example.com", role="developer")
    developer = Account(owner.app, owner.tenant_id, developer_id, "dev@example.com")
    response = post(developer, {"enabled": "on", "monthly_cap": "20"})
    assert response.status_code == 403
    assert stored(owner) == (False, 2_000, None)


class TestWithTheSimulator:
    """The form against Stripe's stand-in: a subscription paid at Checkout."""

    @pytest.fixture
    def app_config(self, app_config: dict[str, object], sim: object) -> dict[str, object]:
        from billing_support import use_simulator

        return use_simulator(app_config, sim)  # type: ignore[arg-type]

    def test_a_pro_owner_turns_overage_on_and_the_subscription_has_its_metered_item(
        self, account: Account, sim: object
    ) -> None:
        from billing_support import upgrade_through_checkout

        upgrade_through_checkout(account, sim)
        response = post(account, {"enabled": "on", "monthly_cap": "12", "alerts": ALL_ALERTS})
        assert response.status_code == 303, response.get_data(as_text=True)
        assert stored(account) == (True, 1_200, None)
        with account.app.app_context():
            sub = db.session.scalar(
                sa.select(Subscription).where(Subscription.tenant_id == account.tenant_id)
            )
            assert sub is not None and sub.metered_item_id
