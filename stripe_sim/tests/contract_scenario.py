"""One scenario that makes the simulator return every kind of object it has, raw JSON.

The contract tests (``test_contract`` against Stripe's own examples, ``test_sdk_contract``
against the SDK's declared fields) both walk what it returns.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from stripe_sim.testing import SimulatorProcess


def wait_until_ready(call: Any, clock_id: str, timeout: float = 30.0) -> None:
    """Advancing is asynchronous: poll the clock until it is ready again."""
    deadline = time.monotonic() + timeout
    while call("GET", f"/v1/test_helpers/test_clocks/{clock_id}")["status"] != "ready":
        assert time.monotonic() < deadline, "the test clock did not become ready"
        time.sleep(0.05)


def run_scenario(stripe_sim: SimulatorProcess) -> dict[str, Any]:
    """Raw JSON of every kind of object the simulator returns, from one scenario."""
    if not stripe_sim.running:
        stripe_sim.start()
    stripe_sim.reset()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {stripe_sim.api_key}"

    def call(method: str, path: str, **data: Any) -> dict[str, Any]:
        query, body = (data, None) if method == "GET" else (None, data)
        response = http.request(method, stripe_sim.url + path, params=query, data=body)
        assert response.status_code == 200, response.text
        return response.json()

    out: dict[str, Any] = {}
    out["product"] = call("POST", "/v1/products", name="Pro")
    out["price"] = call("POST", "/v1/prices", product=out["product"]["id"], currency="usd",
                        unit_amount="4900", **{"recurring[interval]": "month"})
    yearly = call("POST", "/v1/prices", product=out["product"]["id"], currency="usd",
                  unit_amount="49000", **{"recurring[interval]": "year"})
    out["clock"] = call("POST", "/v1/test_helpers/test_clocks", frozen_time="1767225600")
    out["customer"] = call("POST", "/v1/customers", email="c@example.com",
                           test_clock=out["clock"]["id"])
    session_params = {"mode": "subscription", "customer": out["customer"]["id"],
                      "line_items[0][price]": out["price"]["id"], "line_items[0][quantity]": "1",
                      "success_url": "http://portal.test/ok", "cancel_url": "http://portal.test"}
    out["open_session"] = call("POST", "/v1/checkout/sessions", **session_params)
    stripe_sim.pay_checkout(out["open_session"]["url"], email=None)
    out["session"] = call("GET", f"/v1/checkout/sessions/{out['open_session']['id']}")
    sub_id = out["session"]["subscription"]
    out["subscription"] = call("GET", f"/v1/subscriptions/{sub_id}")
    # What the portal does after Checkout (which never sets the customer's default card).
    call("POST", f"/v1/customers/{out['customer']['id']}",
         **{"invoice_settings[default_payment_method]":
            out["subscription"]["default_payment_method"]})
    item = out["subscription"]["items"]["data"][0]["id"]
    out["preview"] = call("POST", "/v1/invoices/create_preview", subscription=sub_id,
                          **{"subscription_details[items][0][id]": item,
                             "subscription_details[items][0][price]": yearly["id"]})
    failing = call("POST", "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
                   customer=out["customer"]["id"])
    call("POST", f"/v1/subscriptions/{sub_id}", default_payment_method=failing["id"],
         cancel_at_period_end="false")
    out["advancing_clock"] = call(
        "POST", f"/v1/test_helpers/test_clocks/{out['clock']['id']}/advance",
        frozen_time=str(1767225600 + 33 * 86400))
    wait_until_ready(call, out["clock"]["id"])
    out["past_due"] = call("GET", f"/v1/subscriptions/{sub_id}")
    out["invoices"] = call("GET", "/v1/invoices", customer=out["customer"]["id"])
    out["payment_method"] = call("GET", f"/v1/payment_methods/{failing['id']}")
    setup = call("POST", "/v1/checkout/sessions", mode="setup", currency="usd",
                 customer=out["customer"]["id"], success_url="http://portal.test/ok")
    stripe_sim.pay_checkout(setup["url"], email=None)
    intent_id = call("GET", f"/v1/checkout/sessions/{setup['id']}")["setup_intent"]
    out["setup_intent"] = call("GET", f"/v1/setup_intents/{intent_id}")
    out["canceled"] = call("DELETE", f"/v1/subscriptions/{sub_id}")
    out["portal_configuration"] = call(
        "POST", "/v1/billing_portal/configurations",
        **{"features[invoice_history][enabled]": "true",
           "features[payment_method_update][enabled]": "true",
           "features[customer_update][enabled]": "true",
           "features[customer_update][allowed_updates][0]": "email"})
    out["portal_session"] = call("POST", "/v1/billing_portal/sessions",
                                 customer=out["customer"]["id"], return_url="http://portal.test",
                                 configuration=out["portal_configuration"]["id"])
    out["webhook_endpoint"] = call("POST", "/v1/webhook_endpoints", url="http://portal.test/hook",
                                   **{"enabled_events[0]": "invoice.paid"})
    out["meter"] = call("POST", "/v1/billing/meters", display_name="API calls",
                        event_name="api_call", **{"default_aggregation[formula]": "sum"})
    out["meter_event"] = call("POST", "/v1/billing/meter_events", event_name="api_call",
                              identifier="evt-1", timestamp="1767225700",
                              **{"payload[stripe_customer_id]": out["customer"]["id"],
                                 "payload[value]": "3"})
    out["summaries"] = call("GET", f"/v1/billing/meters/{out['meter']['id']}/event_summaries",
                            customer=out["customer"]["id"], start_time="1767225600",
                            end_time="1767229200")
    _usage_billing(call, out, yearly)
    out["deleted_customer"] = call("DELETE", f"/v1/customers/{out['customer']['id']}")
    out["events"] = call("GET", "/v1/events", limit="100")
    for kind in ("payment_intent", "charge", "invoice_payment"):
        found = call("GET", "/v1/events", type=f"{kind}.*", limit="1")["data"]
        assert found, f"no {kind} event"
        out[kind] = found[0]["data"]["object"]
    return out


def _usage_billing(call: Any, out: dict[str, Any], yearly: dict[str, Any]) -> None:
    """A metered price on the meter, a yearly subscription given the monthly metered item,
    usage, and the month's renewal invoice with its usage line."""
    customer, clock = out["customer"]["id"], out["clock"]["id"]
    out["metered_price"] = call("POST", "/v1/prices", product=out["product"]["id"],
                                currency="usd", unit_amount_decimal="0.01",
                                **{"recurring[interval]": "month",
                                   "recurring[usage_type]": "metered",
                                   "recurring[meter]": out["meter"]["id"]})
    out["mixed_subscription"] = call("POST", "/v1/subscriptions", customer=customer,
                                     **{"items[0][price]": yearly["id"]})
    sub_id = out["mixed_subscription"]["id"]
    out["subscription_item"] = call("POST", "/v1/subscription_items", subscription=sub_id,
                                    price=out["metered_price"]["id"])
    out["subscription_items"] = call("GET", "/v1/subscription_items", subscription=sub_id)
    now = call("GET", f"/v1/test_helpers/test_clocks/{clock}")["frozen_time"]
    call("POST", "/v1/billing/meter_events", event_name="api_call", timestamp=str(now),
         **{"payload[stripe_customer_id]": customer, "payload[value]": "2500"})
    out["usage_preview"] = call("POST", "/v1/invoices/create_preview", subscription=sub_id)
    call("POST", f"/v1/test_helpers/test_clocks/{clock}/advance",
         frozen_time=str(now + 32 * 86400))
    wait_until_ready(call, clock)
    out["usage_subscription"] = call("GET", f"/v1/subscriptions/{sub_id}")
    out["usage_invoices"] = call("GET", "/v1/invoices", subscription=sub_id)


