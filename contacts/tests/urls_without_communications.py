"""The contacts app's URLs without the communications ones: the panel before issue 5 landed.

Used with ``pytest.mark.urls`` to prove the panel resolves the log-a-touch link softly.
"""

from django.urls import URLPattern

from contacts import urls

urlpatterns = [
    pattern
    for pattern in urls.urlpatterns
    if not (isinstance(pattern, URLPattern) and (pattern.name or "").startswith("communication"))
]
