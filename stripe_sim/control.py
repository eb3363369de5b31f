"""Simulator-only control endpoints under ``/_sim/`` (not part of Stripe's API)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from stripe_sim import webhooks
from stripe_sim.api import authenticate, json_response
from stripe_sim.context import DEFAULT_SETTINGS, current_sim
from stripe_sim.errors import StripeError

bp = Blueprint("stripe_sim_control", __name__, url_prefix="/_sim")


@bp.before_request
def _authenticate() -> Response | None:
    if request.endpoint == "stripe_sim_control.health":
        return None
    try:
        authenticate(current_sim())
    except StripeError as error:
        return json_response(error.body(), error.status)
    return None


@bp.errorhandler(StripeError)
def _error(error: StripeError) -> Response:
    return json_response(error.body(), error.status)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise StripeError("Send a JSON object body.")
    return body


@bp.get("/health")
def health() -> Response:
    return json_response({"ok": True})


@bp.post("/reset")
def reset() -> Response:
    current_sim().store.reset()
    return json_response({"reset": True})


@bp.get("/webhook_endpoints")
def list_endpoints() -> Response:
    return json_response({"data": [{"url": e["url"]} for e in current_sim().endpoints()]})


@bp.post("/webhook_endpoints")
def add_endpoint() -> Response:
    return _add_target("webhook_endpoints")


@bp.delete("/webhook_endpoints")
def clear_endpoints() -> Response:
    current_sim().store.set_setting("webhook_endpoints", [])
    return json_response({"deleted": True})


@bp.get("/event_destinations")
def list_destinations() -> Response:
    return json_response({"data": [{"url": d["url"]} for d in current_sim().destinations()]})


@bp.post("/event_destinations")
def add_destination() -> Response:
    """An event destination for thin (v2) events, signed with ``secret``."""
    return _add_target("event_destinations")


@bp.delete("/event_destinations")
def clear_destinations() -> Response:
    current_sim().store.set_setting("event_destinations", [])
    return json_response({"deleted": True})


def _add_target(setting: str) -> Response:
    body = _body()
    url, secret = body.get("url"), body.get("secret")
    if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise StripeError("`url` must be an http(s) URL.", param="url")
    if not (isinstance(secret, str) and secret.startswith("whsec_")):
        raise StripeError("`secret` must be a signing secret starting with whsec_.",
                          param="secret")
    sim = current_sim()
    with sim.store.transaction() as store:
        store.set_setting(setting, store.setting(setting, []) + [{"url": url, "secret": secret}])
    return json_response({"url": url}, 201)


@bp.route("/switches", methods=["GET", "POST"])
def switches() -> Response:
    sim = current_sim()
    current = sim.switches()
    if request.method == "POST":
        body = _body()
        for name, value in body.items():
            if name not in current or not isinstance(value, bool):
                raise StripeError(f"Unknown switch or non-boolean value: {name}. Switches: "
                                  f"{', '.join(current)}.", param=name)
        current.update(body)
        sim.store.set_setting("switches", current)
        sim.wake.set()
    return json_response(current)


@bp.post("/deliveries/release")
def release() -> Response:
    return json_response({"released": webhooks.release(current_sim())})


@bp.get("/deliveries")
def deliveries() -> Response:
    return json_response({"data": webhooks.deliveries(current_sim())})


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Response:
    sim = current_sim()
    if request.method == "POST":
        body = _body()
        for name, value in body.items():
            _check_setting(name, value)
        with sim.store.transaction() as store:
            for name, value in body.items():
                store.set_setting(name, value)
    return json_response({name: sim.setting(name) for name in DEFAULT_SETTINGS})


def _check_setting(name: str, value: Any) -> None:
    if name == "dunning_final_state" and value in ("canceled", "unpaid"):
        return
    if name == "dunning_retry_days" and isinstance(value, list) and value and all(
            isinstance(d, int) and d > 0 for d in value) and value == sorted(value):
        return
    raise StripeError(
        f"Invalid setting {name}={value!r}. dunning_final_state is canceled or unpaid; "
        "dunning_retry_days is an increasing list of positive day counts.", param=name)
