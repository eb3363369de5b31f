"""The key a sign-in or reset throttle counts under: the account an address names, not how it
was spelled.

Two spellings of one address must share one bucket, or every respelling buys a fresh allowance
of guesses (or of reset emails to a victim). ``throttle_address`` folds the spellings a mail
system treats as one:

- Unicode compatibility forms (NFKC): the fullwidth ``ｏｗｎｅｒ`` is ``owner``;
- case (casefold, which also folds ``ß`` to ``ss``);
- the domain's internationalised spellings (IDNA): ``exämple.com`` is ``xn--exmple-cua.com``.
"""

from __future__ import annotations

import unicodedata

import idna

#: Longer input is cut before folding: no address is longer, and folding costs time.
RAW_MAX_LENGTH = 1024
KEY_MAX_LENGTH = 254


def throttle_address(raw: str | None) -> str:
    """The canonical form of ``raw`` for counting attempts against one account."""
    text = unicodedata.normalize("NFKC", (raw or "")[:RAW_MAX_LENGTH]).strip().casefold()
    local, at, domain = text.rpartition("@")
    if not at:
        return text[:KEY_MAX_LENGTH]
    domain = domain.rstrip(".")
    try:
        domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        pass  # not a valid domain: it names no account, and counts under its own spelling
    return f"{local}@{domain}"[:KEY_MAX_LENGTH]
