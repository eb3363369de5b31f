"""Enterprise inquiries: the contact form on the plans page, stored and emailed to sales."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError

from portal.extensions import db
from portal.mail import MailError, send_email
from portal.models import EnterpriseInquiry, Tenant, utcnow

log = logging.getLogger("continuum.billing")

#: The largest daily call volume worth typing; anything above is a typo, not a contract.
MAX_CALLS_PER_DAY = 10**12
MESSAGE_MAX_LENGTH = 5000
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_CHARACTERS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _single_line(form: FlaskForm, field: StringField) -> None:
    """Names end up in an email subject: line breaks and control characters are refused."""
    if field.data and _CONTROL_CHARACTERS.search(field.data):
        raise ValidationError(f"{field.label.text} must be a single line of plain text.")


def _plain_text(form: FlaskForm, field: TextAreaField) -> None:
    if field.data and _CONTROL_CHARACTERS_BUT_LINES.search(field.data):
        raise ValidationError("The message may contain only plain text and line breaks.")


class CallVolumeField(IntegerField):
    """A whole number that may be typed with thousands separators: "2,000,000"."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and isinstance(valuelist[0], str):
            valuelist = [re.sub(r"[,_\s]", "", valuelist[0])]
        super().process_formdata(valuelist)


class EnterpriseInquiryForm(FlaskForm):
    name = StringField(
        "Your name",
        filters=[_strip],
        validators=[
            DataRequired("Tell us your name."),
            Length(max=200, message="Your name can be at most 200 characters."),
            _single_line,
        ],
    )
    email = StringField(
        "Work email",
        filters=[_strip],
        validators=[
            DataRequired("Tell us where to reply."),
            Length(max=254, message="An email address can be at most 254 characters."),
            Email("Enter a valid email address, like you@company.com.", check_deliverability=False),
        ],
    )
    company = StringField(
        "Company",
        filters=[_strip],
        validators=[
            DataRequired("Tell us your company's name."),
            Length(max=200, message="The company name can be at most 200 characters."),
            _single_line,
        ],
    )
    # types-WTForms 3.2 lags WTForms 3.3, which added ``invalid_value_message``.
    expected_calls_per_day = CallVolumeField(  # type: ignore[call-arg]
        "Expected API calls per day (optional)",
        invalid_value_message="Enter the expected API calls per day as a whole number, "
        "e.g. 2,000,000.",
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=MAX_CALLS_PER_DAY,
                message="Expected calls per day must be between 0 and 1,000,000,000,000.",
            ),
        ],
    )
    message = TextAreaField(
        "What do you need?",
        filters=[_strip],
        validators=[
            DataRequired("Tell us a little about what you need."),
            Length(
                min=10,
                max=MESSAGE_MAX_LENGTH,
                message=f"Describe what you need in 10 to {MESSAGE_MAX_LENGTH:,} characters.",
            ),
            _plain_text,
        ],
    )


def record_inquiry(form: EnterpriseInquiryForm, tenant: Tenant | None) -> EnterpriseInquiry:
    """Store a validated inquiry, then email it to sales; the row records whether that worked.

    The request is committed before the email is sent, so an SMTP outage never loses it.
    """
    inquiry = EnterpriseInquiry(
        tenant_id=tenant.id if tenant else None,
        name=form.name.data,
        email=form.email.data,
        company=form.company.data,
        expected_calls_per_day=form.expected_calls_per_day.data,
        message=form.message.data,
    )
    db.session.add(inquiry)
    db.session.commit()
    try:
        send_email(
            current_app.config["SALES_EMAIL"],
            f"Enterprise inquiry from {inquiry.company}",
            _sales_email_body(inquiry, tenant),
            reply_to=inquiry.email,
        )
    except MailError:
        log.warning("enterprise inquiry %s stored but not emailed", inquiry.id)
        return inquiry
    inquiry.emailed_at = utcnow()
    db.session.commit()
    return inquiry


def _sales_email_body(inquiry: EnterpriseInquiry, tenant: Tenant | None) -> str:
    volume = (
        f"{inquiry.expected_calls_per_day:,}"
        if inquiry.expected_calls_per_day is not None
        else "not given"
    )
    account = (
        f"tenant #{tenant.id} ({tenant.name}), currently on {tenant.pricing_tier.label}"
        if tenant
        else "not signed in"
    )
    return (
        f"A new Enterprise inquiry (#{inquiry.id}).\n\n"
        f"Name: {inquiry.name}\n"
        f"Email: {inquiry.email}\n"
        f"Company: {inquiry.company}\n"
        f"Expected API calls per day: {volume}\n"
        f"Portal account: {account}\n\n"
        f"Message:\n{inquiry.message}\n\n"
        "Reply to this email to answer them directly.\n"
    )
