"""The web shell shared by every page: security headers, layout, formatting filters, error pages."""
