"""Overage settings: the validation, the JSON routes (Bearer key or session + CSRF), and who may
turn overage on. These need no Stripe: the Pro tenant's subscription already has its metered
item, so turning overage on changes only our row.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.billing.overage import (
    InvalidOverageSetting,
    OverageSettings,
    parse_settings,
)
from portal.extensions import db
from portal.models import Subscription, Tenant
from tests.factory import Account, Factory

CURRENT = OverageSettings(enabled=False, monthly_cap_cents=2000)
CAP_FIELD = "monthly_cap_cents"


def _pro(factory: Factory) -> Account:
    """A Pro account whose subscription already carries the metered overage item."""
    account = factory.account(key=True)
    sub = factory.subscription(account.tenant_id)
    with factory.app.app_context():
        db.session.execute(
            sa.update(Subscription)
            .where(Subscription.id == sub.id)
            .values(metered_item_id="si_test_metered")
        )
        db.session.commit()
    return account


def _settings(app: Flask, tenant_id: int) -> tuple[bool, int]:
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant.overage_enabled, tenant.overage_cap_cents


def _bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.key}"}


# --- parse_settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"enabled": True, CAP_FIELD: 2000}, OverageSettings(True, 2000)),
        ({"enabled": True}, OverageSettings(True, 2000)),
        ({CAP_FIELD: 100}, OverageSettings(False, 100)),
        ({CAP_FIELD: 1_000_000}, OverageSettings(False, 1_000_000)),
        ({}, CURRENT),
    ],
)
def test_valid_settings_parse(data: dict[str, object], expected: OverageSettings) -> None:
    assert parse_settings(data, CURRENT) == expected


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({CAP_FIELD: -100}, CAP_FIELD),
        ({CAP_FIELD: 0}, CAP_FIELD),
        ({CAP_FIELD: 99}, CAP_FIELD),
        ({CAP_FIELD: 1_000_001}, CAP_FIELD),
        ({CAP_FIELD: 20.0}, CAP_FIELD),
        ({CAP_FIELD: "2000"}, CAP_FIELD),
        ({CAP_FIELD: True}, CAP_FIELD),
        ({CAP_FIELD: None}, CAP_FIELD),
        ({CAP_FIELD: [2000]}, CAP_FIELD),
        ({CAP_FIELD: {"cents": 2000}}, CAP_FIELD),
        ({"enabled": "true"}, "enabled"),
        ({"enabled": 1}, "enabled"),
        ({"enabled": None}, "enabled"),
        ({"cap": 2000}, "cap"),
    ],
)
def test_invalid_settings_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidOverageSetting) as raised:
        parse_settings(data, CURRENT)
    assert raised.value.status_code == 400
    assert raised.value.field == field
    assert field in raised.value.message


def test_the_cap_message_says_the_bounds_in_dollars() -> None:
    with pytest.raises(InvalidOverageSetting) as raised:
        parse_settings({CAP_FIELD: 0}, CURRENT)
    assert raised.value.message == (
        "monthly_cap_cents must be a whole number of cents from 100 ($1) to 1000000 ($10,000)"
    )


# --- the JSON routes -------------------------------------------------------------------------

BAD_BODIES: list[tuple[str, bytes, str | None]] = [
    ("negative", b'{"monthly_cap_cents": -5}', CAP_FIELD),
    ("zero", b'{"monthly_cap_cents": 0}', CAP_FIELD),
    ("over the maximum", b'{"monthly_cap_cents": 1000001}', CAP_FIELD),
    ("not a number", b'{"monthly_cap_cents": "lots"}', CAP_FIELD),
    ("a float", b'{"monthly_cap_cents": 2000.5}', CAP_FIELD),
    ("an exponent", b'{"monthly_cap_cents": 2e3}', CAP_FIELD),
    ("NaN", b'{"monthly_cap_cents": NaN}', CAP_FIELD),
    ("a 1 MB number", b'{"monthly_cap_cents": ' + b"9" * 1_000_000 + b"}", CAP_FIELD),
    ("a 1 MB string", b'{"monthly_cap_cents": "' + b"9" * 1_000_000 + b'"}', CAP_FIELD),
    ("enabled as a string", b'{"enabled": "yes", "monthly_cap_cents": 2000}', "enabled"),
    ("enabled as a number", b'{"enabled": 1}', "enabled"),
    ("nested", b'{"monthly_cap_cents": {"value": 2000}}', CAP_FIELD),
    ("an unknown field", b'{"enabled": true, "cap_dollars": 20}', "cap_dollars"),
    ("deeply nested", b'{"monthly_cap_cents": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None),
    ("not JSON", b"enabled=true&monthly_cap_cents=2000", None),
    ("a JSON array", b"[true, 2000]", None),
    ("broken JSON", b'{"enabled": tru', None),
    ("not UTF-8", b'{"enabled": "\xff\xfe"}', None),
]


@pytest.mark.both_dbs
@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    app: Flask, factory: Factory, case: str, body: bytes, field: str | None
) -> None:
    account = _pro(factory)
    client = app.test_client()
    response = client.put(
        "/v1/billing/overage",
        data=body,
        headers={**_bearer(account), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    answer: dict[str, Any] = response.get_json()
    if field is not None:
        assert answer["field"] == field
        assert field in answer["error"]
    else:
        assert "monthly_cap_cents" in answer["error"]  # it says what to send
    assert _settings(app, account.tenant_id) == (False, 2000)


def test_a_form_body_is_refused_with_what_to_send(app: Flask, factory: Factory) -> None:
    account = _pro(factory)
    response = app.test_client().put(
        "/v1/billing/overage", data={"enabled": "true"}, headers=_bearer(account)
    )
    assert response.status_code == 400
    assert '{"enabled": true, "monthly_cap_cents": 2000}' in response.get_json()["error"]
    assert _settings(app, account.tenant_id) == (False, 2000)


@pytest.mark.both_dbs
def test_a_pro_tenant_turns_overage_on_with_a_bearer_key(app: Flask, factory: Factory) -> None:
    account = _pro(factory)
    client = app.test_client()
    response = client.put(
        "/v1/billing/overage",
        json={"enabled": True, "monthly_cap_cents": 5000},
        headers=_bearer(account),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["enabled"] is True and body["monthly_cap_cents"] == 5000
    assert body["cap_calls"] == 500_000 and body["calls"] == 0 and body["available"] is True
    assert _settings(app, account.tenant_id) == (True, 5000)
    read = client.get("/v1/billing/overage", headers=_bearer(account)).get_json()
    assert read == body


def test_a_session_needs_the_csrf_token(app: Flask, factory: Factory) -> None:
    account = _pro(factory)
    client = account.client
    refused = client.put("/v1/billing/overage", json={"enabled": True})
    assert refused.status_code == 400
    assert _settings(app, account.tenant_id) == (False, 2000)
    token = client.csrf_token("/keys")
    accepted = client.put(
        "/v1/billing/overage",
        data=json.dumps({"enabled": True, "monthly_cap_cents": 100}),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )
    assert accepted.status_code == 200, accepted.get_json()
    assert _settings(app, account.tenant_id) == (True, 100)


def test_anonymous_requests_get_401(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/v1/billing/overage").status_code == 401
    assert client.put("/v1/billing/overage", json={"enabled": True}).status_code == 401
    assert client.post("/v1/billing/report-usage").status_code == 401


@pytest.mark.parametrize(
    ("tier", "says"),
    [("free", "Upgrade to Pro"), ("enterprise", "contract")],
)
def test_free_and_enterprise_are_refused_with_the_reason(
    app: Flask, factory: Factory, tier: str, says: str
) -> None:
    account = factory.account(tier, key=True)
    client = app.test_client()
    for body in ({"enabled": True, "monthly_cap_cents": 2000}, {"monthly_cap_cents": -1}):
        response = client.put("/v1/billing/overage", json=body, headers=_bearer(account))
        assert response.status_code == 403
        assert says in response.get_json()["error"]
    assert _settings(app, account.tenant_id) == (False, 2000)
    read = client.get("/v1/billing/overage", headers=_bearer(account)).get_json()
    assert read["available"] is False and read["enabled"] is False and read["tier"] == tier


def test_a_pro_tenant_without_a_live_subscription_cannot_turn_it_on(
    app: Flask, factory: Factory
) -> None:
    account = factory.account("pro", key=True)  # Pro with no subscription row: nothing to bill
    response = app.test_client().put(
        "/v1/billing/overage", json={"enabled": True}, headers=_bearer(account)
    )
    assert response.status_code == 409
    assert _settings(app, account.tenant_id) == (False, 2000)


# --- the period's summary --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "cap_cents", "projected_cents"),
    [(True, 2000, None), (True, 100, 100), (False, 100, None)],
)
def test_the_summary_counts_the_period_and_projects_the_recent_pace(
    app: Flask, factory: Factory, enabled: bool, cap_cents: int, projected_cents: int | None
) -> None:
    """7,000 calls since the UTC midnight 7 days ago (1,000 a day) and 500 before: 20 days to
    go project 7,500 + 7,000 * 20 days / (7 days and today's hours so far), or the cap when
    overage is on and the cap is lower (``None``: that projection)."""
    from datetime import timedelta

    from portal.billing.overage import period_summary
    from portal.models import MeterReport, utcnow

    now = utcnow().replace(microsecond=0)
    account = factory.account()
    sub = factory.subscription(account.tenant_id, period_end=now + timedelta(days=20))
    assert sub.current_period_start is not None
    start = int(sub.current_period_start.timestamp())
    with app.app_context():
        tenant = db.session.get(Tenant, account.tenant_id)
        assert tenant is not None
        tenant.overage_enabled, tenant.overage_cap_cents = enabled, cap_cents
        ago = [(8, 500), *[(day, 1000) for day in range(7)]]
        db.session.add_all(
            MeterReport(
                tenant_id=tenant.id,
                period_start=start,
                quantity=quantity,
                event_time=int((now - timedelta(days=days, hours=1)).timestamp()),
            )
            for days, quantity in ago
        )
        db.session.add(  # another period's row does not count
            MeterReport(tenant_id=tenant.id, period_start=start - 1, quantity=9, event_time=start)
        )
        db.session.commit()
        summary = period_summary(tenant, now)
    assert summary.calls == 7500 and summary.cost_cents == 75
    if projected_cents is None:
        from portal.plans import overage_cost_cents

        window = timedelta(days=7, seconds=int(now.timestamp()) % 86_400)
        projected = 7500 + int(7000 * timedelta(days=20) / window)
        assert summary.projected_cents == overage_cost_cents(projected)
    else:
        assert summary.projected_cents == projected_cents
    assert summary.cap_calls == cap_cents * 100
    assert summary.period_start == sub.current_period_start
    assert summary.period_end == now + timedelta(days=20)
