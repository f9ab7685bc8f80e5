"""Sign-in throttling (django-axes)."""
