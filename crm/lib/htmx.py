"""The one place that decides fragment vs. full page, and the dialog's response helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import trigger_client_event


def is_fragment_request(request: HttpRequest) -> bool:
    """An htmx request that wants a piece of a page: not boosted, not a history restore."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page_or_fragment(
    request: HttpRequest,
    template: str,
    partial: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    fragment: bool | None = None,
) -> HttpResponse:
    """Render ``template#partial`` for an htmx fragment request, the whole page otherwise.

    The partial is defined ``inline`` in the page template, so both share one markup.
    """
    fragment = is_fragment_request(request) if fragment is None else fragment
    name = f"{template}#{partial}" if fragment else template
    response = render(request, name, context, status=status)
    if fragment:
        with_messages(request, response)
    patch_vary_headers(response, ("HX-Request",))
    return response


def with_messages(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Flash messages ride along out-of-band, so a fragment response shows them at once
    instead of on the next full page load."""
    if list(messages.get_messages(request)):
        html = render_to_string("includes/messages.html", {"oob": True}, request=request)
        response.content = response.content + html.encode()
    return response


def empty_fragment(request: HttpRequest) -> HttpResponse:
    """An empty swap (e.g. after a delete) that still carries flash messages."""
    response = with_messages(request, HttpResponse(""))
    patch_vary_headers(response, ("HX-Request",))
    return response


def saved(
    request: HttpRequest, message: str, *, redirect_to: Any, panel: Callable[[], HttpResponse], event: str
) -> HttpResponse:
    """The answer to a form that saved a record: the flash message, then without htmx a
    redirect (``redirect_to``: a record or a URL), with htmx ``panel()`` — the record's
    panel, re-read from the database — and ``event`` so the lists showing it refresh."""
    messages.success(request, message)
    if not is_fragment_request(request):
        return redirect(redirect_to)
    return trigger_client_event(panel(), event)


def posted(request: HttpRequest) -> QueryDict | None:
    """The data to bind a form to: ``request.POST or None`` would leave an empty POST
    unbound, re-showing the form without its errors."""
    return request.POST if request.method == "POST" else None


def close_dialog(response: HttpResponse, *events: str) -> HttpResponse:
    """Close the dialog host and tell the page which lists should refresh themselves."""
    trigger_client_event(response, "closeDialog")
    for event in events:
        trigger_client_event(response, event)
    return response


def safe_next(request: HttpRequest, value: str | None = None) -> str | None:
    """``value`` (default: ``next`` from the form or query) when it is a URL of this site, else None."""
    target = value if value is not None else (request.POST.get("next") or request.GET.get("next"))
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None
