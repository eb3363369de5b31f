"""Accounts: sign-up, sign-in, sign-out, password reset (pages in ``routes``)."""
