"""Contacts: the list with tabs, filters and bulk actions; the panel/page; forms; merge."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from contacts import grids, services, strength
from contacts.filters import ContactFilter
from contacts.forms import ContactBulkForm, ContactForm, ContactMergeForm
from contacts.models import (
    Communication,
    Contact,
    ContactStatus,
    ContactType,
    Organization,
    format_full_name,
    mark_stale,
)
from crm.lib import record_sections
from crm.lib.export import FORMATS, export_response
from crm.lib.grid import GRID_PARAMS
from crm.lib.htmx import close_dialog, empty_fragment, is_fragment_request, render_page_or_fragment, saved
from crm.lib.listing import export_format, paginate
from crm.models import CustomField, CustomFieldEntity
from crm.roles import manager_required
from lps.models import Commitment, LPProfile

LIST_TEMPLATE = "contacts/contact_list.html"
DETAIL_TEMPLATE = "contacts/contact_detail.html"
FORM_TEMPLATE = "contacts/contact_form.html"
MERGE_TEMPLATE = "contacts/contact_merge.html"
CHANGED_EVENT = "contactsChanged"
TIMELINE_LIMIT = 50
TABS = [
    ("", "All", "all"),
    (ContactType.INVESTOR, "Investors", ContactType.INVESTOR),
    (ContactType.PROSPECT, "Prospects", ContactType.PROSPECT),
    (ContactType.ADVISOR, "Advisors", ContactType.ADVISOR),
]
# Query parameters that belong to the list's view, not to which contacts match.
NOT_FILTERS = ("page", "o", *GRID_PARAMS)


def _filtered(request: HttpRequest, data: QueryDict | None = None, queryset=None) -> ContactFilter:
    data = request.GET if data is None else data
    queryset = Contact.objects.visible_to(request.user).for_list() if queryset is None else queryset
    return ContactFilter(data or None, queryset=queryset, request=request)


# --- List and export -------------------------------------------------------------------


@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    grid = grids.CONTACTS.state(request)
    # Only what the shown columns need: a hidden Tags column costs no prefetch query.
    filterset = _filtered(request, queryset=grid.prepare(Contact.objects.visible_to(request.user).with_activity()))
    counts = filterset.without_type().tab_counts()
    current = filterset.form.cleaned_data.get("type", "") if filterset.is_bound and filterset.form.is_valid() else ""
    tabs = [
        {"value": value, "label": label, "count": counts[key], "key": key, "active": value == (current or "")}
        for value, label, key in TABS
    ]
    query = request.GET.copy()
    for name in NOT_FILTERS:
        query.pop(name, None)
    page_obj = paginate(request, filterset.qs, grid.page_size)
    mark_stale(page_obj.object_list)
    context = {
        "filter": filterset,
        "grid": grid,
        "saved_views": grids.CONTACTS.views_for(request.user),
        "page_obj": page_obj,
        "tabs": tabs,
        "bulk_form": ContactBulkForm(user=request.user),
        "filter_query": query.urlencode(),
        "fragment": is_fragment_request(request),
        "today": timezone.localdate(),
        "strength_formula": strength.FORMULA,
    }
    return render_page_or_fragment(request, LIST_TEMPLATE, "contact-table", context)


EXPORT_HEADERS = [
    "Name",
    "First name",
    "Last name",
    "Email",
    "Phone",
    "Mobile",
    "Title",
    "Organization",
    "Type",
    "Status",
    "Source",
    "Tags",
    "Owner",
    "Last touch",
    "Strength",
    "Next action date",
    "Next action",
    "Location",
    "LinkedIn",
    "Do not email",
    "Created",
]


EXPORT_VALUES = [
    "pk",
    "name_prefix",
    "first_name",
    "last_name",
    "name_suffix",
    "email",
    "phone",
    "mobile",
    "title",
    "organization__name",
    "contact_type",
    "status",
    "source",
    "owner__full_name",
    "owner__username",
    "last_touch",
    "strength",
    "next_action_date",
    "next_action",
    "location",
    "linkedin_url",
    "do_not_email",
    "created_at",
    "custom_fields",
]


def _export(queryset, fmt: str, filename: str = "contacts") -> HttpResponse:
    """Stream the rows of ``queryset`` (a filtered ``for_list()`` queryset).

    Plain values and one query for all the tags, not model instances: tens of thousands
    of rows export in seconds rather than minutes.
    """
    definitions = list(CustomField.objects.for_entity(CustomFieldEntity.CONTACT))
    types, statuses = dict(ContactType.choices), dict(ContactStatus.choices)

    def rows():
        tags: dict[int, list[str]] = defaultdict(list)
        through = Contact.tags.through.objects.filter(contact_id__in=queryset.order_by().values("pk"))
        for contact_id, name in through.order_by("tag__name").values_list("contact_id", "tag__name"):
            tags[contact_id].append(name)
        for v in queryset.prefetch_related(None).values(*EXPORT_VALUES).iterator(chunk_size=2000):
            custom = v["custom_fields"] or {}
            yield [
                format_full_name(v["name_prefix"], v["first_name"], v["last_name"], v["name_suffix"]),
                v["first_name"],
                v["last_name"],
                v["email"],
                v["phone"],
                v["mobile"],
                v["title"],
                v["organization__name"] or "",
                types.get(v["contact_type"], v["contact_type"]),
                statuses.get(v["status"], v["status"]),
                v["source"],
                ", ".join(tags.get(v["pk"], ())),
                v["owner__full_name"] or v["owner__username"] or "",
                v["last_touch"],
                v["strength"] or 0,
                v["next_action_date"],
                v["next_action"] or "",
                v["location"],
                v["linkedin_url"],
                v["do_not_email"],
                v["created_at"],
                *[custom.get(d.key) for d in definitions],
            ]

    headers = EXPORT_HEADERS + [d.name for d in definitions]
    return export_response(fmt, filename, headers, rows())


@require_GET
def contact_export(request: HttpRequest) -> HttpResponse:
    fmt = export_format(request)
    return _export(_filtered(request).qs, fmt)


# --- Panel and page --------------------------------------------------------------------


def _timeline(request: HttpRequest, contact: Contact) -> dict:
    # Attended communications through a subquery, not a join: no DISTINCT, and SQLite
    # answers the OR from two indexes instead of scanning every communication.
    attended = Communication.contact_attendees.through.objects.filter(contact_id=contact.pk).values("communication_id")
    communications = (
        Communication.objects.visible_to(request.user)
        .filter(Q(contact=contact) | Q(pk__in=attended))
        .select_related("contact", "created_by", "opportunity")
    )
    items = list(communications[: TIMELINE_LIMIT + 1])
    return {
        "contact": contact,
        "communications": items[:TIMELINE_LIMIT],
        "more_communications": len(items) > TIMELINE_LIMIT,
    }


def _detail_context(request: HttpRequest, contact: Contact) -> dict:
    user = request.user
    lp_profile = LPProfile.objects.visible_to(user).filter(contact=contact).first()
    return {
        **_timeline(request, contact),
        "custom_fields": contact.custom_field_display(),
        # Through the contact, so contacts reads the pipeline without importing it (the
        # related manager is the pipeline's own queryset, scoping included).
        "opportunities": contact.opportunities.visible_to(user)
        .select_related("fund", "stage", "owner")
        .order_by("stage__outcome", "stage__order", "fund__name"),
        "lp_profile": lp_profile,
        "commitments": Commitment.objects.visible_to(user)
        .filter(lp__contact=contact)
        .select_related("fund")
        .order_by("-fund__vintage_year", "fund__name")
        if lp_profile
        else [],
        "duplicates": Contact.objects.visible_to(user).likely_duplicates(
            first_name=contact.first_name,
            last_name=contact.last_name,
            email=contact.email,
            organization=contact.organization,
            phones=(contact.phone, contact.mobile),
            exclude_pk=contact.pk,
        ),
        "history": services.contact_history(contact),
        "record_sections": record_sections.sections_for(record_sections.CONTACT, contact, user),
    }


def _get_contact(request: HttpRequest, pk: int) -> Contact:
    return Contact.objects.for_list().select_related("created_by").get_for_user(request.user, pk)


def _panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The contact's panel, read fresh from the database with its annotations."""
    contact = _get_contact(request, pk)
    return render_page_or_fragment(request, DETAIL_TEMPLATE, "contact-panel", _detail_context(request, contact))


