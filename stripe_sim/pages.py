"""Hosted pages: Checkout (with test cards and 3-D Secure), billing portal, invoices."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request

from stripe_sim import billing, checkout, customers, items, metering
from stripe_sim.cards import (
    CHARGE_FAILS,
    DECLINES,
    REQUIRES_ACTION,
    CardInputError,
    read_card,
)
from stripe_sim.context import Sim, current_sim
from stripe_sim.objects import unit_amount
from stripe_sim.pdf import text_pdf
from stripe_sim.simtime import customer_time, iso_date

bp = Blueprint("stripe_sim_pages", __name__, template_folder="templates")

DECLINED = "Your card was declined. (card_declined)"
AUTH_FAILED = ("We are unable to authenticate your payment method. Please choose a different "
               "payment method and try again. (payment_intent_authentication_failure)")


def money(amount: int, currency: str = "usd") -> str:
    return f"{amount / 100:,.2f} {currency.upper()}"


def _session(sim: Sim, session_id: str) -> dict[str, Any]:
    session = sim.store.get(session_id, "checkout.session")
    if session is None:
        abort(404)
    return checkout.expire_if_due(sim, session)


def _render_checkout(sim: Sim, session: dict[str, Any], error: str | None = None,
                     status: int = 200) -> tuple[str, int]:
    lines = []
    for item in session["_line_items"]:
        price = sim.store.fetch(item["price"], "price")
        quantity = item.get("quantity")
        lines.append({"name": items.product_name(sim, price), "quantity": quantity or 1,
                      "amount": money(metering.amount(unit_amount(price), quantity),
                                      price["currency"]) if quantity is not None
                      else f"{items.unit_text(price)} per unit of usage, billed in arrears",
                      "interval": price["recurring"]["interval"]})
    email_known = bool(session["customer"] or session["customer_email"])
    html = render_template(
        "stripe_sim/checkout.html", session=session, lines=lines, error=error,
        trial_days=session["_subscription_data"].get("trial_period_days"),
        email_known=email_known, form=request.form if request.method == "POST" else {})
    return html, status


@bp.get("/checkout/<session_id>")
def checkout_page(session_id: str) -> Any:
    sim = current_sim()
    with sim.store.transaction():
        return _render_checkout(sim, _session(sim, session_id))


@bp.post("/checkout/<session_id>")
def checkout_submit(session_id: str) -> Any:
    sim = current_sim()
    with sim.store.transaction():
        session = _session(sim, session_id)
        if session["status"] != "open":
            return _render_checkout(sim, session, status=409)
        form = request.form
        email = form.get("email", "").strip() or None
        if not (session["customer"] or session["customer_email"]) and not email:
            return _render_checkout(sim, session, "Your email address is required.", 400)
        try:
            card = read_card(form.get("card_number", ""), form.get("expiry", ""),
                             form.get("cvc", ""))
        except CardInputError as error:
            return _render_checkout(sim, session, str(error), 400)
        charged_now = session["mode"] == "subscription" and session["amount_total"]
        if card["behaviour"] == DECLINES or (card["behaviour"] == CHARGE_FAILS and charged_now):
            return _render_checkout(sim, session, DECLINED, 402)
        name = form.get("name", "").strip()
        if card["behaviour"] == REQUIRES_ACTION:
            session["_pending"] = {"card": card, "name": name, "email": email}
            sim.store.put(session)
            return redirect(f"/checkout/{session_id}/authenticate", 303)
        checkout.complete(sim, session, card, name, email)
    return redirect(checkout.success_redirect(session), 303)


@bp.route("/checkout/<session_id>/authenticate", methods=["GET", "POST"])
def checkout_authenticate(session_id: str) -> Any:
    sim = current_sim()
    with sim.store.transaction():
        session = _session(sim, session_id)
        pending = session.get("_pending")
        if session["status"] != "open" or not pending:
            return redirect(f"/checkout/{session_id}", 303)
        if request.method == "GET":
            return render_template("stripe_sim/authenticate.html", last4=pending["card"]["last4"])
        del session["_pending"]
        sim.store.put(session)
        if request.form.get("action") != "complete":
            return _render_checkout(sim, session, AUTH_FAILED, 402)
        checkout.complete(sim, session, pending["card"], pending["name"], pending["email"],
                          authenticated=True)
    return redirect(checkout.success_redirect(session), 303)


@bp.get("/billing_portal/<session_id>")
def billing_portal(session_id: str) -> Any:
    sim = current_sim()
    session = sim.store.get(session_id, "billing_portal.session")
    customer = session and sim.store.get(session["customer"], "customer")
    if not customer:
        abort(404)
    return render_template(
        "stripe_sim/portal.html", session=session, customer=customer,
        subscriptions=sim.store.all("subscription", customer=customer["id"]),
        payment_methods=sim.store.all("payment_method", customer=customer["id"]),
        invoices=[i for i in sim.store.all("invoice", customer=customer["id"])
                  if i["status"] != "draft"])


def _invoice(invoice_id: str) -> dict[str, Any]:
    invoice = current_sim().store.get(invoice_id, "invoice")
    if invoice is None or invoice["status"] == "draft":
        abort(404)
    return invoice


def _render_invoice(invoice: dict[str, Any], error: str | None = None,
                    status: int = 200) -> tuple[str, int]:
    html = render_template("stripe_sim/invoice.html", invoice=invoice, error=error,
                           money=lambda amount: money(amount, invoice["currency"]))
    return html, status


@bp.get("/invoice/<invoice_id>")
def invoice_page(invoice_id: str) -> Any:
    return _render_invoice(_invoice(invoice_id))


@bp.post("/invoice/<invoice_id>")
def invoice_pay(invoice_id: str) -> Any:
    """The payer settles an open invoice on the page (3-D Secure counts as completed here)."""
    sim = current_sim()
    with sim.store.transaction():
        invoice = _invoice(invoice_id)
        if invoice["status"] != "open":
            return _render_invoice(invoice, f"This invoice is {invoice['status']}.", 409)
        form = request.form
        try:
            card = read_card(form.get("card_number", ""), form.get("expiry", ""),
                             form.get("cvc", ""))
        except CardInputError as error:
            return _render_invoice(invoice, str(error), 400)
        if card["behaviour"] in (DECLINES, CHARGE_FAILS):
            return _render_invoice(invoice, DECLINED, 402)
        customer = sim.store.fetch(invoice["customer"], "customer")
        now = customer_time(sim.store, customer)
        pm = customers.new_payment_method(sim, now, card, form.get("name", "").strip() or None,
                                          customer["email"])
        customers.attach(sim, pm, customer)
        parent = invoice["parent"]
        sub = sim.store.get(parent["subscription_details"]["subscription"], "subscription") \
            if parent else None
        billing.collect(sim, sub, invoice, customer, now, pm, authenticated=True)
    return redirect(f"/invoice/{invoice_id}", 303)


@bp.get("/invoice/<invoice_id>/pdf")
def invoice_pdf(invoice_id: str) -> Response:
    invoice = _invoice(invoice_id)
    currency = invoice["currency"]
    lines = [
        "Stripe simulator (development and test tool) - not a real invoice",
        f"Invoice {invoice['number']}    Status: {invoice['status']}",
        f"Customer: {invoice['customer_email'] or invoice['customer']}",
        f"Period: {iso_date(invoice['period_start'])} to {iso_date(invoice['period_end'])}", "",
        *(f"{line['description']}    {money(line['amount'], currency)}"
          for line in invoice["lines"]["data"]),
        "", f"Amount due: {money(invoice['amount_due'], currency)}",
        f"Amount paid: {money(invoice['amount_paid'], currency)}",
    ]
    return Response(text_pdf(lines), mimetype="application/pdf", headers={
        "Content-Disposition": f"inline; filename={invoice['number']}.pdf"})


def render_message(heading: str, message: str, status: int) -> tuple[str, int]:
    return render_template("stripe_sim/message.html", heading=heading, message=message), status
