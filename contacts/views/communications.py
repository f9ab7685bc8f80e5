"""The communications log, the "log a communication" form, the contact picker and next actions."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from django.contrib import messages
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Substr
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from contacts.badge import with_badge
from contacts.filters import CommunicationFilter
from contacts.forms import CommunicationForm, RescheduleForm
from contacts.models import Communication, Contact, Organization
from contacts.pickers import (
    DOM_ID,
    EVENT_NAME,
    MAX_RESULTS,
    ContactPicker,
    OrganizationPicker,
    search_contacts,
    search_organizations,
)
from contacts.services import communications_for, open_actions_for
from crm.lib import next_actions
from crm.lib.export import export_response
from crm.lib.history import history_entries
from crm.lib.htmx import close_dialog, empty_fragment, is_fragment_request, render_page_or_fragment, safe_next
from crm.lib.listing import export_format, paginate
from crm.roles import manager_required
from pipeline.models import Opportunity

LIST_TEMPLATE = "contacts/communication_list.html"
DETAIL_TEMPLATE = "contacts/communication_detail.html"
FORM_TEMPLATE = "contacts/communication_form.html"
DELETE_TEMPLATE = "contacts/communication_delete.html"
ACTIONS_TEMPLATE = "contacts/actions.html"
ACTION_ITEM_TEMPLATE = "contacts/actions_item.html"
RESCHEDULE_TEMPLATE = "contacts/actions_reschedule.html"
# Timelines on contact, opportunity and LP panels, the list, the actions page and the
# dashboard all refresh themselves on this one event.
CHANGED_EVENT = "communicationsChanged"
# A next action marked done or reopened: lists showing action state refresh; the actions page
# does not, so the item stays in place with its Undo button.
ACTIONS_EVENT = "actionsChanged"
FIELD_NAME = re.compile(r"^[a-z][a-z_]{0,40}$")


# --- The log ----------------------------------------------------------------------------


def _filtered(request: HttpRequest) -> CommunicationFilter:
    # Rows show a preview of the notes: a long email thread is not read whole for it.
    queryset = (
        communications_for(request.user)
        .defer("body", "attachment_names")
        .annotate(body_preview=Substr("body", 1, 240))
        .order_by("-communication_date", "-pk")
    )
    return CommunicationFilter(request.GET or None, queryset=queryset, request=request)


@require_GET
def communication_list(request: HttpRequest) -> HttpResponse:
    filterset = _filtered(request)
    opportunity = None
    if filterset.is_bound and filterset.form.is_valid() and filterset.form.cleaned_data.get("opportunity"):
        opportunity = (
            Opportunity.objects.visible_to(request.user)
            .filter(pk=filterset.form.cleaned_data["opportunity"])
            .only("pk", "name")
            .first()
        )
    context = {
        "filter": filterset,
        "page_obj": paginate(request, filterset.qs),
        "filtered_opportunity": opportunity,
        "today": timezone.localdate(),
    }
    return render_page_or_fragment(request, LIST_TEMPLATE, "communication-table", context)


@require_GET
def communication_export(request: HttpRequest) -> HttpResponse:
    fmt = export_format(request)
    queryset = _filtered(request).qs.defer(None).prefetch_related("team_attendees", "contact_attendees")
    headers = [
        "Date",
        "Type",
        "Contact",
        "Organization",
        "Subject",
        "Notes",
        "Outcome",
        "Duration (minutes)",
        "Next action",
        "Next action due",
        "Next action done",
        "Done by",
        "Done at",
        "Opportunity",
        "Team members present",
        "Other contacts present",
        "Logged by",
    ]
    rows = (
        [
            item.communication_date,
            item.get_type_display(),
            item.contact.full_name,
            item.contact.organization.name if item.contact.organization else "",
            item.subject,
            item.body,
            item.outcome,
            item.duration_minutes,
            item.next_action,
            item.next_action_date,
            item.next_action_done if item.next_action else None,
            item.next_action_done_by.display_name if item.next_action_done_by else "",
            item.next_action_done_at,
            item.opportunity.name if item.opportunity else "",
            [user.display_name for user in item.team_attendees.all()],
            [contact.full_name for contact in item.contact_attendees.all()],
            item.created_by.display_name if item.created_by else "",
        ]
        for item in queryset
    )
    return export_response(fmt, "communications", headers, rows)


def _render_detail(request: HttpRequest, pk: int, *, fragment: bool | None = None) -> HttpResponse:
    communication = (
        communications_for(request.user)
        .select_related("parent")
        .prefetch_related("team_attendees", "contact_attendees__organization")
        .get_for_user(request.user, pk)
    )
    context = {"item": communication, "history": history_entries(communication), "today": timezone.localdate()}
    return render_page_or_fragment(request, DETAIL_TEMPLATE, "communication-panel", context, fragment=fragment)


@require_GET
def communication_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, pk)


def _fixed_records(request: HttpRequest) -> tuple[Contact | None, Opportunity | None]:
    """The contact and opportunity pinned by ``?contact=`` / ``?opportunity=`` (404 if not visible)."""

    def pick(model, param: str):
        raw = request.GET.get(param)
        if raw in (None, ""):
            return None
        queryset = model.objects.all()
        if model is Opportunity:
            queryset = queryset.select_related("contact", "fund", "stage")
        return queryset.get_for_user(request.user, raw)

    return pick(Contact, "contact"), pick(Opportunity, "opportunity")


def _form_context(request: HttpRequest, form: CommunicationForm, communication: Communication | None = None) -> dict:
    in_dialog = request.POST.get("_dialog") == "1" or (
        request.method == "GET" and getattr(request.htmx, "target", None) == "dialog-body"
    )
    return {
        "form": form,
        "communication": communication,
        "action_url": request.get_full_path(),
        "in_dialog": in_dialog,
        "next": safe_next(request) or "",
    }


def _saved_response(request: HttpRequest) -> HttpResponseBase:
    if not is_fragment_request(request):
        return redirect(safe_next(request) or "communication_list")
    if request.POST.get("_dialog") == "1":
        return with_badge(request, close_dialog(empty_fragment(request), CHANGED_EVENT))
    # Inline on a panel (e.g. the contact panel's "Log a touch" slot): the form folds away and
    # the panel's timeline refreshes on the event.
    return with_badge(request, trigger_client_event(empty_fragment(request), CHANGED_EVENT))


@require_http_methods(["GET", "POST"])
def communication_create(request: HttpRequest) -> HttpResponse:
    fixed_contact, fixed_opportunity = _fixed_records(request)
    form = CommunicationForm(
        request.POST or None, user=request.user, fixed_contact=fixed_contact, fixed_opportunity=fixed_opportunity
    )
    if request.method == "POST" and form.is_valid():
        communication = form.save()
        messages.success(request, f"Logged “{communication}” with {communication.contact}.")
        return _saved_response(request)
    return render_page_or_fragment(request, FORM_TEMPLATE, "communication-form", _form_context(request, form))


@require_http_methods(["GET", "POST"])
def communication_edit(request: HttpRequest, pk: int) -> HttpResponse:
    communication = communications_for(request.user).get_for_user(request.user, pk, write=True)
    form = CommunicationForm(request.POST or None, instance=communication, user=request.user)
    if request.method == "POST" and form.is_valid():
        communication = form.save()
        messages.success(request, f"Saved “{communication}”.")
        if not is_fragment_request(request):
            return redirect(safe_next(request) or reverse("communication_detail", args=[communication.pk]))
        if request.POST.get("_dialog") != "1":
            return with_badge(request, trigger_client_event(HttpResponse(""), CHANGED_EVENT))
        # Show the saved record in the dialog, read back from the database.
        response = _render_detail(request, communication.pk, fragment=True)
        return with_badge(request, trigger_client_event(response, CHANGED_EVENT))
    return render_page_or_fragment(
        request, FORM_TEMPLATE, "communication-form", _form_context(request, form, communication)
    )


@require_http_methods(["GET", "POST"])
@manager_required
def communication_delete(request: HttpRequest, pk: int) -> HttpResponse:
    communication = communications_for(request.user).get_for_user(request.user, pk, write=True)
    if request.method == "POST":
        label = str(communication)
        communication.delete()
        messages.success(request, f"Deleted “{label}”.")
        if is_fragment_request(request):
            return with_badge(request, close_dialog(empty_fragment(request), CHANGED_EVENT))
        return redirect(safe_next(request) or "communication_list")
    return render_page_or_fragment(
        request, DELETE_TEMPLATE, "communication-delete", {"item": communication, "next": safe_next(request) or ""}
    )


@require_GET
def communication_opportunity_options(request: HttpRequest) -> HttpResponse:
    """The "linked opportunity" select for the contact just picked in the form.

    Without htmx there is no form to update: go to the log form for that contact instead.
    """
    raw = request.GET.get("contact", "")
    contact = None
    if raw.isdigit():
        contact = Contact.objects.visible_to(request.user).filter(pk=int(raw)).first()
    if not is_fragment_request(request):
        url = reverse("communication_create")
        return redirect(f"{url}?contact={contact.pk}" if contact else url)
    form = CommunicationForm(user=request.user, initial={"contact": contact.pk if contact else None})
    return render_page_or_fragment(request, FORM_TEMPLATE, "communication-opportunity", _form_context(request, form))


# --- The contact picker -----------------------------------------------------------------


@require_GET
def contact_picker(request: HttpRequest) -> HttpResponse:
    """Search-as-you-type for the contact picker (contacts/pickers.py).

    ``?name=`` the form field, ``?id=`` its DOM id, ``?multiple=1``, ``?event=`` a client event
    fired once a contact is picked; ``?<name>_search=`` the typed text, ``?pick=<pk>`` a choice.
    Without htmx it is a small "find a contact" page.
    """
    name = request.GET.get("name", "contact")
    dom_id = request.GET.get("id", f"id_{name}")
    event = request.GET.get("event", "")
    if not FIELD_NAME.match(name) or not DOM_ID.match(dom_id) or (event and not EVENT_NAME.match(event)):
        return HttpResponse("Bad picker parameters.", status=400)
    multiple = request.GET.get("multiple") == "1"
    contacts = Contact.objects.visible_to(request.user)
    if request.GET.get("scope") == "no_lp":  # the "New LP" form: one profile per contact
        contacts = contacts.filter(lp_profile__isnull=True)
    query = " ".join(request.GET.get(f"{name}_search", request.GET.get("q", "")).split())[:100]
    chosen = [v for v in request.GET.getlist(name) if v.isdigit()]
    picked = request.GET.get("pick", "")

    widget = ContactPicker(multiple=multiple, event=event, scope=request.GET.get("scope", ""))
    widget.queryset = contacts
    url = widget.picker_url(name, dom_id)

    if not is_fragment_request(request):
        results = list(search_contacts(contacts, query)[:50]) if query else []
        response = render(request, "contacts/communication_contact_search.html", {"query": query, "results": results})
        patch_vary_headers(response, ("HX-Request",))
        return response

    if picked.isdigit() or (f"{name}_search" not in request.GET and "q" not in request.GET):
        # A pick (or "Change"): the whole picker again, in its new state.
        if picked.isdigit() and contacts.filter(pk=int(picked)).exists():
            chosen = [*chosen, picked] if multiple else [picked]
        value = chosen if multiple else (chosen[-1] if chosen and picked else None)
        response = HttpResponse(widget.render(name, value, {"id": dom_id}))
        patch_vary_headers(response, ("HX-Request",))
        if event:
            trigger_client_event(response, event, after="swap")
        return response

    results = []
    if query:
        matches = search_contacts(contacts, query)
        if chosen:
            matches = matches.exclude(pk__in=chosen)
        results = list(matches[: MAX_RESULTS + 1])
    html = render_to_string(
        "contacts/communication_contact_picker_results.html",
        {
            "query": query,
            "results": results[:MAX_RESULTS],
            "more": len(results) > MAX_RESULTS,
            "url": url,
            "id": dom_id,
            "multiple": multiple,
        },
    )
    response = HttpResponse(html)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
def organization_picker(request: HttpRequest) -> HttpResponse:
    """Search-as-you-type for the organization picker: the contact picker's protocol, one at a time.

    ``?name=``, ``?id=``, ``?event=`` as there; ``?<name>_search=`` the typed text (at most
    MAX_RESULTS matches come back), ``?pick=<pk>`` a choice, neither: the empty picker again.
    Without htmx it is the organizations list searched for the text.
    """
    name = request.GET.get("name", "organization")
    dom_id = request.GET.get("id", f"id_{name}")
    event = request.GET.get("event", "")
    if not FIELD_NAME.match(name) or not DOM_ID.match(dom_id) or (event and not EVENT_NAME.match(event)):
        return HttpResponse("Bad picker parameters.", status=400)
    query = " ".join(request.GET.get(f"{name}_search", "").split())[:100]
    if not is_fragment_request(request):
        url = reverse("organization_list")
        response = redirect(f"{url}?{urlencode({'q': query})}" if query else url)
        patch_vary_headers(response, ("HX-Request",))
        return response

    organizations = Organization.objects.visible_to(request.user)
    widget = OrganizationPicker(event=event)
    widget.queryset = organizations
    picked = request.GET.get("pick", "")
    if f"{name}_search" not in request.GET:
        # A pick (or "Change"): the whole picker again, in its new state.
        value = picked if picked.isdigit() and organizations.filter(pk=int(picked)).exists() else None
        response = HttpResponse(widget.render(name, value, {"id": dom_id}))
        patch_vary_headers(response, ("HX-Request",))
        if event:
            trigger_client_event(response, event, after="swap")
        return response

    results = list(search_organizations(organizations, query)[: MAX_RESULTS + 1]) if query else []
    html = render_to_string(
        "contacts/organization_picker_results.html",
        {
            "query": query,
            "results": results[:MAX_RESULTS],
            "more": len(results) > MAX_RESULTS,
            "url": widget.picker_url(name, dom_id),
            "id": dom_id,
        },
    )
    response = HttpResponse(html)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- Next actions -----------------------------------------------------------------------


GROUP_PAGE = 10  # items a group draws at first and per "Show more"
# However far "Show more" (or ?shown=) is pushed, a group never draws more than this; the
# communications log pages through the rest.
GROUP_MAX_SHOWN = 500


@dataclass
class ActionGroup:
    key: str
    label: str
    condition: Q
    items: list[Communication] = field(default_factory=list)
    total: int = 0
    offset: int = 0  # items drawn before these ("Show more" answers with the next ones only)

    @property
    def drawn(self) -> int:
        return self.offset + len(self.items)

    @property
    def remaining(self) -> int:
        return max(self.total - self.drawn, 0)

    @property
    def can_show_more(self) -> bool:
        return bool(self.remaining) and self.drawn < GROUP_MAX_SHOWN


def action_groups(today: datetime.date) -> list[ActionGroup]:
    """Overdue, today, this week (the next seven days) and later (undated ones last)."""
    week_end = today + datetime.timedelta(days=7)
    return [
        ActionGroup("overdue", "Overdue", Q(next_action_date__lt=today)),
        ActionGroup("today", "Today", Q(next_action_date=today)),
        ActionGroup("week", "This week", Q(next_action_date__gt=today, next_action_date__lte=week_end)),
        ActionGroup("later", "Later", Q(next_action_date__gt=week_end) | Q(next_action_date__isnull=True)),
    ]


def shown_count(value: str | None) -> int:
    """How many items a group draws: whole pages, at least one, at most GROUP_MAX_SHOWN."""
    number = int(value) if value and value.isdigit() else 0
    pages = -(-max(number, GROUP_PAGE) // GROUP_PAGE)
    return min(pages * GROUP_PAGE, GROUP_MAX_SHOWN)


def fill_action_groups(
    queryset: QuerySet[Communication], today: datetime.date, shown: dict[str, int] | None = None
) -> list[ActionGroup]:
    """Each group's total in one query, then its first GROUP_PAGE items (``shown[key]`` of
    them): five queries whatever the number of open actions."""
    groups = action_groups(today)
    totals = queryset.order_by().aggregate(**{g.key: Count("pk", filter=g.condition) for g in groups})
    for group in groups:
        group.total = totals[group.key]
        group.items = list(queryset.filter(group.condition)[: (shown or {}).get(group.key, GROUP_PAGE)])
    return groups


def _actions_url(who: str, **params) -> str:
    query = {"who": "everyone"} if who == "everyone" else {}
    query.update(params)
    return f"{reverse('actions')}?{urlencode(query)}" if query else reverse("actions")


@require_GET
def actions(request: HttpRequest) -> HttpResponse:
    who = request.GET.get("who") if request.GET.get("who") in next_actions.VIEWS else next_actions.MINE
    today = timezone.localdate()
    counts = (
        Communication.objects.visible_to(request.user)
        .open_actions()
        .aggregate(everyone=Count("pk"), mine=Count("pk", filter=Q(created_by=request.user)))
    )
    # A next action is its writer's own: "I assigned" shows mine too (tasks tell the views apart).
    queryset = open_actions_for(request.user, mine=who != next_actions.EVERYONE)
    group = request.GET.get("group", "")
    shown = {group: shown_count(request.GET.get("shown"))} if group else None
    context = {
        "who": who,
        "groups": fill_action_groups(queryset, today, shown),
        # Deadlines of the layers above (MFN elections, compliance expiry): registered sources,
        # two queries each, for everyone's view and mine alike (they belong to no one's log).
        "sources": next_actions.groups_for(request.user, today, who),
        "more_url": reverse("actions_more"),
        "counts": counts,
        "today": today,
    }
    return render_page_or_fragment(request, ACTIONS_TEMPLATE, "action-groups", context)


@require_GET
def actions_more(request: HttpRequest) -> HttpResponse:
    """ "Show more" in one group: its next GROUP_PAGE items (``?group=&offset=``).

    With htmx the answer is the items, appended to the group's list, and the group's "Show
    more" control again out-of-band. Without JavaScript it is the actions page with that
    group drawn that far.
    """
    who = "everyone" if request.GET.get("who") == "everyone" else "mine"
    today = timezone.localdate()
    group = next((g for g in action_groups(today) if g.key == request.GET.get("group")), None)
    raw = request.GET.get("offset", "")
    offset = min(int(raw) if raw.isdigit() else 0, GROUP_MAX_SHOWN)
    if not is_fragment_request(request):
        if group is None:
            return redirect("actions")
        url = _actions_url(who, group=group.key, shown=shown_count(str(offset + GROUP_PAGE)))
        return redirect(f"{url}#group-{group.key}")
    if group is None:
        raise Http404("No such group of actions.")
    items = open_actions_for(request.user, mine=who == "mine").filter(group.condition)
    end = min(offset + GROUP_PAGE, GROUP_MAX_SHOWN)
    group.items = list(items[offset:end])
    group.offset = offset
    group.total = items.order_by().count()
    context = {
        "who": who,
        "group": group,
        "today": today,
        "more_url": reverse("actions_more"),
        "next": _actions_url(who),
        "oob": True,
    }
    response = render(request, f"{ACTIONS_TEMPLATE}#action-more-items", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _open_action(request: HttpRequest, pk: int) -> Communication:
    return communications_for(request.user).exclude(next_action="").get_for_user(request.user, pk, write=True)


def _action_item_response(request: HttpRequest, pk: int) -> HttpResponse:
    # Re-read from the database, so the item shows what was saved.
    item = communications_for(request.user).get_for_user(request.user, pk)
    context = {"item": item, "today": timezone.localdate(), "next": safe_next(request) or ""}
    response = render(request, ACTION_ITEM_TEMPLATE, context)
    patch_vary_headers(response, ("HX-Request",))
    return with_badge(request, trigger_client_event(response, ACTIONS_EVENT))


@require_POST
def action_done(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a next action done (records when and by whom), or ``done=0`` to reopen it."""
    communication = _open_action(request, pk)
    if request.POST.get("done") == "0":
        if communication.next_action_done:
            communication.next_action_done = False
            communication.next_action_done_at = None
            communication.next_action_done_by = None
            communication.save()
        text = f"Reopened “{communication.next_action}”."
    else:
        if not communication.next_action_done:
            communication.mark_action_done(request.user)
        text = f"Done: “{communication.next_action}”."
    if is_fragment_request(request):
        return _action_item_response(request, communication.pk)
    messages.success(request, text)
    return redirect(safe_next(request) or "actions")