@require_GET
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _panel(request, pk)


@require_GET
def contact_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """The panel's timeline alone: it reloads itself when a communication is logged."""
    contact = _get_contact(request, pk)
    if not is_fragment_request(request):
        return redirect("contact_detail", pk=pk)
    context = _timeline(request, contact)
    response = render_page_or_fragment(request, DETAIL_TEMPLATE, "contact-timeline", context)
    # Last touch and next action at the top of the panel change with the timeline.
    facts = render_to_string(f"{DETAIL_TEMPLATE}#contact-facts", {**context, "oob": True}, request=request)
    response.content += facts.encode()
    return response


# --- Add, edit, delete -----------------------------------------------------------------


def _form_response(request: HttpRequest, form: ContactForm, contact: Contact | None, **extra) -> HttpResponse:
    context = {"form": form, "contact": contact, **extra}
    return render_page_or_fragment(request, FORM_TEMPLATE, "contact-form", context)


def _saved(request: HttpRequest, form: ContactForm, created: bool) -> HttpResponse:
    contact = form.save(commit=False)
    if created:
        contact.created_by = request.user
    contact.save()
    form.save_m2m()
    message = f"{'Added' if created else 'Saved'} {contact.full_name}."
    return saved(request, message, redirect_to=contact, panel=lambda: _panel(request, contact.pk), event=CHANGED_EVENT)


