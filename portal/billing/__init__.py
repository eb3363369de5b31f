"""The billing blueprint: the plans and billing pages, their actions, and the checkout flow."""

from flask import Blueprint

bp = Blueprint("billing", __name__)

from . import actions, api, flows, pages  # noqa: E402,F401
