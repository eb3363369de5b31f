"""Outgoing email over SMTP (smtplib): password resets, dunning notices, sales inquiries."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

log = logging.getLogger("continuum.mail")


class MailError(RuntimeError):
    """The SMTP server refused or could not be reached."""


def send_email(to: str, subject: str, body: str, *, reply_to: str | None = None) -> None:
    """Send a plain-text email through the configured SMTP server, or raise ``MailError``."""
    config = current_app.config
    if not config["MAIL_ENABLED"]:
        log.info("mail disabled; not sending %r to %s", subject, to)
        return
    message = EmailMessage()
    message["From"] = config["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    if reply_to:
        message["Reply-To"] = reply_to
    message.set_content(body)
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=10) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls()
            if config["SMTP_USER"]:
                smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("could not send %r to %s: %s", subject, to, error)
        raise MailError(f"could not send email: {error}") from error
    log.info("sent %r to %s", subject, to)
