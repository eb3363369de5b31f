"""Contract: every object the simulator returns has the field names and JSON types of Stripe's
own example of that resource (../shared/stripe/fixtures3.json, or the file STRIPE_FIXTURES3
names), and it returns null only where the SDK's pinned types allow null."""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path
from typing import Any

import pytest
import stripe

from stripe_sim.testing import SimulatorProcess
from stripe_sim.tests.contract_scenario import run_scenario

ROOT = Path(__file__).resolve().parents[2]
# Beside the checkout, or beside the worktrees directory for a checkout in a worktree.
FIXTURES = Path(os.environ.get("STRIPE_FIXTURES3") or next(
    (path for path in (ROOT.parent / "shared" / "stripe" / "fixtures3.json",
                       ROOT.parent.parent / "shared" / "stripe" / "fixtures3.json")
     if path.exists()), ROOT.parent / "shared" / "stripe" / "fixtures3.json"))
pytestmark = pytest.mark.skipif(
    not FIXTURES.exists(),
    reason=f"Stripe's example objects are not at {FIXTURES}; the contract tests need them (CI "
           "provides the file).")

SDK_CLASSES: dict[str, type] = {
    "product": stripe.Product, "price": stripe.Price, "plan": stripe.Plan,
    "customer": stripe.Customer, "payment_method": stripe.PaymentMethod,
    "setup_intent": stripe.SetupIntent, "checkout.session": stripe.checkout.Session,
    "billing_portal.session": stripe.billing_portal.Session,
    "subscription": stripe.Subscription, "subscription_item": stripe.SubscriptionItem,
    "invoice": stripe.Invoice, "line_item": stripe.InvoiceLineItem, "event": stripe.Event,
    "test_helpers.test_clock": stripe.test_helpers.TestClock,
    "billing.meter": stripe.billing.Meter, "billing.meter_event": stripe.billing.MeterEvent,
    "billing.meter_event_summary": stripe.billing.MeterEventSummary,
    "payment_intent": stripe.PaymentIntent, "charge": stripe.Charge,
    "invoice_payment": stripe.InvoicePayment,
    "billing_portal.configuration": stripe.billing_portal.Configuration,
    "webhook_endpoint": stripe.WebhookEndpoint,
}
FREE_FORM = {"metadata", "payload", "previous_attributes"}


def json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number")


def sdk_field(cls: Any, key: str) -> tuple[bool, Any]:
    """(may be null, SDK class of the value) per the SDK's annotation of ``key`` on ``cls``."""
    annotation = getattr(cls, "__annotations__", {}).get(key)
    if annotation is None:
        return True, None
    args = typing.get_args(annotation) or (annotation,)
    nested = None
    for arg in args:
        for candidate in (*typing.get_args(arg), arg):
            if isinstance(candidate, typing.ForwardRef):
                candidate = getattr(stripe, candidate.__forward_arg__, None)
            if isinstance(candidate, type) and issubclass(candidate, stripe.StripeObject):
                nested = candidate
    return type(None) in args, nested


def check(ours: dict[str, Any], example: dict[str, Any], cls: Any, path: str,
          resources: dict[str, Any]) -> list[str]:
    """Differences between ``ours`` and Stripe's ``example`` (empty when they agree)."""
    kind = ours.get("object")
    if isinstance(kind, str) and kind not in resources and kind != example.get("object"):
        return []  # no Stripe example of this kind in the file (the SDK contract covers it)
    if isinstance(kind, str) and kind in resources and kind != example.get("object"):
        example, cls = resources[kind], SDK_CLASSES.get(kind)
    if ours.get("deleted") is True:
        example = resources[f"deleted_{kind}"]
    problems = []
    for key, value in ours.items():
        where = f"{path}.{key}"
        if key == "previous_attributes" and path.endswith(".data"):
            continue
        if key not in example:
            # Stripe's examples leave some optional fields out; the SDK declares them (the
            # SDK contract test checks every field against the SDK).
            if key not in getattr(cls, "__annotations__", {}):
                problems.append(f"{where}: not a field of Stripe's {example.get('object')}")
            continue
        expected = example[key]
        nullable, nested_cls = sdk_field(cls, key)
        if value is None:
            if expected is not None and not nullable:
                problems.append(f"{where}: null, but the SDK type is not optional")
            continue
        if expected is None:
            continue
        if json_type(value) != json_type(expected):
            problems.append(f"{where}: {json_type(value)}, Stripe has {json_type(expected)}")
        elif key in FREE_FORM:
            continue
        elif isinstance(value, dict) and expected:  # an empty example says nothing more
            problems += check(value, expected, nested_cls, where, resources)
        elif isinstance(value, list) and expected and isinstance(expected[0], dict):
            for index, element in enumerate(value):
                problems += check(element, expected[0], nested_cls, f"{where}[{index}]",
                                  resources)
    return problems


