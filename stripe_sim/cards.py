"""Stripe's test cards and what each one does when attached or charged."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SUCCEEDS = "succeeds"
DECLINES = "declines"  # every charge and attach is declined (4000000000000002)
REQUIRES_ACTION = "requires_action"  # every charge needs 3-D Secure (4000002760003184)
CHARGE_FAILS = "charge_fails"  # attaches, later charges are declined (4000000000000341)


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    behaviour: str


TEST_CARDS = {card.number: card for card in (
    TestCard("4242424242424242", "visa", SUCCEEDS),
    TestCard("5555555555554444", "mastercard", SUCCEEDS),
    TestCard("378282246310005", "amex", SUCCEEDS),
    TestCard("4000000000000002", "visa", DECLINES),
    TestCard("4000002760003184", "visa", REQUIRES_ACTION),
    TestCard("4000000000000341", "visa", CHARGE_FAILS),
)}

# Stripe's ready-made test PaymentMethod ids, accepted by attach.
MAGIC_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_chargeCustomerFail": "4000000000000341",
}


class CardInputError(ValueError):
    """A card form value a person must correct; the message says how."""


def card_details(number: str, exp_month: int, exp_year: int) -> dict[str, Any]:
    """The card fields of a payment method for a known test card number."""
    card = TEST_CARDS[number]
    return {
        "brand": card.brand, "last4": number[-4:], "exp_month": exp_month,
        "exp_year": exp_year, "behaviour": card.behaviour,
        "fingerprint": hashlib.sha256(number.encode()).hexdigest()[:16],
    }


def read_card(number: str, expiry: str, cvc: str, now: datetime | None = None) -> dict[str, Any]:
    """Validate the hosted form's card fields like Checkout's client-side checks do."""
    digits = "".join(number.split())
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn(digits):
        raise CardInputError("Your card number is invalid.")
    month_text, _, year_text = expiry.replace(" ", "").partition("/")
    if not (month_text.isdigit() and year_text.isdigit() and 1 <= int(month_text) <= 12):
        raise CardInputError("Your card's expiration date is incomplete (use MM / YY).")
    month, year = int(month_text), int(year_text)
    year += 2000 if year < 100 else 0
    today = now or datetime.now(UTC)
    if (year, month) < (today.year, today.month):
        raise CardInputError("Your card's expiration date is in the past.")
    if not (cvc.isdigit() and len(cvc) in (3, 4)):
        raise CardInputError("Your card's security code is incomplete.")
    if digits not in TEST_CARDS:
        raise CardInputError(
            "Your card was declined. Your request was in test mode, but used a non test card. "
            "Use a Stripe test card such as 4242 4242 4242 4242.")
    return card_details(digits, month, year)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
