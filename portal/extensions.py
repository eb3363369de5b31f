"""Flask extensions, created once here and bound to an app in ``create_app``.

``db`` is Flask-SQLAlchemy over ``portal.db.Base``: the web side's request-scoped session.
"""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from portal.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


class PortalLimiter(Limiter):
    """Flask-Limiter, plus ``skip_blueprint``: a blueprint whose requests skip the limiter's
    before-request check entirely. ``exempt`` (and a request filter) still resolve and evaluate
    the app's limits on each request before finding none apply, a tenth of the cost of a
    duplicate webhook delivery; a skipped blueprint must also be ``exempt``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.skipped_blueprints: set[str] = set()

    def skip_blueprint(self, name: str) -> None:
        self.skipped_blueprints.add(name)

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if in_middleware and request.blueprint in self.skipped_blueprints:
            return
        super()._check_request_limit(callable_name, in_middleware)


limiter = PortalLimiter(key_func=get_remote_address, default_limits=[])
