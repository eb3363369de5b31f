"""Auth views: thin wrappers over ``portal.auth.accounts``, throttled per IP and per address."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from portal.auth import accounts, sessions
from portal.auth.accounts import RESET_TOKEN_MAX_AGE, AccountError
from portal.auth.forms import LoginForm, ResetPasswordForm, ResetRequestForm, SignupForm
from portal.auth.throttle_keys import throttle_address
from portal.extensions import limiter, login_manager
from portal.plans import PLANS, PricingTier

bp = Blueprint("auth", __name__)

# Per IP: generous enough for an office behind one address, tight enough to slow a script.
# Per address: what a person mistyping needs, and no more.
LOGIN_LIMITS = ("30/minute", "5/minute")
SIGNUP_LIMITS = ("20/hour", "5/hour")
RESET_LIMITS = ("10/hour", "3/hour")
RESET_CONFIRM_LIMIT = "10/minute"


@bp.record_once
def _configure_login_manager(state: object) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see that page."
    login_manager.login_message_category = "info"


def _address_key() -> str:
    """The rate-limit key for "this account": the submitted address in its canonical form, so
    respelling it (fullwidth, other case, IDNA) does not buy more attempts."""
    return "address:" + throttle_address(request.form.get("email"))


def _throttled(per_ip: str, per_address: str):  # type: ignore[no-untyped-def]
    """Limit POSTs to a view per client IP and per submitted email address."""

    def decorate(view):  # type: ignore[no-untyped-def]
        view = limiter.limit(per_address, key_func=_address_key, methods=["POST"])(view)
        return limiter.limit(per_ip, methods=["POST"])(view)

    return decorate


def _render(template: str, form: FlaskForm, **context: object) -> tuple[str, int]:
    """Render a form page: 400 when a submission was refused, so bad input is never a 200."""
    status = 400 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template(template, form=form, **context), status


def _safe_next(target: str | None) -> str:
    """Follow ``next`` only to a path on this site, never to another host."""
    if target:
        parts = urlsplit(target)
        plain = target.isprintable() and "\\" not in target  # no CR/LF for a Location header
        if plain and not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("dashboard.index")


@bp.route("/signup", methods=["GET", "POST"])
@_throttled(*SIGNUP_LIMITS)
def signup() -> BaseResponse | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = accounts.sign_up(form.email.data or "", form.password.data or "")
        except AccountError as error:
            form.form_errors.append(error.message)
        else:
            login_user(user)
            flash("Welcome to CONTINUUM Cloud. You are on the Free plan.", "success")
            return redirect(url_for("dashboard.index"))
    return _render("auth/signup.html", form, free_limits=PLANS[PricingTier.FREE].limits)


@bp.route("/login", methods=["GET", "POST"])
@_throttled(*LOGIN_LIMITS)
def login() -> BaseResponse | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        form.form_errors.append("That email and password do not match an account.")
    return _render("auth/login.html", form)


@bp.post("/logout")
def logout() -> BaseResponse:
    if current_user.is_authenticated:
        sessions.end_everywhere(current_user)
    logout_user()
    flash("You are signed out, here and on every other device.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/reset-password", methods=["GET", "POST"])
@_throttled(*RESET_LIMITS)
def reset_request() -> BaseResponse | tuple[str, int]:
    form = ResetRequestForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data or "")
        flash(
            "If an account uses that address, we have emailed it a link to choose a new "
            f"password. The link works once, within {RESET_TOKEN_MAX_AGE // 60} minutes.",
            "info",
        )
        return redirect(url_for("auth.login"))
    return _render("auth/reset_request.html", form)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@limiter.limit(RESET_CONFIRM_LIMIT, methods=["POST"])
def reset_password(token: str) -> BaseResponse | tuple[str, int]:
    try:
        user = accounts.user_for_reset_token(token)
    except AccountError as error:
        request_form = ResetRequestForm(formdata=None)
        request_form.form_errors.append(error.message)
        return render_template("auth/reset_request.html", form=request_form), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data or "")
        except AccountError as error:
            form.form_errors.append(error.message)
        else:
            logout_user()
            flash("Your password is changed. Sign in with the new one.", "success")
            return redirect(url_for("auth.login"))
    # The token is in this page's URL; the site-wide strict-origin-when-cross-origin policy
    # (portal.web.security) keeps it out of Referer headers sent to other sites.
    return _render("auth/reset_password.html", form, account_email=user.email)
