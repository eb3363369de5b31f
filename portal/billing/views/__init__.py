"""The billing blueprint: plans and billing pages, their actions, the Checkout return and the
JSON API. The domain it calls lives one level up, in ``portal.billing``."""

from flask import Blueprint

bp = Blueprint("billing", __name__)

from portal.billing.views import (  # noqa: E402,F401
    actions,
    checkout_return,
    json_api,
    overage_api,
    pages,
    pay_now,
)
