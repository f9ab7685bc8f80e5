from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods

from contacts import grids, strength
from contacts.filters import OrganizationFilter
from contacts.forms import OrganizationForm
from contacts.models import Organization
from crm.lib.export import export_response
from crm.lib.history import history_entries
from crm.lib.htmx import close_dialog, empty_fragment, is_fragment_request, render_page_or_fragment, saved
from crm.lib.listing import export_format, paginate
from crm.roles import manager_required
from lps.models import Commitment

LIST_TEMPLATE = "contacts/organization_list.html"
DETAIL_TEMPLATE = "contacts/organization_detail.html"
FORM_TEMPLATE = "contacts/organization_form.html"
CHANGED_EVENT = "organizationsChanged"


def _filtered(request: HttpRequest, queryset=None) -> OrganizationFilter:
    if queryset is None:
        queryset = Organization.objects.visible_to(request.user).with_stats().prefetch_related("tags")
    return OrganizationFilter(request.GET or None, queryset=queryset, request=request)


@require_GET
def organization_list(request: HttpRequest) -> HttpResponse:
    grid = grids.ORGANIZATIONS.state(request)
    filterset = _filtered(request, grid.prepare(Organization.objects.visible_to(request.user).with_stats()))
    context = {
        "filter": filterset,
        "page_obj": paginate(request, filterset.qs, grid.page_size),
        "grid": grid,
        "saved_views": grids.ORGANIZATIONS.views_for(request.user),
    }
    return render_page_or_fragment(request, LIST_TEMPLATE, "organization-table", context)


@require_GET
def organization_export(request: HttpRequest) -> HttpResponse:
    fmt = export_format(request)
    rows = (
        [
            org.name,
            org.get_type_display(),
            org.industry,
            org.website,
            org.phone,
            org.email,
            org.city,
            org.state,
            org.country,
            ", ".join(tag.name for tag in org.tags.all()),
            org.contact_count,
            org.total_committed,
            org.created_at,
        ]
        for org in _filtered(request).qs
    )
    headers = [
        "Name",
        "Type",
        "Industry",
        "Website",
        "Phone",
        "Email",
        "City",
        "State",
        "Country",
        "Tags",
        "Contacts",
        "Committed",
        "Created",
    ]
    return export_response(fmt, "organizations", headers, rows)


def _detail_context(request: HttpRequest, organization: Organization) -> dict:
    user = request.user
    return {
        "organization": organization,
        "custom_fields": organization.custom_field_display(),
        "contacts": organization.contacts.visible_to(user).select_related("owner").order_by("last_name"),
        # Through the organization, so contacts reads the pipeline without importing it (the
        # related manager is the pipeline's own queryset, scoping included).
        "opportunities": organization.opportunities.visible_to(user)
        .select_related("fund", "stage", "contact", "owner")
        .order_by("fund__name", "stage__order"),
        "commitments": Commitment.objects.visible_to(user)
        .filter(lp__contact__organization=organization)
        .select_related("fund", "lp__contact")
        .order_by("fund__name"),
        "history": history_entries(organization),
        "who_knows_best": strength.who_knows_best(organization, user),
        "strength_formula": strength.FORMULA,
    }


def _panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The organization's panel, read fresh from the database with its figures."""
    organization = Organization.objects.with_stats().prefetch_related("tags").get_for_user(request.user, pk)
    return render_page_or_fragment(
        request, DETAIL_TEMPLATE, "organization-panel", _detail_context(request, organization)
    )


@require_GET
def organization_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _panel(request, pk)


def _save_and_respond(request: HttpRequest, form: OrganizationForm, created: bool) -> HttpResponse:
    organization = form.save(commit=False)
    if created:
        organization.created_by = request.user
    organization.save()
    form.save_m2m()
    return saved(
        request,
        f"{'Added' if created else 'Saved'} {organization.name}.",
        redirect_to=organization,
        panel=lambda: _panel(request, organization.pk),
        event=CHANGED_EVENT,
    )


@require_http_methods(["GET", "POST"])
def organization_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return _save_and_respond(request, form, created=True)
    return render_page_or_fragment(request, FORM_TEMPLATE, "organization-form", {"form": form})


@require_http_methods(["GET", "POST"])
def organization_edit(request: HttpRequest, pk: int) -> HttpResponse:
    organization = Organization.objects.get_for_user(request.user, pk, write=True)
    form = OrganizationForm(request.POST or None, instance=organization)
    if request.method == "POST" and form.is_valid():
        return _save_and_respond(request, form, created=False)
    return render_page_or_fragment(
        request, FORM_TEMPLATE, "organization-form", {"form": form, "organization": organization}
    )


@require_http_methods(["GET", "POST"])
@manager_required
def organization_delete(request: HttpRequest, pk: int) -> HttpResponse:
    organization = Organization.objects.with_stats().get_for_user(request.user, pk, write=True)
    if request.method == "POST":
        name = organization.name
        organization.delete()
        messages.success(request, f"Deleted {name}. Its contacts were kept, without an organization.")
        if is_fragment_request(request):
            return close_dialog(empty_fragment(request), CHANGED_EVENT)
        return redirect("organization_list")
    return render_page_or_fragment(
        request, "contacts/organization_delete.html", "organization-delete", {"organization": organization}
    )
