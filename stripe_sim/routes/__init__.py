"""Stripe API endpoints, one module per resource family (registered on ``api.bp``)."""
