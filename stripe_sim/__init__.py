"""Stripe simulator: an offline, stateful stand-in for Stripe's API, Checkout and webhooks.

A development and test tool, run as its own process: ``python -m stripe_sim``.
"""