@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    initial = {"owner": request.user.pk}
    organization_id = request.GET.get("organization", "")
    if organization_id.isdigit():
        organization = Organization.objects.visible_to(request.user).filter(pk=organization_id).first()
        if organization is not None:
            initial["organization_name"] = organization.name
    form = ContactForm(
        request.POST or None, initial=initial, instance=Contact(created_by=request.user), user=request.user
    )
    if request.method == "POST" and form.is_valid():
        duplicates = (
            []
            if form.cleaned_data.get("save_anyway")
            else form.likely_duplicates(Contact.objects.visible_to(request.user))
        )
        if not duplicates:
            return _saved(request, form, created=True)
        return _form_response(request, form, None, duplicates=duplicates)
    return _form_response(request, form, None)


@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = Contact.objects.select_related("organization").get_for_user(request.user, pk, write=True)
    form = ContactForm(request.POST or None, instance=contact, user=request.user)
    if request.method == "POST" and form.is_valid():
        return _saved(request, form, created=False)
    return _form_response(request, form, contact)


@require_http_methods(["GET", "POST"])
@manager_required
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = Contact.objects.select_related("organization").get_for_user(request.user, pk, write=True)
    opportunities = contact.opportunities.count()
    if request.method == "POST" and not opportunities:
        name = contact.full_name
        contact.delete()
        messages.success(request, f"Deleted {name}. Their history stays in the audit log.")
        if is_fragment_request(request):
            return close_dialog(empty_fragment(request), CHANGED_EVENT)
        return redirect("contact_list")
    context = {
        "contact": contact,
        "opportunity_count": opportunities,
        "communication_count": contact.communications.count(),
        "lp_profile": LPProfile.objects.visible_to(request.user).filter(contact=contact).first(),
        "commitment_count": Commitment.objects.visible_to(request.user).filter(lp__contact=contact).count(),
    }
    return render_page_or_fragment(request, "contacts/contact_delete.html", "contact-delete", context)


@require_GET
def contact_organization_options(request: HttpRequest) -> HttpResponse:
    """Suggestions for the form's organization box: names starting with the text first."""
    text = request.GET.get("organization_name", "").strip()[:200]
    organizations = Organization.objects.visible_to(request.user)
    names: list[str] = []
    if text:
        names = list(organizations.filter(name__istartswith=text).order_by("name").values_list("name", flat=True)[:15])
        if len(names) < 15:
            names += list(
                organizations.filter(name__icontains=text)
                .exclude(name__in=names)
                .order_by("name")
                .values_list("name", flat=True)[: 15 - len(names)]
            )
    return render_page_or_fragment(
        request, FORM_TEMPLATE, "organization-options", {"organization_names": names}, fragment=True
    )


# --- Bulk actions ----------------------------------------------------------------------


def _selection(request: HttpRequest, form: ContactBulkForm):
    """The contacts a bulk action applies to, always inside the user's scope.

    "All matching" re-runs the list's FilterSet on the posted query string, so the action
    reaches exactly the rows the list showed, on every page.
    """
    if form.cleaned_data.get("select_all"):
        data = QueryDict(form.cleaned_data.get("query", ""), mutable=True)
        for name in NOT_FILTERS:
            data.pop(name, None)
        return _filtered(request, data).qs
    return Contact.objects.visible_to(request.user).for_list().filter(pk__in=form.cleaned_data["ids"])


