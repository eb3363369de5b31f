"""Keys views. A change answers htmx with the keys component and browsers with the full page."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from werkzeug.wrappers import Response as BaseResponse

from portal.dashboard.first_run import api_base_url, example_curl
from portal.keys import api_keys
from portal.keys.forms import CreateKeyForm
from portal.models import ApiKey
from portal.web.layout import is_component_request

bp = Blueprint("keys", __name__)

TEMPLATE = "keys/index.html"


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every keys page needs a signed-in user."""


def _render(
    status: int = 200,
    *,
    form: CreateKeyForm | None = None,
    new_key: ApiKey | None = None,
    raw_key: str | None = None,
    message: str | None = None,
) -> Response:
    tenant = current_user.tenant
    context = {
        "tenant": tenant,
        "keys": api_keys.list_api_keys(tenant),
        "form": form or CreateKeyForm(formdata=None),
        "new_key": new_key,
        "raw_key": raw_key,
        "message": message,
        "api_base_url": api_base_url(),
        "example_curl": example_curl,
    }
    if is_component_request():
        body = render_block(TEMPLATE, "keys_component", **context)
    else:
        body = render_template(TEMPLATE, **context)
    response = Response(body, status)
    # A page that may show a raw key must not sit in any cache or the back-button store.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/keys")
def index() -> Response:
    return _render()


@bp.post("/keys")
def create() -> Response:
    form = CreateKeyForm()
    if not form.validate_on_submit():
        return _render(400, form=form)
    api_key, raw = api_keys.create_api_key(current_user.tenant, form.name.data or "")
    return _render(201, new_key=api_key, raw_key=raw)


@bp.post("/keys/<int:key_id>/revoke")
def revoke(key_id: int) -> Response | BaseResponse:
    # CSRFProtect has already checked this POST's token; the id is checked against the tenant.
    api_key = api_keys.revoke_api_key(current_user.tenant, key_id)
    message = f"Revoked “{api_key.name}” ({api_key.prefix}…). Calls with it now fail."
    if is_component_request():
        return _render(message=message)
    flash(message, "success")
    return redirect(url_for("keys.index"), 303)