def _list_check(ours: dict[str, Any], path: str, resources: dict[str, Any]) -> list[str]:
    problems = []
    for index, element in enumerate(ours["data"]):
        kind = element["object"]
        problems += check(element, resources[kind], SDK_CLASSES.get(kind),
                          f"{path}[{index}]", resources)
    return problems


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return json.loads(FIXTURES.read_text())["resources"]


@pytest.fixture(scope="module")
def returned(stripe_sim: SimulatorProcess) -> dict[str, Any]:
    return run_scenario(stripe_sim)

SINGLE = ["product", "price", "clock", "customer", "open_session", "session", "subscription",
          "preview", "past_due", "payment_method", "setup_intent", "canceled", "portal_session",
          "meter", "meter_event", "deleted_customer", "metered_price", "mixed_subscription",
          "subscription_item", "usage_preview", "usage_subscription"]


@pytest.mark.parametrize("name", SINGLE)
def test_object_matches_stripe_example(returned, resources, name):
    ours = returned[name]
    kind = ours["object"]
    assert check(ours, resources[kind], SDK_CLASSES.get(kind), name, resources) == []


@pytest.mark.parametrize("name", ["invoices", "summaries", "events", "subscription_items",
                                  "usage_invoices"])
def test_list_elements_match_stripe_examples(returned, resources, name):
    ours = returned[name]
    assert ours["object"] == "list" and ours["data"]
    assert _list_check(ours, name, resources) == []


def test_usage_scenario_billed_the_usage(returned):
    """The usage scenario did what the contract checks rely on: a metered item without a
    quantity, and a renewal invoice whose usage line bills 2,500 units at 0.01 cents."""
    item = returned["subscription_item"]
    assert "quantity" not in item and item["price"]["recurring"]["usage_type"] == "metered"
    assert returned["mixed_subscription"]["billing_mode"]["type"] == "flexible"
    assert [line["amount"] for line in returned["usage_preview"]["lines"]["data"]] == [25]
    renewal = returned["usage_invoices"]["data"][0]
    assert [(line["amount"], line["quantity"]) for line in renewal["lines"]["data"]] == [
        (25, 2500)]


def test_events_cover_the_types_the_portal_handles(returned):
    types = {event["type"] for event in returned["events"]["data"]}
    assert {"customer.created", "customer.updated", "customer.deleted",
            "customer.subscription.created", "customer.subscription.updated",
            "customer.subscription.deleted", "invoice.created", "invoice.finalized",
            "invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed",
            "payment_method.attached", "setup_intent.succeeded",
            "checkout.session.completed"} <= types


def test_check_reports_unknown_fields_wrong_types_and_bad_nulls(resources):
    ours = {"object": "customer", "id": "cus_1", "balance": "0", "nickname": "x",
            "livemode": None}
    assert check(ours, resources["customer"], stripe.Customer, "c", resources) == [
        "c.balance: string, Stripe has number",
        "c.nickname: not a field of Stripe's customer",
        "c.livemode: null, but the SDK type is not optional",
    ]