@require_http_methods(["GET", "POST"])
def action_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    communication = communications_for(request.user).get_for_user(request.user, pk, write=True)
    if not communication.next_action:
        messages.info(request, "This communication has no next action yet: add one here.")
        return redirect("communication_edit", pk=communication.pk)
    today = timezone.localdate()
    # An overdue action is offered today rather than its past date.
    suggested = max(communication.next_action_date or today, today)
    form = RescheduleForm(request.POST or None, initial={"next_action_date": suggested})
    if request.method == "POST" and form.is_valid():
        communication.next_action_date = form.cleaned_data["next_action_date"]
        if communication.next_action_done:  # a rescheduled action is open again
            communication.next_action_done = False
            communication.next_action_done_at = None
            communication.next_action_done_by = None
        communication.save()
        messages.success(
            request, f"Moved “{communication.next_action}” to {communication.next_action_date:%b %-d, %Y}."
        )
        if is_fragment_request(request):
            return with_badge(request, close_dialog(empty_fragment(request), CHANGED_EVENT))
        return redirect(safe_next(request) or "actions")
    context = {"item": communication, "form": form, "next": safe_next(request) or "", "today": timezone.localdate()}
    return render_page_or_fragment(request, RESCHEDULE_TEMPLATE, "action-reschedule", context)
