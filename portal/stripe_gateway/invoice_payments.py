"""The gateway's calls for paying an open invoice now and reading the customer's credit.

Kept apart from ``client`` so each module stays small; ``StripeGateway`` inherits these.
"""

from __future__ import annotations

from stripe.params import InvoicePayParams

from portal.stripe_gateway.connection import StripeConnection, _fresh_key
from portal.stripe_gateway.types import StripeInvoice


class InvoicePayments(StripeConnection):
    """Pay an open invoice with a chosen card; read an invoice; read the customer balance."""

    def pay_invoice(self, invoice_id: str, payment_method_id: str) -> StripeInvoice:
        """Charge ``payment_method_id`` for the open invoice now (``POST /v1/invoices/:id/pay``).

        The customer is on the page (``off_session`` false). A decline raises ``PaymentDeclined``
        carrying the bank's message. The idempotency key is per call:
        a network retry of this attempt is safe, a second click is a second attempt.
        """
        params: InvoicePayParams = {"payment_method": payment_method_id, "off_session": False}
        paid = self._call(
            "pay the open invoice",
            lambda: self._v1.invoices.pay(
                invoice_id, params, {"idempotency_key": _fresh_key("pay")}
            ),
        )
        return StripeInvoice.of(paid)

    def retrieve_invoice(self, invoice_id: str) -> StripeInvoice:
        return StripeInvoice.of(
            self._call("load the invoice", lambda: self._v1.invoices.retrieve(invoice_id))
        )
