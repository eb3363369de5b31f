"""One small handler per Stripe event type, and the table that dispatches to them.

Handlers never trust the event's copy of a subscription: they re-fetch it through
``sync_subscription`` under the tenant lock, so an old or replayed event cannot regress
state. Mail is queued with ``delivery.after_commit`` and sent only once the change is stored.
An event for a customer we do not know is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from portal.billing import dunning
from portal.billing.checkout import adopt_checkout_card, adopt_setup_intent
from portal.billing.invoice_mirror import mirror_invoice
from portal.billing.one_subscription import BLOCKING_STATUSES, settle_duplicates
from portal.billing.subscriptions import (
    SyncResult,
    past_due_grace_ends,
    refresh_tenant_tier,
    sync_subscription,
)
from portal.errors import NotFound
from portal.extensions import db
from portal.models import Subscription, Tenant, utcnow
from portal.stripe_gateway import (
    StripeCheckoutSession,
    StripeCustomer,
    StripeInvoice,
    StripeObjectMissing,
    WebhookEvent,
    get_gateway,
)

log = logging.getLogger("continuum.billing")


@dataclass
class Delivery:
    """One event being handled, with the work to do after its transaction commits.

    ``tenant_id`` is the tenant of the event's customer (None: not one of ours); the ORM
    ``tenant`` is loaded on first use, so a handler that needs only the id (the invoice
    mirror) costs no entity load.
    """

    event: WebhookEvent
    tenant_id: int | None
    after_commit: list[Callable[[], object]] = field(default_factory=list)
    _tenant: Tenant | None = field(default=None, init=False, repr=False)

    @property
    def tenant(self) -> Tenant | None:
        if self._tenant is None and self.tenant_id is not None:
            self._tenant = db.session.get(Tenant, self.tenant_id)
        return self._tenant

    def sync(self, subscription_id: str | None) -> SyncResult | None:
        """Re-fetch and mirror ``subscription_id``; queue the downgrade mail if it applies."""
        tenant = self.tenant
        if tenant is None or not subscription_id:
            return None
        before = _mirrored_status(subscription_id)
        result = sync_subscription(tenant, subscription_id, event_created=self.event.created)
        if result is not None and result.downgraded:
            self.after_commit.append(lambda: dunning.send_downgraded(tenant))
        if result is not None:
            # Stripe is asked for the tenant's other subscriptions only when this one starts
            # paying (new to the mirror, or out of incomplete): two paid checkouts each start
            # paying once, and the later of those syncs finds the other one at Stripe (or in
            # the mirror). A renewal or an update of a paying one compares the mirror only,
            # one Stripe call fewer per event.
            starts_paying = (
                before not in BLOCKING_STATUSES and result.subscription.status in BLOCKING_STATUSES
            )
            self.after_commit.extend(settle_duplicates(tenant, ask_stripe=starts_paying))
        return result


Handler = Callable[[Delivery], None]


def _mirrored_status(subscription_id: str) -> str | None:
    """The mirror's status of ``subscription_id`` before a sync (None: not mirrored yet)."""
    return db.session.scalar(
        sa.select(Subscription.status).where(Subscription.stripe_subscription_id == subscription_id)
    )


def checkout_completed(delivery: Delivery) -> None:
    """A subscription started or a card was saved: the same outcome as the success page."""
    session = delivery.event.object
    if not isinstance(session, StripeCheckoutSession) or delivery.tenant is None:
        return
    if session.mode == "subscription":
        if delivery.sync(session.subscription_id) is not None and session.subscription_id:
            adopt_checkout_card(delivery.tenant, session.subscription_id)
    elif session.mode == "setup" and session.setup_intent_id:
        try:
            adopt_setup_intent(delivery.tenant, session.setup_intent_id)
        except NotFound as error:
            # The card was removed before this (late) event arrived: nothing left to adopt.
            raise StripeObjectMissing(f"the card this checkout saved is gone: {error}") from error


def customer_changed(delivery: Delivery) -> None:
    """Link a customer we created but did not get to store (e.g. a crash after the create).

    The customer is re-fetched, never read from the event: a late ``customer.updated`` sent
    before a deletion must not link (or keep linked) a customer Stripe has deleted since.
    """
    event_customer = delivery.event.object
    if not isinstance(event_customer, StripeCustomer):
        return
    customer = get_gateway().retrieve_customer(event_customer.id)
    if customer.deleted:
        log.info("webhook %s: customer %s is deleted at Stripe", delivery.event.id, customer.id)
        if delivery.tenant is not None:
            customer_deleted(delivery)
        return
    if delivery.tenant is not None:
        return
    tenant_id = customer.metadata.get("tenant_id", "")
    tenant = db.session.get(Tenant, int(tenant_id)) if tenant_id.isdigit() else None
    if tenant is not None and tenant.stripe_customer_id is None:
        tenant.stripe_customer_id = customer.id
        log.info("tenant %s: linked Stripe customer %s from its event", tenant.id, customer.id)


