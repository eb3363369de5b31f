"""The signed-in home page and the usage read side (``usage``)."""
