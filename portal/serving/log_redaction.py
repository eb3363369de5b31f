"""Access logs without secrets: a password-reset link carries its token in the path, and
anyone who reads the logs must not be able to use it.

Both servers log through here: the development server with ``RedactingRequestHandler``
(``portal.serving.dev``), gunicorn with ``RedactingGunicornLogger`` (``gunicorn_conf``). The
token is replaced wherever it shows up in a log line: the request line, the path, a Referer.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from gunicorn.glogging import Logger
from werkzeug.serving import WSGIRequestHandler

REDACTED = "[redacted]"
#: What every reset link's path holds, literally: text without it has no token to redact.
_MARKER = "/reset-password/"
#: The reset link's token: the path part after /reset-password/.
_SECRET_IN_PATH = re.compile(r"(/reset-password/)[^\s?#/\"']+")


def redact(text: str) -> str:
    """``text`` with every reset token replaced by ``[redacted]``.

    The pattern can only match where ``/reset-password/`` occurs, so text without it is
    returned as it is: a substring test costs a fraction of a regex substitution, and an
    access-log line has some 50 atoms (one per header and environ entry) to go through.
    """
    if _MARKER not in text:
        if "%" not in text:
            return text
        # The server routes a percent-encoded path as its decoded form
        # (``/reset%2Dpassword/<token>`` opens the reset page): such a line is logged decoded.
        decoded = unquote(text)
        if _MARKER not in decoded:
            return text
        text = decoded
    return _SECRET_IN_PATH.sub(rf"\1{REDACTED}", text)


class RedactingRequestHandler(WSGIRequestHandler):
    """The development server's request handler, logging the request line redacted."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Called once the answer is sent: nothing reads the path after this.
        self.path = redact(self.path)
        self.requestline = redact(self.requestline)
        super().log_request(code, size)


class RedactingGunicornLogger(Logger):
    """gunicorn's logger, with every access-log atom redacted."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        # Every atom, not only those the format names: a custom format or log config may read
        # any of them. ``redact`` returns an atom without the marker untouched, cheaply.
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
