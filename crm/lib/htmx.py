"""The one place that decides fragment vs. full page, and the dialog's response helpers."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
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
        _append_messages(request, response)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _append_messages(request: HttpRequest, response: HttpResponse) -> None:
    """Flash messages ride along out-of-band, so a fragment response shows them at once
    instead of on the next full page load."""
    if not list(messages.get_messages(request)):
        return
    html = render_to_string("includes/messages.html", {"oob": True}, request=request)
    response.content = response.content + html.encode()


def empty_fragment(request: HttpRequest) -> HttpResponse:
    """An empty swap (e.g. after a delete) that still carries flash messages."""
    response = HttpResponse("")
    _append_messages(request, response)
    patch_vary_headers(response, ("HX-Request",))
    return response


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
