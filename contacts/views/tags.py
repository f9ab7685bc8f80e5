"""Tag management, under Settings: list with usage counts, create, rename, recolour, delete.

Everyone who may edit records may create, rename and recolour tags; deleting one takes a
tag off every record that carries it, so it is for managers and admins.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, models, transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from contacts.forms import TagForm
from contacts.models import Contact, Organization, Tag
from crm.lib.htmx import close_dialog, empty_fragment, is_fragment_request, render_page_or_fragment
from crm.roles import manager_required

SETTINGS_TEMPLATE = "crm/settings.html"
FORM_TEMPLATE = "crm/settings_tag_form.html"
DELETE_TEMPLATE = "crm/settings_tag_delete.html"
CHANGED_EVENT = "tagsChanged"
# The create form sits on the Settings page while the edit form opens over it: distinct ids.
NEW_TAG_ID = "new-tag-%s"


def _posted(request: HttpRequest) -> Any:
    # request.POST or None would leave an empty POST unbound, re-showing the form without errors.
    return request.POST if request.method == "POST" else None


def tags_with_usage(user: Any) -> models.QuerySet[Tag]:
    """Tags with ``contact_count`` and ``organization_count``, as subqueries: one query.

    Subqueries rather than two joined Counts, which would multiply each other's rows.
    """

    def usage(model: type[models.Model]) -> Coalesce:
        counted = (
            model.objects.visible_to(user)
            .filter(tags=OuterRef("pk"))
            .order_by()
            .values("tags")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    return Tag.objects.visible_to(user).annotate(contact_count=usage(Contact), organization_count=usage(Organization))


def _untag_all(model: type[models.Model], tag: Tag, user: Any, reason: str) -> int:
    """Take ``tag`` off every ``model`` record in a fixed number of queries, with history.

    ``record.tags.remove(tag)`` per record would write the history row through the m2m
    signal, at five queries a record: minutes for a tag on 10,000 contacts. This writes
    what that signal writes (a "changed" history row per record plus its snapshot of the
    tags left), in bulk.
    """
    carrying = model.objects.filter(tags=tag)  # every record: a deleted tag is gone for all
    records = list(carrying)
    if not records:
        return 0
    through = model.tags.through
    owner = model._meta.model_name  # the through table's column for the record: contact / organization
    # The tags each record keeps, read through a subquery rather than a list of ids, which
    # could pass SQLite's limit on parameters for a tag on tens of thousands of records.
    left_by_record: dict[int, list] = defaultdict(list)
    for row in through.objects.filter(**{f"{owner}__in": carrying.values("pk")}).exclude(tag=tag).order_by("pk"):
        left_by_record[getattr(row, f"{owner}_id")].append(row)
    through.objects.filter(tag=tag).delete()
    history_rows = model.history.bulk_history_create(
        records, update=True, default_user=user, default_change_reason=reason, default_date=timezone.now()
    )
    snapshot_model = model.history.model.tags.model
    snapshot_model.objects.bulk_create(
        [
            snapshot_model(history=history_row, id=row.pk, tag_id=row.tag_id, **{f"{owner}_id": history_row.id})
            for history_row in history_rows
            for row in left_by_record[history_row.id]
        ]
    )
    return len(records)


def delete_tag(tag: Tag, user: Any) -> tuple[int, int]:
    """Delete ``tag``, first taking it off every contact and organization with history.

    Returns how many contacts and organizations carried it.
    """
    reason = f"Tag “{tag.name}” deleted"
    with transaction.atomic():
        contacts = _untag_all(Contact, tag, user, reason)
        organizations = _untag_all(Organization, tag, user, reason)
        tag.delete()
    return contacts, organizations


def settings_context(request: HttpRequest, **overrides: Any) -> dict[str, Any]:
    # Imported here: crm.views builds the Settings page from this module's queries.
    from crm.views import settings_context as build

    return build(request, **overrides)


def _settings_url() -> str:
    return reverse("settings") + "#tags"


@require_GET
def tag_list(request: HttpRequest) -> HttpResponse:
    """The tag table: its own fragment for refreshes; the whole Settings page otherwise."""
    return render_page_or_fragment(request, SETTINGS_TEMPLATE, "tag-table", settings_context(request))


@require_http_methods(["GET", "POST"])
def tag_create(request: HttpRequest) -> HttpResponse:
    form = TagForm(_posted(request), auto_id=NEW_TAG_ID)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                tag = form.save()
        except IntegrityError:  # created by someone else since the form was checked
            form.add_error("name", "A tag with this name was just added. Use that one or pick another name.")
        else:
            messages.success(request, f"Added the tag “{tag.name}”.")
            if not is_fragment_request(request):
                return redirect(_settings_url())
            response = render_page_or_fragment(
                request,
                SETTINGS_TEMPLATE,
                "tag-create",
                settings_context(request, tag_form=TagForm(auto_id=NEW_TAG_ID)),
            )
            return trigger_client_event(response, CHANGED_EVENT)
    return render_page_or_fragment(request, SETTINGS_TEMPLATE, "tag-create", settings_context(request, tag_form=form))


@require_http_methods(["GET", "POST"])
def tag_edit(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(tags_with_usage(request.user), pk=pk)
    old_name = tag.name
    form = TagForm(_posted(request), instance=tag, auto_id="edit-tag-%s")
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                tag = form.save()
        except IntegrityError:
            form.add_error("name", "A tag with this name was just added. Pick another name.")
        else:
            renamed = f"Renamed “{old_name}” to “{tag.name}”." if tag.name != old_name else f"Saved “{tag.name}”."
            messages.success(request, renamed)
            if not is_fragment_request(request):
                return redirect(_settings_url())
            return close_dialog(empty_fragment(request), CHANGED_EVENT)
    return render_page_or_fragment(request, FORM_TEMPLATE, "tag-form", {"form": form, "tag": tag})


@require_http_methods(["GET", "POST"])
@manager_required
def tag_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(tags_with_usage(request.user), pk=pk)
    if request.method == "POST":
        name = tag.name
        contacts, organizations = delete_tag(tag, request.user)
        used = _usage_phrase(contacts, organizations)
        messages.success(request, f"Deleted the tag “{name}”" + (f" and took it off {used}." if used else "."))
        if is_fragment_request(request):
            return close_dialog(empty_fragment(request), CHANGED_EVENT)
        return redirect(_settings_url())
    return render_page_or_fragment(request, DELETE_TEMPLATE, "tag-delete", {"tag": tag})


def _usage_phrase(contacts: int, organizations: int) -> str:
    parts = []
    if contacts:
        parts.append(f"{contacts} contact{'s' if contacts != 1 else ''}")
    if organizations:
        parts.append(f"{organizations} organization{'s' if organizations != 1 else ''}")
    return " and ".join(parts)
