"""Billing: the domain of subscriptions, customers, Checkout, plan changes, payment methods,
invoices, dunning and enterprise requests, plus the ``flask stripe`` commands (``cli``).

The blueprint lives in ``portal.billing.views``; importing a domain module never loads a view.
"""
