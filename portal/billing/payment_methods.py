"""The tenant's saved cards: list (from the local mirror), make one the default, remove one
(at Stripe, then in the mirror; the caller commits, in the same request)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from portal.billing import card_mirror
from portal.billing.subscriptions import current_subscription, ended, on_grace_period
from portal.errors import Conflict, NotFound
from portal.models import Tenant
from portal.stripe_gateway import StripePaymentMethod, get_gateway

log = logging.getLogger("continuum.billing")


@dataclass(frozen=True)
class SavedCard:
    id: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_default: bool

    @property
    def label(self) -> str:
        return f"{self.brand.title()} ending {self.last4}"

    @classmethod
    def of(cls, method: StripePaymentMethod, default_id: str | None) -> SavedCard:
        return cls(
            id=method.id,
            brand=method.brand or "card",
            last4=method.last4 or "????",
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            is_default=method.id == default_id,
        )


def list_payment_methods(tenant: Tenant) -> list[SavedCard]:
    """The tenant's cards, the default first, from the local mirror (backfilled from Stripe
    first if it is cold). No Stripe customer yet means no cards."""
    if not tenant.stripe_customer_id:
        return []
    card_mirror.ensure_warm(tenant)
    rows, default = card_mirror.cards_of(tenant)
    cards = [
        SavedCard(
            id=row.id,
            brand=row.brand or "card",
            last4=row.last4 or "????",
            exp_month=row.exp_month,
            exp_year=row.exp_year,
            is_default=row.id == default,
        )
        for row in rows
    ]
    return sorted(cards, key=lambda card: not card.is_default)


def own_payment_method(tenant: Tenant, payment_method_id: str) -> StripePaymentMethod:
    """``payment_method_id`` read from Stripe, if it is one of the tenant's cards (else 404:
    a card id from another account says nothing of that account)."""
    method = get_gateway().retrieve_payment_method(payment_method_id)
    if not tenant.stripe_customer_id or method.customer_id != tenant.stripe_customer_id:
        raise NotFound("There is no such card on this account.")
    return method


def set_default_payment_method(tenant: Tenant, payment_method_id: str) -> SavedCard:
    """Charge ``payment_method_id`` from now on, for the customer and its live subscription."""
    method = own_payment_method(tenant, payment_method_id)
    gateway = get_gateway()
    assert tenant.stripe_customer_id is not None
    gateway.set_default_payment_method(tenant.stripe_customer_id, method.id)
    sub = current_subscription(tenant)
    if sub is not None and not ended(sub):
        # Checkout pins the first card on the subscription; the new default must replace it.
        gateway.set_subscription_payment_method(sub.stripe_subscription_id, method.id)
    card_mirror.mirror_card(tenant, method)
    card_mirror.mirror_default(tenant, method.id)
    log.info("tenant %s: default card is now %s", tenant.id, method.id)
    return SavedCard.of(method, method.id)


def remove_payment_method(tenant: Tenant, payment_method_id: str) -> SavedCard:
    """Detach a card and return it; the last card of a paid, continuing subscription stays."""
    method = own_payment_method(tenant, payment_method_id)
    cards = list_payment_methods(tenant)
    sub = current_subscription(tenant)
    renews = sub is not None and not ended(sub) and not on_grace_period(sub)
    if renews and len(cards) <= 1:
        raise Conflict(
            "This is the only card paying for your Pro plan. Add another card first, or "
            "cancel the plan, then remove this one."
        )
    get_gateway().detach_payment_method(method.id)
    card_mirror.forget_card(method.id)
    log.info("tenant %s: removed card %s", tenant.id, method.id)
    remaining = [card for card in cards if card.id != method.id]
    if remaining and not any(card.is_default for card in remaining):
        set_default_payment_method(tenant, remaining[0].id)
    return next((card for card in cards if card.id == method.id), SavedCard.of(method, None))
