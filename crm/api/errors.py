"""Every error the API answers is RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

PROBLEM_TYPE = "application/problem+json"


class Problem(Exception):
    """Raised by an endpoint to answer ``status`` with a problem body (and field errors)."""

    def __init__(self, status: int, detail: str = "", errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or {}


def problem(
    request: HttpRequest, status: int, detail: str = "", errors: dict | None = None, **extra: Any
) -> HttpResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JsonResponse(body, status=status, content_type=PROBLEM_TYPE)


def form_errors(form: forms.BaseForm) -> dict[str, list[str]]:
    """A Django form's errors keyed by field ("" for the form as a whole), as plain text."""
    return {("" if name == "__all__" else name): [str(e) for e in errs] for name, errs in form.errors.items()}


def invalid(form: forms.BaseForm) -> Problem:
    return Problem(422, "The request has invalid fields; nothing was saved.", form_errors(form))


def _location(error: dict) -> str:
    parts = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "payload")]
    return ".".join(parts) or ""


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(_location(error), []).append(str(error.get("msg", "Invalid value.")))
    return problem(request, 422, "The request has invalid fields; nothing was saved.", errors)


def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    response = problem(request, 401, "Send a valid API token as “Authorization: Bearer <token>”, or sign in.")
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = problem(request, 429, "Too many requests with this token; wait and try again.")
    if exc.wait:
        response["Retry-After"] = str(max(1, round(exc.wait)))
    return response


def install(api: NinjaAPI) -> None:
    api.add_exception_handler(Problem, lambda r, e: problem(r, e.status, e.detail, e.errors))
    api.add_exception_handler(ValidationError, _validation)
    api.add_exception_handler(AuthenticationError, _unauthenticated)
    api.add_exception_handler(Throttled, _throttled)
    api.add_exception_handler(HttpError, lambda r, e: problem(r, e.status_code, str(e)))
    api.add_exception_handler(Http404, lambda r, e: problem(r, 404, str(e) or "No such record."))
    api.add_exception_handler(PermissionDenied, lambda r, e: problem(r, 403, str(e) or "Your role may not do this."))
    api.add_exception_handler(
        RequestDataTooBig, lambda r, e: problem(r, 413, "The request body is larger than this server accepts.")
    )


# What any operation may answer besides its own success: documented once, for every operation.
PROBLEM_STATUSES = {
    "400": "The request could not be read.",
    "401": "No valid token or session.",
    "403": "Your role may not do this (or the CSRF token is missing).",
    "404": "No such record.",
    "409": "Conflicts with existing data, e.g. a duplicate email.",
    "413": "The body is too large.",
    "422": "Invalid fields; ``errors`` names each with its messages.",
    "429": "Too many requests with this token.",
}
PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
}


def document_problems(schema: Any) -> Any:
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in PROBLEM_STATUSES.items():
                responses.setdefault(status, {"description": description, "content": content})
    return schema
