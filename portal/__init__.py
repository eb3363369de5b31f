"""CONTINUUM Cloud billing portal: the Flask app factory.

The package has three faces over one core: the self-service portal (people), the enforcement
decorators (``portal.enforcement``, imported by the CONTINUUM API) and the Stripe webhook
blueprint (``portal.webhooks``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from portal.config import INSTANCE_DIR, ROOT, Config, ConfigError

if TYPE_CHECKING:  # Flask is imported by create_app: ``import portal.enforcement`` needs none of it
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal app. ``config`` overrides settings read from the environment."""
    from dotenv import load_dotenv
    from flask import Flask

    load_dotenv(ROOT / ".env", override=False)
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(Config().as_dict())
    if config:
        app.config.from_mapping(config)
    _check_config(app)
    INSTANCE_DIR.mkdir(exist_ok=True)
    logging.getLogger("continuum").setLevel(logging.INFO)

    from portal import installation, models  # noqa: F401  (the tables)
    from portal.auth import accounts  # noqa: F401  (the user loader)
    from portal.extensions import csrf, db, limiter, login_manager, migrate
    from portal.web import hostile_input, layout, security
    from portal.web.errors import register_error_handlers
    from portal.web.formatting import register_filters

    hostile_input.init_app(app)  # before the blueprints: their routes bind its converter
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    register_error_handlers(app)
    register_filters(app)
    security.init_app(app)
    from portal.auth import sessions

    sessions.init_app(app)
    layout.init_app(app)
    _register_blueprints(app)
    from portal import teams

    teams.init_app(app)
    from portal.enforcement import init_enforcement

    init_enforcement(app)
    from portal.billing.meter_reporter import init_reporter

    init_reporter(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from portal import metrics
    from portal.admin.cli import admin_cli, tenants_cli
    from portal.admin.views import bp as admin_bp
    from portal.auth.routes import bp as auth_bp
    from portal.billing.cli import stripe_cli
    from portal.billing.views import bp as billing_bp
    from portal.dashboard.routes import bp as dashboard_bp
    from portal.keys.routes import bp as keys_bp
    from portal.webhooks.routes import webhooks_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(billing_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(keys_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(admin_bp)
    metrics.init_app(app)
    app.cli.add_command(stripe_cli)
    app.cli.add_command(admin_cli)
    app.cli.add_command(tenants_cli)


def _check_config(app: Flask) -> None:
    if not app.config["SECRET_KEY"]:
        if app.config.get("TESTING"):
            app.config["SECRET_KEY"] = secrets.token_hex(32)
        else:
            raise ConfigError(
                "SECRET_KEY is not set. Put it in the environment or in .env "
                "(`make env` writes a development one)."
            )
