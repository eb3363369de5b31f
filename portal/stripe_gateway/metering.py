"""The gateway's usage-based billing calls: the Billing Meter, the metered price, the metered
subscription item and meter events.

Kept apart from ``client`` so each module stays small; ``StripeGateway`` inherits these.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import stripe
from stripe.params import PriceCreateParams, SubscriptionItemCreateParams
from stripe.params.billing import (
    MeterCreateParams,
    MeterEventCreateParams,
    MeterEventSummaryListParams,
    MeterListParams,
)

from portal.errors import PortalError
from portal.stripe_gateway.connection import StripeConnection, _key, _replayed
from portal.stripe_gateway.errors import _translated
from portal.stripe_gateway.thin_events import (
    MeterErrorReport,
    ThinEvent,
    meter_error_report,
    verified_thin_event,
)
from portal.stripe_gateway.types import StripeMeter, StripePrice


@dataclass(frozen=True)
class MeterEventResult:
    """What Stripe said to one meter event: accepted now, or already accepted earlier under the
    same identifier (a resend after a crash, or another reporter's)."""

    identifier: str
    duplicate: bool


class MeteringCalls(StripeConnection):
    """Billing Meters, metered prices and meter events."""

    # the meter and its price

    def find_meter(self, event_name: str) -> StripeMeter | None:
        """The active meter for ``event_name`` (Stripe allows one), if there is one."""
        params: MeterListParams = {"status": "active", "limit": 100}
        listed = self._call("load the billing meters", lambda: self._v1.billing.meters.list(params))
        for meter in listed.auto_paging_iter():
            if meter.event_name == event_name:
                return StripeMeter.of(meter)
        return None

    def create_meter(
        self, *, display_name: str, event_name: str, customer_key: str, value_key: str
    ) -> StripeMeter:
        """A meter summing ``value_key`` of each event for the customer id in ``customer_key``."""
        params: MeterCreateParams = {
            "display_name": display_name,
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"type": "by_id", "event_payload_key": customer_key},
            "value_settings": {"event_payload_key": value_key},
        }
        meter = self._call(
            "create the billing meter",
            lambda: self._v1.billing.meters.create(
                params, {"idempotency_key": _key("meter", event_name)}
            ),
        )
        return StripeMeter.of(meter)

    def create_metered_price(
        self,
        *,
        product_id: str,
        lookup_key: str,
        meter_id: str,
        unit_amount_decimal: str,
        nickname: str,
        transfer_lookup_key: bool = False,
    ) -> StripePrice:
        """A monthly per-unit price billed in arrears on ``meter_id``'s usage (taking
        ``lookup_key`` from the price that has it when ``transfer_lookup_key``)."""
        params: PriceCreateParams = {
            "product": product_id,
            "currency": "usd",
            "nickname": nickname,
            "lookup_key": lookup_key,
            "billing_scheme": "per_unit",
            "unit_amount_decimal": Decimal(unit_amount_decimal),
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_id},
        }
        if transfer_lookup_key:
            params["transfer_lookup_key"] = True
        key = _key("price", lookup_key, meter_id, unit_amount_decimal)
        price = self._call(
            "create the metered price",
            lambda: self._v1.prices.create(params, {"idempotency_key": key}),
        )
        return StripePrice.of(price)

    # the metered subscription item

    def add_subscription_item(self, subscription_id: str, price_id: str) -> str:
        """Add ``price_id`` (a metered price: no quantity) to the subscription; returns the
        new item's id.

        The idempotency key is the pair, so a double click or two processes add one item.
        """
        params: SubscriptionItemCreateParams = {
            "subscription": subscription_id,
            "price": price_id,
            "proration_behavior": "none",
        }
        key = _key("subscription-item", subscription_id, price_id)
        item = self._call(
            "add overage billing to your plan",
            lambda: self._v1.subscription_items.create(params, {"idempotency_key": key}),
        )
        return item.id

    # meter events

    def create_meter_event(
        self, *, event_name: str, customer_id: str, value: int, identifier: str, timestamp: int
    ) -> MeterEventResult:
        """Report ``value`` units for the customer at ``timestamp``, once per ``identifier``.

        A resend within 24 hours replays the first answer (same idempotency key); later, Stripe
        refuses an identifier it has seen: either way the event was accepted before, and is
        reported as a duplicate rather than an error. Any other
        refusal leaves as a ``PortalError`` (400: for good; 503: try again later). The
        identifier is the idempotency key too, so network retries replay, and Stripe's meter
        error reports (which name the request's key) point back at the outbox row.
        """
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PortalError(f"A meter event's value is a whole number of calls, not {value!r}.")
        params: MeterEventCreateParams = {
            "event_name": event_name,
            "payload": {"stripe_customer_id": customer_id, "value": str(value)},
            "identifier": identifier,
            "timestamp": timestamp,
        }
        with _translated("report usage"):
            try:
                event = self._v1.billing.meter_events.create(
                    params, {"idempotency_key": identifier}
                )
            except stripe.InvalidRequestError as error:
                if not _already_exists(error):
                    raise
                return MeterEventResult(identifier, duplicate=True)
        return MeterEventResult(identifier, duplicate=_replayed(event))

    def meter_event_total(self, meter_id: str, customer_id: str, start: int, end: int) -> float:
        """The meter's aggregated value for the customer over ``[start, end)`` (epoch seconds,
        on minute boundaries as Stripe requires)."""
        params: MeterEventSummaryListParams = {
            "customer": customer_id,
            "start_time": start,
            "end_time": end,
        }
        listed = self._call(
            "load the meter's usage",
            lambda: self._v1.billing.meters.event_summaries.list(meter_id, params),
        )
        return sum(summary.aggregated_value for summary in listed.auto_paging_iter())

    # meter error events (thin events, pushed to an event destination)

    def construct_thin_event(self, payload: bytes, signature: str | None, secret: str) -> ThinEvent:
        """Verify a thin event notification with its destination's ``secret`` and parse it;
        else ``WebhookRejected``."""
        return verified_thin_event(self._client, payload, signature, secret)

    def retrieve_meter_error(self, event_id: str) -> MeterErrorReport | None:
        """Fetch a thin event's details; None when it is not a meter error event."""
        event = self._call(
            "load the meter error event", lambda: self._client.v2.core.events.retrieve(event_id)
        )
        return meter_error_report(event)


def _already_exists(error: stripe.InvalidRequestError) -> bool:
    return error.code == "resource_already_exists" or (
        error.param == "identifier" and "already" in (error.user_message or "")
    )