def customer_deleted(delivery: Delivery) -> None:
    """Stripe ended every subscription with the customer: unlink it and fall back to Free."""
    tenant = delivery.tenant
    if tenant is None:
        return
    now = utcnow()
    db.session.execute(
        sa.update(Subscription)
        .where(Subscription.tenant_id == tenant.id, Subscription.status != "canceled")
        .values(status="canceled", ended_at=now, canceled_at=now, past_due_since=None)
    )
    tenant.stripe_customer_id = None
    before = tenant.tier
    if refresh_tenant_tier(tenant) != before:
        delivery.after_commit.append(lambda: dunning.send_downgraded(tenant))
    log.info("tenant %s: Stripe customer deleted", tenant.id)


def subscription_changed(delivery: Delivery) -> None:
    """Created, updated (renewed, past due, canceled at period end...) or deleted."""
    delivery.sync(delivery.event.object_id)


def trial_will_end(delivery: Delivery) -> None:
    """Three days before a trial ends: remind the owner what will be charged."""
    result = delivery.sync(delivery.event.object_id)
    if result is None or delivery.tenant is None:
        return
    tenant, sub = delivery.tenant, result.subscription
    trial_end, interval = sub.trial_end, sub.interval
    delivery.after_commit.append(lambda: dunning.send_trial_ending(tenant, trial_end, interval))


def _invoice(delivery: Delivery) -> StripeInvoice | None:
    """The event's invoice if it bills a subscription (one-off invoices are not ours), written
    to the local invoice mirror on the way (it never moves an invoice back)."""
    invoice = delivery.event.object
    if isinstance(invoice, StripeInvoice) and invoice.subscription_id:
        if delivery.tenant_id is not None:
            mirror_invoice(delivery.tenant_id, invoice)
        return invoice
    return None


def invoice_finalized(delivery: Delivery) -> None:
    """An invoice is final and due: it goes into the mirror (nothing else changes)."""
    _invoice(delivery)


def invoice_paid(delivery: Delivery) -> None:
    """A renewal or a retried payment went through: new period, out of past_due."""
    invoice = _invoice(delivery)
    if invoice is not None:
        delivery.sync(invoice.subscription_id)


def invoice_payment_failed(delivery: Delivery) -> None:
    """A charge failed: the subscription goes past_due; tell the owner how to fix the card."""
    invoice = _invoice(delivery)
    if invoice is None or delivery.tenant is None:
        return
    result = delivery.sync(invoice.subscription_id)
    grace_ends = past_due_grace_ends(result.subscription) if result else None
    tenant = delivery.tenant
    log.warning("tenant %s: payment failed for invoice %s", tenant.id, invoice.id)
    delivery.after_commit.append(
        lambda: dunning.send_payment_failed(
            tenant, invoice.amount_due, invoice.currency, invoice.next_payment_attempt, grace_ends
        )
    )


def invoice_action_required(delivery: Delivery) -> None:
    """The bank wants the customer to authenticate (3-D Secure) before it pays."""
    invoice = _invoice(delivery)
    if invoice is None or delivery.tenant is None:
        return
    delivery.sync(invoice.subscription_id)
    tenant, link = delivery.tenant, invoice.hosted_invoice_url
    delivery.after_commit.append(lambda: dunning.send_payment_action_required(tenant, link))


#: Event type -> handler. Types not listed are acknowledged and ignored.
HANDLERS: dict[str, Handler] = {
    # The subscription (or saved card) the customer just paid for.
    "checkout.session.completed": checkout_completed,
    # Links a customer to its tenant if our own write of the id was lost.
    "customer.created": customer_changed,
    "customer.updated": customer_changed,
    # Subscriptions die with the customer; the tenant returns to Free.
    "customer.deleted": customer_deleted,
    # Every subscription change is re-fetched and mirrored; the tier follows.
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    # A reminder email before the first charge.
    "customer.subscription.trial_will_end": trial_will_end,
    # Mirrored for the billing page and the operator console's analytics.
    "invoice.finalized": invoice_finalized,
    # Renewals move the period; a paid retry clears past_due.
    "invoice.paid": invoice_paid,
    "invoice.payment_succeeded": invoice_paid,
    # Dunning: past_due with a grace period, and an email with the payment-method link.
    "invoice.payment_failed": invoice_payment_failed,
    # 3-D Secure on a renewal: the customer must confirm the payment.
    "invoice.payment_action_required": invoice_action_required,
}


def _then(first: Handler, second: Handler) -> Handler:
    def both(delivery: Delivery) -> None:
        first(delivery)
        second(delivery)

    both.__doc__ = f"{first.__name__}, then {second.__name__}"
    return both


def _with_mirror_handlers(handlers: dict[str, Handler]) -> dict[str, Handler]:
    """The billing page's mirror (cards, default card, invoices) follows its events too, after
    any handler above for the same type (``portal.webhooks.mirror_handlers``)."""
    from portal.webhooks.mirror_handlers import MIRROR_HANDLERS

    merged = dict(handlers)
    for kind, mirror in MIRROR_HANDLERS.items():
        merged[kind] = _then(handlers[kind], mirror) if kind in handlers else mirror
    return merged


HANDLERS = _with_mirror_handlers(HANDLERS)
