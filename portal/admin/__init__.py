"""The operator console for CONTINUUM staff: revenue and usage analytics, tenants, enterprise
contracts, enterprise requests and the audit log (``views``), and ``flask admin`` / ``flask
tenants`` (``cli``).

Importing this package loads nothing: the blueprint is ``portal.admin.views.bp``.
"""
