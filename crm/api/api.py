"""The API object: who may call it, how it fails, and its routers. Mounted at /api/v1/."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from django.views.generic import RedirectView
from ninja import NinjaAPI

from crm.api import communications, contacts, errors, imports, lps, pipeline, reports, tasks
from crm.api.auth import PerTokenThrottle, SessionAuth, TokenAuth, signed_in_or_token

# The docs page and the schema: a signed-in session (or a token); see auth.signed_in_or_token.
DOCS_URL_NAMES = {"openapi-json", "openapi-view", "api-root"}


class CRMNinjaAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """The schema, with the problem details every operation may answer (see crm.api.errors)."""
        return errors.document_problems(super().get_openapi_schema(*args, **kwargs))


api = CRMNinjaAPI(
    title="Venture CRM API",
    version="1",
    description=(
        "Acts as the user whose personal token (Settings → API tokens) is sent as "
        "`Authorization: Bearer <token>`, with that user's role; a signed-in browser session "
        "works too for same-origin calls (send the CSRF token). Errors are RFC 9457 problem details."
    ),
    urls_namespace="api",
    auth=[TokenAuth(), SessionAuth()],
    throttle=[PerTokenThrottle()],
    docs_decorator=signed_in_or_token,
)
errors.install(api)
api.add_router("", contacts.router)
api.add_router("", pipeline.router)
api.add_router("", communications.router)
api.add_router("", lps.router)
api.add_router("", reports.router)
api.add_router("", tasks.router)
api.add_router("", imports.router)


def urls() -> tuple[list[Any], str, str]:
    """The API's URL patterns. Its endpoints answer 401 themselves (JSON, not a sign-in
    redirect), so Django's LoginRequiredMiddleware lets them through to the API's own auth."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if pattern.name not in DOCS_URL_NAMES:
            login_not_required(pattern.callback)
    # ninja's root answers 404 (it is only there to be reversed); a person landing on it wants the docs.
    root = path("", RedirectView.as_view(pattern_name=f"{namespace}:openapi-view"), name="api-root")
    return [root if pattern.name == "api-root" else pattern for pattern in patterns], app_name, namespace
