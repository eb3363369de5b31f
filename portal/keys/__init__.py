"""API keys: the key life cycle (``api_keys``) and the keys page (``routes``)."""
