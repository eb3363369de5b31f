"""Counter stores: in-process memory (the embedded default) and Redis (scale-out)."""
