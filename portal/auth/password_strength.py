"""Is a password guessable? Judged by zxcvbn, a maintained estimator that ships its own lists of
common and breached passwords, names and words, and sees through keyboard walks, sequences,
repeats, dates and l33t spellings (``P@ssw0rd1234``). The portal keeps no password list of its own.

A password is refused below ``MIN_SCORE`` on zxcvbn's 0–4 scale (3 means about 10^8 guesses,
out of reach of an online attacker and slow offline against argon2id). zxcvbn judges at most its
first ``ZXCVBN_MAX_LENGTH`` characters; a longer password is as strong as its first 72 at least.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

MIN_SCORE = 3
ZXCVBN_MAX_LENGTH = 72


def is_guessable(password: str, *, related: tuple[str, ...] = ()) -> bool:
    """Whether ``password`` falls to a guessing attack that knows common passwords and the
    account's own words (``related``: the email address and its local part)."""
    head = password[:ZXCVBN_MAX_LENGTH]
    inputs = [word for word in related if word]
    return int(zxcvbn(head, user_inputs=inputs)["score"]) < MIN_SCORE
