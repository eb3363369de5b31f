"""The /v1 pipeline and the simple resources: auth, strict params, errors, idempotency,
expansion, pagination, catalog, customers, payment methods, events, meters, hosted pages."""

from __future__ import annotations

import time

import pytest
import requests
import stripe

from stripe_sim.__main__ import parse_args
from stripe_sim.testing import SimulatorProcess


def raw(sim: SimulatorProcess, method: str, path: str, key: str | None = "ok",
        **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers["Authorization"] = f"Bearer {sim.api_key if key == 'ok' else key}"
    return requests.request(method, sim.url + path, headers=headers, timeout=10, **kwargs)


@pytest.mark.parametrize(("key", "message"), [
    (None, "You did not provide an API key"),
    ("sk_test_wrong_key_1234", "Invalid API Key provided: sk_test_********1234"),
])
def test_missing_or_wrong_key_is_401(sim, key, message):
    response = raw(sim, "GET", "/v1/customers", key=key)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and message in error["message"]


def test_sdk_raises_authentication_error(sim):
    client = stripe.StripeClient("sk_test_nope", base_addresses={"api": sim.url},
                                 max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list()


@pytest.mark.parametrize(("params", "code", "param"), [
    ({"emial": "x@example.com"}, "parameter_unknown", "emial"),
    ({"invoice_settings": {"default_pament_method": "pm_1"}}, "parameter_unknown",
     "invoice_settings[default_pament_method]"),
    ({"invoice_settings": {"custom_fields": [{"name": "PO"}]}}, "parameter_missing",
     "invoice_settings[custom_fields][0][value]"),
    ({"balance": "lots"}, "parameter_invalid_integer", "balance"),
])
def test_strict_params_follow_the_sdk_types(stripe_client, params, code, param):
    with pytest.raises(stripe.InvalidRequestError) as error:
        stripe_client.v1.customers.create(params)  # type: ignore[arg-type]
    assert error.value.http_status == 400
    assert (error.value.code, error.value.param) == (code, param)


def test_known_but_unsimulated_param_is_refused_with_a_message(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as error:
        stripe_client.v1.customers.create({"tax_exempt": "exempt"})
    assert error.value.param == "tax_exempt" and "does not implement" in str(error.value)


def test_unknown_id_and_unknown_url_are_404(sim, stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as error:
        stripe_client.v1.customers.retrieve("cus_missing")
    assert (error.value.http_status, error.value.code, error.value.param) == (
        404, "resource_missing", "id")
    assert "No such customer: 'cus_missing'" in str(error.value)
    response = raw(sim, "GET", "/v1/nothing_here")
    assert response.status_code == 404
    assert "Unrecognized request URL" in response.json()["error"]["message"]


def test_idempotency_key_replays_the_first_result(sim, stripe_client):
    first = stripe_client.v1.customers.create({"email": "i@example.com"},
                                              {"idempotency_key": "key-1"})
    again = stripe_client.v1.customers.create({"email": "i@example.com"},
                                              {"idempotency_key": "key-1"})
    assert again.id == first.id
    assert len(stripe_client.v1.customers.list().data) == 1
    replay = raw(sim, "POST", "/v1/customers", data={"email": "i@example.com"},
                 headers={"Idempotency-Key": "key-1"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create({"email": "other@example.com"},
                                          {"idempotency_key": "key-1"})


def test_errors_are_replayed_too(stripe_client):
    options = {"idempotency_key": "key-err"}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as error:
            stripe_client.v1.payment_methods.attach("pm_missing", {"customer": "cus_x"}, options)
        assert error.value.http_status == 404


def test_prices_by_lookup_key_with_expanded_product(stripe_client, prices):
    found = stripe_client.v1.prices.list({"lookup_keys": ["continuum_pro_yearly",
                                                          "continuum_starter_monthly"],
                                          "expand": ["data.product"]})
    assert sorted(p.lookup_key for p in found.data) == ["continuum_pro_yearly",
                                                        "continuum_starter_monthly"]
    yearly = next(p for p in found.data if p.lookup_key == "continuum_pro_yearly")
    assert yearly.product.name == "Continuum Pro"
    assert (yearly.recurring.interval, yearly.unit_amount) == ("year", 49000)


def test_lookup_key_is_unique_unless_transferred(stripe_client, prices):
    pro = prices["continuum_pro_monthly"]
    params = {"product": pro.product, "currency": "usd", "unit_amount": 5900,
              "recurring": {"interval": "month"}, "lookup_key": "continuum_pro_monthly"}
    with pytest.raises(stripe.InvalidRequestError) as error:
        stripe_client.v1.prices.create(params)
    assert error.value.param == "lookup_key"
    moved = stripe_client.v1.prices.create({**params, "transfer_lookup_key": True})
    assert stripe_client.v1.prices.retrieve(pro.id).lookup_key is None
    assert stripe_client.v1.prices.list({"lookup_keys": ["continuum_pro_monthly"]}).data[
        0].id == moved.id


def test_pagination_walks_every_page(stripe_client):
    made = [stripe_client.v1.customers.create({"email": f"p{i}@example.com"}).id
            for i in range(5)]
    page = stripe_client.v1.customers.list({"limit": 2})
    assert page.has_more and [c.id for c in page.data] == made[::-1][:2]
    walked = [c.id for c in page.auto_paging_iter()]
    assert walked == made[::-1]


def test_customer_lifecycle_and_events(stripe_client, hooks):
    customer = stripe_client.v1.customers.create({"email": "life@example.com", "name": "Li",
                                                  "metadata": {"tenant_id": "3"}})
    other = stripe_client.v1.customers.create({"email": "else@example.com"})
    assert [c.id for c in stripe_client.v1.customers.list(
        {"email": "life@example.com"}).data] == [customer.id]
    updated = stripe_client.v1.customers.update(customer.id, {"name": "Lin",
                                                              "metadata": {"plan": "pro"}})
    assert updated.name == "Lin"
    assert updated.metadata.to_dict() == {"tenant_id": "3", "plan": "pro"}
    gone = stripe_client.v1.customers.delete(customer.id)
    assert gone.deleted is True
    assert stripe_client.v1.customers.retrieve(customer.id).deleted is True
    events = hooks.wait_for(lambda e: len(e) >= 4)
    assert [e.type for e in events] == ["customer.created", "customer.created",
                                        "customer.updated", "customer.deleted"]
    assert events[2].data.previous_attributes.to_dict() == {
        "name": "Li", "metadata": {"plan": None}}
    assert other.id != customer.id


def test_payment_methods_attach_default_list_detach(stripe_client, hooks):
    customer = stripe_client.v1.customers.create({"email": "pm@example.com"})
    visa = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    master = stripe_client.v1.payment_methods.attach("pm_card_mastercard",
                                                     {"customer": customer.id})
    updated = stripe_client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": master.id}})
    assert updated.invoice_settings.default_payment_method == master.id
    listed = stripe_client.v1.customers.payment_methods.list(customer.id)
    assert {pm.id for pm in listed.data} == {visa.id, master.id}
    assert {pm.id for pm in stripe_client.v1.payment_methods.list(
        {"customer": customer.id}).data} == {visa.id, master.id}
    detached = stripe_client.v1.payment_methods.detach(master.id)
    assert detached.customer is None
    after = stripe_client.v1.customers.retrieve(customer.id)
    assert after.invoice_settings.default_payment_method is None
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_methods.attach(master.id, {"customer": customer.id})
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.payment_methods.attach("pm_card_chargeDeclined",
                                                {"customer": customer.id})
    assert declined.value.code == "card_declined"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": "pm_missing"}})
    events = hooks.wait_for(lambda e: "payment_method.detached" in [x.type for x in e])
    assert [e.type for e in events].count("payment_method.attached") == 2


def test_events_retrieve_and_list_by_type(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ev@example.com"})
    stripe_client.v1.customers.update(customer.id, {"name": "E"})
    listed = stripe_client.v1.events.list({"type": "customer.updated"})
    assert [e.type for e in listed.data] == ["customer.updated"]
    event = stripe_client.v1.events.retrieve(listed.data[0].id)
    assert event.data.object.id == customer.id
    assert event.api_version == stripe.api_version
    assert event.request.idempotency_key
    assert len(stripe_client.v1.events.list({"type": "customer.*"}).data) == 2


def test_meter_events_dedupe_by_identifier(stripe_client):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": 1767225600})
    customer = stripe_client.v1.customers.create({"email": "m@example.com",
                                                  "test_clock": clock.id})
    meter = stripe_client.v1.billing.meters.create({
        "display_name": "API calls", "event_name": "api_call",
        "default_aggregation": {"formula": "sum"}})
    params = {"event_name": "api_call", "identifier": "batch-1", "timestamp": 1767225700,
              "payload": {"stripe_customer_id": customer.id, "value": "40"}}
    stripe_client.v1.billing.meter_events.create(params)
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        stripe_client.v1.billing.meter_events.create(params)
    assert duplicate.value.code == "resource_already_exists"
    stripe_client.v1.billing.meter_events.create({**params, "identifier": "batch-2"})
    summary = stripe_client.v1.billing.meters.event_summaries.list(
        meter.id, {"customer": customer.id, "start_time": 1767225600, "end_time": 1767229200})
    assert summary.data[0].aggregated_value == 80
    assert stripe_client.v1.billing.meters.retrieve(meter.id).event_name == "api_call"


def portal_configuration(stripe_client):
    return stripe_client.v1.billing_portal.configurations.create(
        {"features": {"invoice_history": {"enabled": True},
                      "payment_method_update": {"enabled": True}}})


def test_billing_portal_page_links_back(sim, stripe_client):
    customer = stripe_client.v1.customers.create({"email": "bp@example.com"})
    session = stripe_client.v1.billing_portal.sessions.create(
        {"customer": customer.id, "return_url": "http://portal.test/billing",
         "configuration": portal_configuration(stripe_client).id})
    assert session.configuration.startswith("bpc_")
    page = sim.submit_page(session.url)
    assert page.status == 200 and "Stripe simulator" in page.body
    assert 'href="http://portal.test/billing"' in page.body


def test_hosted_invoice_page_and_pdf(sim, stripe_client, prices):
    session = stripe_client.v1.checkout.sessions.create({
        "mode": "subscription", "success_url": "http://portal.test/ok",
        "line_items": [{"price": prices["continuum_pro_monthly"].id, "quantity": 1}]})
    sim.pay_checkout(session.url)
    invoice = stripe_client.v1.invoices.list().data[0]
    page = requests.get(invoice.hosted_invoice_url, timeout=10)
    assert page.status_code == 200 and invoice.number in page.text
    assert "Stripe simulator" in page.text and "49.00 USD" in page.text
    pdf = requests.get(invoice.invoice_pdf, timeout=10)
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert invoice.number.encode() in pdf.content


def test_state_survives_a_restart(sim, stripe_client):
    customer = stripe_client.v1.customers.create({"email": "keep@example.com"})
    sim.stop()
    with pytest.raises(stripe.APIConnectionError):
        stripe_client.v1.customers.retrieve(customer.id)
    sim.start()
    assert stripe_client.v1.customers.retrieve(customer.id).email == "keep@example.com"


def test_latency_option_delays_api_answers_only():
    """``--latency-ms`` (``STRIPE_SIM_LATENCY_MS``) delays every /v1 and /v2 answer, never the
    hosted pages or the /_sim/ controls."""
    with SimulatorProcess(latency_ms=700) as slow:
        client = slow.client()
        started = time.perf_counter()
        client.v1.customers.list()
        assert time.perf_counter() - started >= 0.7
        started = time.perf_counter()
        client.v2.core.events.list()
        assert time.perf_counter() - started >= 0.7
        started = time.perf_counter()
        slow.control("GET", "health")
        requests.get(slow.url + "/checkout/cs_test_unknown", timeout=10)
        assert time.perf_counter() - started < 0.7


@pytest.mark.parametrize("argv", [["--latency-ms", "-1"], ["--latency-ms", "slow"],
                                  ["--event-destination-url", "http://x.test/events"]])
def test_bad_command_lines_are_refused(argv):
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_billing_portal_session_needs_a_configuration(sim, stripe_client):
    """Stripe refuses a portal session when the account has no default configuration and
    none is named; API-created configurations are never the default."""
    customer = stripe_client.v1.customers.create({"email": "bp@example.com"})
    portal_configuration(stripe_client)
    with pytest.raises(stripe.InvalidRequestError, match="default configuration has not been"):
        stripe_client.v1.billing_portal.sessions.create(
            {"customer": customer.id, "return_url": "http://portal.test/billing"})


def test_errors_carry_doc_url(sim, stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.customers.retrieve("cus_missing")
    assert caught.value.error.doc_url == "https://docs.stripe.com/error-codes/resource-missing"


def test_webhook_endpoint_gets_only_its_events_on_the_pinned_version(sim, stripe_client,
                                                                     webhook_receiver):
    hook = stripe_client.v1.webhook_endpoints.create(
        {"url": webhook_receiver.url, "enabled_events": ["customer.updated"],
         "api_version": stripe.api_version})
    assert hook.secret.startswith("whsec_") and hook.api_version == stripe.api_version
    assert stripe_client.v1.webhook_endpoints.list().data[0].secret is None
    webhook_receiver.secret = hook.secret
    customer = stripe_client.v1.customers.create({"email": "a@example.com"})
    stripe_client.v1.customers.update(customer.id, {"name": "A"})
    events = webhook_receiver.wait_for(lambda got: len(got) >= 1)
    assert [event.type for event in events] == ["customer.updated"]
    with pytest.raises(stripe.InvalidRequestError, match="only at API version"):
        stripe_client.v1.webhook_endpoints.create(
            {"url": webhook_receiver.url, "enabled_events": ["*"],
             "api_version": "2024-06-20"})
    with pytest.raises(stripe.InvalidRequestError, match="Invalid enabled_events"):
        stripe_client.v1.webhook_endpoints.create(
            {"url": webhook_receiver.url, "enabled_events": ["invoice.bogus"]})