def _selection_for_update(request: HttpRequest, form: ContactBulkForm):
    """The selection without the list's annotations: bulk edits need the rows, not the columns."""
    if form.cleaned_data.get("select_all"):
        data = QueryDict(form.cleaned_data.get("query", ""), mutable=True)
        for name in NOT_FILTERS:
            data.pop(name, None)
        queryset = Contact.objects.visible_to(request.user)
        return ContactFilter(data or None, queryset=queryset, request=request).qs
    return Contact.objects.visible_to(request.user).filter(pk__in=form.cleaned_data["ids"])


def _list_url(form: ContactBulkForm) -> str:
    """Back to the list as it was filtered; the posted query is re-encoded, never echoed."""
    query = QueryDict(str(form.data.get("query", ""))[:4000]).urlencode() if form.data else ""
    return reverse("contact_list") + (f"?{query}" if query else "")


@require_POST
def contact_bulk(request: HttpRequest) -> HttpResponse:
    form = ContactBulkForm(request.POST, user=request.user)
    if not form.is_valid():
        for error in [
            *form.non_field_errors(),
            *[e for name, errs in form.errors.items() if name != "__all__" for e in errs],
        ]:
            messages.error(request, error)
        if is_fragment_request(request):
            return empty_fragment(request)
        return redirect(_list_url(form))
    action = form.cleaned_data["action"]
    user = request.user
    if action.startswith("export_"):
        if not user.can_bulk_export:
            raise PermissionDenied("Exports need the manager role.")
        fmt = action.removeprefix("export_")
        return _export(_selection(request, form), fmt if fmt in FORMATS else "csv", "contacts-selection")
    if action == "merge":
        if not user.can_delete_records:
            raise PermissionDenied("Merging needs the manager role.")
        a, b = form.cleaned_data["ids"]
        return redirect(f"{reverse('contact_merge')}?a={a}&b={b}")
    contacts = _selection_for_update(request, form)
    if action == "add_tag":
        tag = form.cleaned_data["tag"]
        changed = services.add_tag(contacts, tag, user)
        message = f"Tagged {changed} contact{'s' if changed != 1 else ''} “{tag.name}”."
    elif action == "remove_tag":
        tag = form.cleaned_data["tag"]
        changed = services.remove_tag(contacts, tag, user)
        message = f"Removed “{tag.name}” from {changed} contact{'s' if changed != 1 else ''}."
    elif action == "owner":
        owner = form.owner_user()
        changed = services.assign_owner(contacts, owner, user)
        who = owner.display_name if owner else "no owner"
        message = f"Gave {changed} contact{'s' if changed != 1 else ''} {who}."
    else:
        status = form.cleaned_data["status"]
        changed = services.set_status(contacts, status, user)
        message = (
            f"Set {changed} contact{'s' if changed != 1 else ''} to {dict(form.fields['status'].choices)[status]}."
        )
    if not changed:
        message += " Nothing else needed changing."
    messages.success(request, message)
    if is_fragment_request(request):
        return trigger_client_event(empty_fragment(request), CHANGED_EVENT)
    return redirect(_list_url(form))


# --- Merge -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@manager_required
def contact_merge(request: HttpRequest) -> HttpResponse:
    params = request.POST if request.method == "POST" else request.GET
    ids = [value for value in (params.get("a", ""), params.get("b", "")) if value.isdigit()]
    contacts = {
        c.pk: c
        for c in Contact.objects.visible_to(request.user).select_related("organization", "owner").filter(pk__in=ids)
    }
    if len(set(ids)) != 2:
        messages.info(request, "Select two contacts in the list, then choose Merge.")
        return redirect("contact_list")
    if len(contacts) != 2:
        raise Http404("One of these contacts does not exist.")
    a, b = contacts[int(ids[0])], contacts[int(ids[1])]
    form = ContactMergeForm(request.POST or None, a=a, b=b)
    error = ""
    if request.method == "POST" and form.is_valid():
        survivor, other = form.survivor_and_other()
        picks, custom_picks = form.picks()
        try:
            result = services.merge_contacts(survivor, other, picks=picks, custom_picks=custom_picks, user=request.user)
        except services.MergeRefused as exc:
            error = str(exc)
        else:
            survivor = result.survivor
            return saved(
                request,
                result.summary(),
                redirect_to=survivor,
                panel=lambda: _panel(request, survivor.pk),
                event=CHANGED_EVENT,
            )
    context = {
        "form": form,
        "a": a,
        "b": b,
        "a_summary": services.linked_summary(a),
        "b_summary": services.linked_summary(b),
        "error": error,
        "clashes": services.commitment_clashes(a, b),
    }
    return render_page_or_fragment(request, MERGE_TEMPLATE, "contact-merge", context)
