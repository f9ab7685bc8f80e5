"""The JSON API at /api/v1/ (django-ninja): tokens, problem details, and one router per resource.

Every endpoint acts as a user — the owner of a personal token sent as ``Authorization:
Bearer``, or the signed-in session (with its CSRF token) — and goes through the same
scoping, forms and services as the pages, so the API can do no more than that user could.
"""
