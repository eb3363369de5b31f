"""Keys views. A change answers htmx with the keys component and browsers with the full page."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from werkzeug.wrappers import Response as BaseResponse

from portal.dashboard.first_run import api_base_url, example_curl
from portal.errors import PortalError
from portal.extensions import limiter
from portal.keys import api_keys
from portal.keys.forms import CreateKeyForm
from portal.models import ApiKey
from portal.teams.context import current_tenant
from portal.web.layout import is_component_request

bp = Blueprint("keys", __name__)

TEMPLATE = "keys/index.html"
#: Creating keys, per tenant: plenty for a person, a wall for a script.
CREATE_LIMIT = "10/minute;100/day"


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
    tenant = current_tenant()
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


def _tenant_key() -> str:
    """Key creation is throttled per tenant (a signed-out request never gets this far)."""
    return f"keys:{current_user.tenant.id}" if current_user.is_authenticated else "keys:anonymous"


@bp.post("/keys")
@limiter.limit(CREATE_LIMIT, key_func=_tenant_key)
def create() -> Response:
    form = CreateKeyForm()
    if not form.validate_on_submit():
        return _render(400, form=form)
    try:
        api_key, raw = api_keys.create_api_key(
            current_tenant(), form.name.data or "", current_user._get_current_object()
        )
    except PortalError as error:  # the most keys a tenant may hold
        form.name.errors = [error.message]
        return _render(error.status_code, form=form)
    return _render(201, new_key=api_key, raw_key=raw)


@bp.post("/keys/<int:key_id>/revoke")
def revoke(key_id: int) -> Response | BaseResponse:
    # CSRFProtect has already checked this POST's token; the id is checked against the tenant.
    api_key = api_keys.revoke_api_key(current_tenant(), key_id, current_user._get_current_object())
    message = f"Revoked “{api_key.name}” ({api_key.prefix}…). Calls with it now fail."
    if is_component_request():
        return _render(message=message)
    flash(message, "success")
    return redirect(url_for("keys.index"), 303)
