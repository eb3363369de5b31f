"""POST /billing/webhook (and its /v1/ alias): verify, record once, dispatch, answer.

- No signing secret configured: everything is refused (503), since an empty secret would
  verify against an empty key that anyone can use.
- A body over 1 MB: 413 before it is read. A bad or missing signature, a timestamp older than
  300 s, or a body that is not an event: 400.
- POST /billing/webhook/thin takes the thin events of an event destination (the meter's error
  reports), verified with STRIPE_THIN_WEBHOOK_SECRET the same way (see ``thin``).
- A duplicate of a processed event: 200 and no work. Unknown types and unknown customers:
  200 no-op. A handler failure: rolled back, recorded on the event row, 500 so Stripe retries.
  An event about an object Stripe no longer has (or a card no longer on the customer) is closed
  with the error noted (200): a retry could never succeed.
- An event on another API version than the pinned one is logged as an error and handled with
  its object re-fetched at the pinned version (``versions``).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from portal import metrics
from portal.errors import PortalError
from portal.extensions import csrf, db, limiter
from portal.stripe_gateway import StripeObjectMissing, WebhookEvent, WebhookRejected, get_gateway
from portal.stripe_gateway.event_payload import body_customer_id
from portal.stripe_gateway.webhooks import body_event_id, event_from_body
from portal.webhooks import events, sessionless, thin, versions
from portal.webhooks.handlers import HANDLERS, Delivery

log = logging.getLogger("continuum.billing")

MAX_BODY_BYTES = 1024 * 1024

webhooks_bp = Blueprint("webhooks", __name__)
# Stripe's deliveries carry no limit of the portal's (they are signed, and Stripe paces them):
# exempt, and skipped: the limiter does not even look at them, which keeps the intake fast.
limiter.exempt(webhooks_bp)
limiter.skip_blueprint(webhooks_bp.name)


def _answer(status: int, **body: object) -> tuple[Response, int]:
    return jsonify(body), status


@webhooks_bp.post("/billing/webhook")
@webhooks_bp.post("/v1/billing/webhook")
@csrf.exempt
def receive() -> tuple[Response, int]:
    """Stripe's webhook endpoint."""
    payload = _payload("STRIPE_WEBHOOK_SECRET")
    if isinstance(payload, tuple):
        return payload
    try:
        body = get_gateway().verified_body(payload, request.headers.get("Stripe-Signature"))
        known = _look_up(body)
        if known is not None and known.processed:
            log.info("webhook %s: duplicate, already processed", known.event_id)
            metrics.webhook_event("duplicate")
            return _answer(200, received=True, duplicate=True)
        event = event_from_body(body)
    except WebhookRejected as error:
        log.warning("webhook rejected: %s", error.message)
        return _answer(400, error=error.message)
    except PortalError as error:
        log.error("webhook refused: %s", error.message)
        return _answer(error.status_code, error=error.message)
    return _process(event, known if known is not None and known.event_id == event.id else None)


@webhooks_bp.post("/billing/webhook/thin")
@webhooks_bp.post("/v1/billing/webhook/thin")
@csrf.exempt
def receive_thin() -> tuple[Response, int]:
    """The event destination for Stripe's thin events."""
    payload = _payload("STRIPE_THIN_WEBHOOK_SECRET")
    if isinstance(payload, tuple):
        return payload
    try:
        event = get_gateway().construct_thin_event(
            payload,
            request.headers.get("Stripe-Signature"),
            current_app.config["STRIPE_THIN_WEBHOOK_SECRET"],
        )
    except WebhookRejected as error:
        log.warning("thin event rejected: %s", error.message)
        return _answer(400, error=error.message)
    try:
        processed = thin.handle(event)
    except PortalError as error:  # Stripe could not tell us the details: let it resend
        db.session.rollback()
        log.error("thin event %s (%s) not processed: %s", event.id, event.type, error.message)
        return _answer(503, error="The event could not be processed; it will be retried.")
    return _answer(200, received=True, duplicate=not processed)


def _payload(secret_setting: str) -> bytes | tuple[Response, int]:
    """The body, when a secret to verify it is configured and it is at most 1 MB."""
    if not current_app.config.get(secret_setting):
        log.error("webhook refused: %s is not set, so nothing can be verified", secret_setting)
        return _answer(503, error="Webhooks are not configured on this server.")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        log.warning("webhook rejected: body of %s bytes", request.content_length)
        return _answer(413, error="The body is larger than 1 MB.")
    payload = request.stream.read(MAX_BODY_BYTES + 1)
    if len(payload) > MAX_BODY_BYTES:
        log.warning("webhook rejected: body over 1 MB")
        return _answer(413, error="The body is larger than 1 MB.")
    return payload


def _look_up(body: object) -> events.Known | None:
    """A verified body's event: processed already? and its customer's tenant (one read).

    A redelivery of an event already processed is answered from this alone, before the body
    is read into an event, since a processed event is final (``claim`` never takes it again).
    None when the body names no usable id: the full parse then refuses it with the reason.
    """
    event_id = body_event_id(body)
    return None if event_id is None else events.look_up(event_id, body_customer_id(body))


def _process(event: WebhookEvent, known: events.Known | None) -> tuple[Response, int]:
    handler = HANDLERS.get(event.type)
    try:
        if not events.claim(event):
            db.session.rollback()
            log.info("webhook %s (%s): duplicate, already processed", event.id, event.type)
            metrics.webhook_event("duplicate")
            return _answer(200, received=True, duplicate=True)
        event = versions.at_pinned_version(event)
        if known is not None and known.customer_id == event.customer_id:
            tenant_id = known.tenant_id  # read before the claim, as a delivery a moment earlier
        else:  # a re-fetched object (another API version) may name another customer
            tenant_id = events.tenant_id_for_customer(event.customer_id)
        delivery = Delivery(event=event, tenant_id=tenant_id)
        if handler is None:
            log.info("webhook %s: %s is not handled; acknowledged", event.id, event.type)
        else:
            if tenant_id is None:
                log.info(
                    "webhook %s (%s): customer %s is not one of ours",
                    event.id,
                    event.type,
                    event.customer_id,
                )
            handler(delivery)
        events.mark_processed(event, tenant_id)
        db.session.commit()
        metrics.webhook_event("processed")
    except StripeObjectMissing as error:
        log.warning("webhook %s (%s): %s; nothing to apply", event.id, event.type, error)
        events.record_failure(event, error, final=True)
        metrics.webhook_event("failed")
        return _answer(200, received=True, applied=False)
    except Exception as error:  # noqa: BLE001 - any failure must be recorded and retried
        log.exception("webhook %s (%s) failed; Stripe will retry", event.id, event.type)
        events.record_failure(event, error)
        metrics.webhook_event("failed")
        return _answer(500, error="The event could not be processed; it will be retried.")
    for action in delivery.after_commit:
        try:
            action()
        except Exception:  # noqa: BLE001 - the change is stored; a failed notice must not undo it
            log.exception("webhook %s: follow-up after commit failed", event.id)
    return _answer(200, received=True)


# After the routes (registration runs these in order): their paths are known by then.
webhooks_bp.record_once(sessionless.install)
