"""The Enterprise contact form: stored, emailed to sales, and strict about its input."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import EnterpriseInquiry
from tests.factory import Account, PortalClient

GOOD = {
    "name": "Ada Lovelace",
    "email": "ada@analytical.example",
    "company": "Analytical Engines Ltd",
    "expected_calls_per_day": "2,500,000",
    "message": "We index a billion memories and need federation at critical priority.",
}


def _post(client: PortalClient, data: dict[str, str], *, with_token: bool = True) -> Any:
    if with_token:
        return client.post_form("/billing/enterprise", data)
    client.get("/billing/enterprise")
    return client.post("/billing/enterprise", data=data)


def _inquiries(app: Flask) -> list[EnterpriseInquiry]:
    with app.app_context():
        return list(db.session.scalars(db.select(EnterpriseInquiry)))


def test_inquiry_is_stored_and_emailed_to_sales(
    smtp_server: Any, app: Flask, account: Account
) -> None:
    response = _post(account.client, GOOD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/billing/upgrade"
    [inquiry] = _inquiries(app)
    assert inquiry.tenant_id == account.tenant_id
    assert inquiry.expected_calls_per_day == 2_500_000
    assert inquiry.emailed_at is not None
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == app.config["SALES_EMAIL"]
    assert mail["Reply-To"] == GOOD["email"]
    assert "Analytical Engines Ltd" in mail["Subject"]
    body = mail.get_content()
    assert "2,500,000" in body and GOOD["message"] in body
    assert f"tenant #{account.tenant_id}" in body
    followed = account.client.get("/billing/upgrade").get_data(as_text=True)
    assert "Thank you, Ada Lovelace" in followed


def test_signed_in_form_is_prefilled_with_the_account_email(account: Account) -> None:
    html = account.client.get("/billing/enterprise").get_data(as_text=True)
    assert f'value="{account.email}"' in html


def test_anonymous_visitors_can_ask_too(smtp_server: Any, app: Flask, client: FlaskClient) -> None:
    assert _post(client, {**GOOD, "expected_calls_per_day": ""}).status_code == 303
    [inquiry] = _inquiries(app)
    assert inquiry.tenant_id is None and inquiry.expected_calls_per_day is None
    assert "not signed in" in smtp_server.wait_for(1)[0].get_content()


def test_inquiry_is_kept_when_mail_cannot_be_sent(app: Flask, client: FlaskClient) -> None:
    app.config.update(MAIL_ENABLED=True, SMTP_HOST="127.0.0.1", SMTP_PORT=1)
    assert _post(client, GOOD).status_code == 303
    [inquiry] = _inquiries(app)
    assert inquiry.emailed_at is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Tell us your name."),
        ("name", "   ", "Tell us your name."),
        ("name", "x" * 201, "at most 200 characters"),
        ("name", "Eve\r\nBcc: victim@example.com", "single line of plain text"),
        ("email", "", "Tell us where to reply."),
        ("email", "not-an-email", "Enter a valid email address"),
        ("email", "a@b.c\r\nBcc: x@y.z", "Enter a valid email address"),
        ("email", "x" * 250 + "@example.com", "at most 254 characters"),
        ("company", "", "company"),
        ("company", "ACME\x00", "single line of plain text"),
        ("expected_calls_per_day", "lots", "whole number"),
        ("expected_calls_per_day", "1e9", "whole number"),
        ("expected_calls_per_day", "-5", "between 0 and"),
        ("expected_calls_per_day", "9" * 40, "between 0 and"),
        ("message", "", "Tell us a little"),
        ("message", "hi", "10 to 5,000 characters"),
        ("message", "y" * 5001, "10 to 5,000 characters"),
        ("message", "ten chars plus \x07 bell", "only plain text"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_stored(
    app: Flask, client: FlaskClient, field: str, value: str, message: str
) -> None:
    response = _post(client, {**GOOD, field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html
    assert 'aria-invalid="true"' in html
    assert _inquiries(app) == []


def test_missing_fields_and_a_huge_body_are_4xx(app: Flask, client: FlaskClient) -> None:
    assert _post(client, {}).status_code == 400
    huge = _post(client, {**GOOD, "message": "z" * 2_000_000})
    assert huge.status_code == 413
    assert _inquiries(app) == []


def test_csrf_token_is_required(app: Flask, client: FlaskClient) -> None:
    response = _post(client, GOOD, with_token=False)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert _inquiries(app) == []


def test_a_flood_of_inquiries_is_throttled_but_mistakes_are_not(
    app: Flask, client: FlaskClient
) -> None:
    for _ in range(3):
        assert _post(client, {**GOOD, "email": "nope"}).status_code == 400
    for _ in range(10):
        assert _post(client, GOOD).status_code == 303
    flooded = _post(client, GOOD)
    assert flooded.status_code == 429
    assert len(_inquiries(app)) == 10
