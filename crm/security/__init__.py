"""Sign-in throttling (django-axes) and two-factor authentication (django-otp)."""
