from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from contacts.forms import MailboxForm, TagForm
from contacts.models import AttachmentStatus, Communication, KeptAttachment, Mailbox, TagColour
from contacts.services import NoSuchAttachment, delete_tag, request_kept_attachment, tags_with_usage
from crm.capture import tasks as capture_tasks
from crm.forms import ApiTokenForm, ProfileForm, SavedViewForm
from crm.lib.htmx import close_dialog, empty_fragment, is_fragment_request, posted, render_page_or_fragment, saved
from crm.lib.text import PASSWORD_MAX, LengthLimit
from crm.models import EMAIL_UNAVAILABLE, LIST_KEYS, ApiToken, CalendarFeed, SavedView, User
from crm.navigation import list_url
from crm.roles import manager_required
from crm.search import DROPDOWN_LIMIT, PAGE_LIMIT, search
from crm.security import services as two_factor
from crm.security.passkeys import script_config

SETTINGS_TEMPLATE = "crm/settings.html"
TAG_FORM_TEMPLATE = "crm/settings_tag_form.html"
TAG_DELETE_TEMPLATE = "crm/settings_tag_delete.html"
TAGS_CHANGED_EVENT = "tagsChanged"
# The create form sits on the Settings page while the edit form opens over it: distinct ids.
NEW_TAG_ID = "new-tag-%s"


@require_GET
@never_cache
@login_not_required
def health(request: HttpRequest) -> HttpResponse:
    """For uptime checks and load balancers: is the database reachable, which version runs."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        database_ok = True
    except DatabaseError:
        database_ok = False
    return JsonResponse(
        {"status": "ok" if database_ok else "error", "database": database_ok, "version": settings.VERSION},
        status=200 if database_ok else 503,
    )


@require_GET
def global_search(request: HttpRequest) -> HttpResponse:
    """The header's search-as-you-type dropdown (htmx), or the full results page."""
    fragment = is_fragment_request(request)
    limit = DROPDOWN_LIMIT if fragment else PAGE_LIMIT
    results = search(request.user, request.GET.get("q", ""), limit=limit)
    context = {"results": results, "search_query": results.query, "limit": limit}
    return render_page_or_fragment(request, "crm/search.html", "search-results", context, fragment=fragment)


def _password_form(request: HttpRequest, data: Any = None) -> PasswordChangeForm:
    form = PasswordChangeForm(request.user, data)
    # Django's form grabs the focus: on Settings it sits below the profile and must not.
    form.fields["old_password"].widget.attrs.pop("autofocus", None)
    # Django's password fields have no length limit; refused before any hashing or validating.
    for field in form.fields.values():
        field.validators.append(LengthLimit(PASSWORD_MAX))
        field.widget.attrs["maxlength"] = str(PASSWORD_MAX)
    return form


def settings_context(request: HttpRequest, **overrides: Any) -> dict[str, Any]:
    """Everything the Settings page shows; a view passes its bound form to re-show errors."""
    context = {
        "profile_form": ProfileForm(instance=request.user),
        "password_form": _password_form(request),
        "tag_form": TagForm(auto_id=NEW_TAG_ID),
        "tags": tags_with_usage(request.user),
        "colours": TagColour.choices,
        "authenticator": two_factor.authenticator_for(request.user),
        "passkeys": list(two_factor.passkeys_for(request.user)),
        "passkey_config": script_config(request),
        "recovery_codes_left": two_factor.recovery_codes_left(request.user),
        "two_factor_required": two_factor.two_factor_state(request.user).required,
        "api_token_form": ApiTokenForm(),
        "api_tokens": list(ApiToken.objects.visible_to(request.user)),
        "calendar_feeds": list(CalendarFeed.objects.visible_to(request.user).filter(revoked_at__isnull=True)),
        **_mailbox_context(request),
        "now": timezone.now(),
    }
    context.update(overrides)
    return context


@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    return render(request, SETTINGS_TEMPLATE, settings_context(request))


@require_http_methods(["GET", "POST"])
def settings_profile(request: HttpRequest) -> HttpResponse:
    """Everyone edits their own profile, and only their own: the instance is request.user."""
    if request.method == "GET" and not is_fragment_request(request):
        return redirect(reverse("settings") + "#profile-form")
    # A copy of the user: a refused form must not leave its values on request.user (the sidebar).
    form = ProfileForm(posted(request), instance=User.objects.get(pk=request.user.pk))
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                form.save()
        except IntegrityError:  # the same email saved by someone else a moment ago
            form.add_error("email", EMAIL_UNAVAILABLE)
        else:
            messages.success(request, "Saved your profile.")
            if not is_fragment_request(request):
                return redirect(reverse("settings") + "#profile-form")
            # The name shows in the sidebar too: reload the page rather than patch it.
            return HttpResponseClientRefresh()
    return render_page_or_fragment(
        request, SETTINGS_TEMPLATE, "profile-form", settings_context(request, profile_form=form)
    )


@require_http_methods(["GET", "POST"])
def settings_password(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and not is_fragment_request(request):
        return redirect(reverse("settings") + "#password-form")
    form = _password_form(request, posted(request))
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)  # stay signed in here, signed out elsewhere
        messages.success(request, "Changed your password. Other devices will have to sign in again.")
        if not is_fragment_request(request):
            return redirect(reverse("settings") + "#password-form")
        form = _password_form(request)
    return render_page_or_fragment(
        request, SETTINGS_TEMPLATE, "password-form", settings_context(request, password_form=form)
    )


# --- tags, under Settings: list with usage counts, create, rename, recolour, delete ----------
# Everyone who may edit records may create, rename and recolour tags; deleting one takes a
# tag off every record that carries it, so it is for managers and admins.


def _settings_url() -> str:
    return reverse("settings") + "#tags"


@require_GET
def tag_list(request: HttpRequest) -> HttpResponse:
    """The tag table: its own fragment for refreshes; the whole Settings page otherwise."""
    return render_page_or_fragment(request, SETTINGS_TEMPLATE, "tag-table", settings_context(request))


def _empty_tag_form(request: HttpRequest) -> HttpResponse:
    """After a tag is added: the create form again, empty, for the next one."""
    context = settings_context(request, tag_form=TagForm(auto_id=NEW_TAG_ID))
    return render_page_or_fragment(request, SETTINGS_TEMPLATE, "tag-create", context)


@require_http_methods(["GET", "POST"])
def tag_create(request: HttpRequest) -> HttpResponse:
    form = TagForm(posted(request), auto_id=NEW_TAG_ID)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                tag = form.save()
        except IntegrityError:  # created by someone else since the form was checked
            form.add_error("name", "A tag with this name was just added. Use that one or pick another name.")
        else:
            return saved(
                request,
                f"Added the tag “{tag.name}”.",
                redirect_to=_settings_url(),
                panel=lambda: _empty_tag_form(request),
                event=TAGS_CHANGED_EVENT,
            )
    return render_page_or_fragment(request, SETTINGS_TEMPLATE, "tag-create", settings_context(request, tag_form=form))


@require_http_methods(["GET", "POST"])
def tag_edit(request: HttpRequest, pk: int) -> HttpResponse:
    tag = tags_with_usage(request.user).get_for_user(request.user, pk, write=True)
    old_name = tag.name
    form = TagForm(posted(request), instance=tag, auto_id="edit-tag-%s")
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
            return close_dialog(empty_fragment(request), TAGS_CHANGED_EVENT)
    return render_page_or_fragment(request, TAG_FORM_TEMPLATE, "tag-form", {"form": form, "tag": tag})


@require_http_methods(["GET", "POST"])
@manager_required
def tag_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tag = tags_with_usage(request.user).get_for_user(request.user, pk, write=True)
    if request.method == "POST":
        name = tag.name
        contacts, organizations = delete_tag(tag, request.user)
        used = _usage_phrase(contacts, organizations)
        messages.success(request, f"Deleted the tag “{name}”" + (f" and took it off {used}." if used else "."))
        if is_fragment_request(request):
            return close_dialog(empty_fragment(request), TAGS_CHANGED_EVENT)
        return redirect(_settings_url())
    return render_page_or_fragment(request, TAG_DELETE_TEMPLATE, "tag-delete", {"tag": tag})


def _usage_phrase(contacts: int, organizations: int) -> str:
    parts = []
    if contacts:
        parts.append(f"{contacts} contact{'s' if contacts != 1 else ''}")
    if organizations:
        parts.append(f"{organizations} organization{'s' if organizations != 1 else ''}")
    return " and ".join(parts)


# --- personal API tokens, under Settings ---------------------------------------------------
# A token is shown once, in the answer to the POST that made it: it is never stored, so
# there is no page to redirect to that could show it again.


def _api_tokens(request: HttpRequest, status: int = 200, **overrides: Any) -> HttpResponse:
    context = settings_context(request, **overrides)
    return render_page_or_fragment(request, SETTINGS_TEMPLATE, "api-tokens", context, status=status)


@require_http_methods(["GET", "POST"])
def api_token_create(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return redirect(reverse("settings") + "#api-tokens")
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _api_tokens(request, api_token_form=form)
    token, raw = ApiToken.issue(request.user, form.cleaned_data["name"], form.expires_at(timezone.now()))
    return _api_tokens(request, new_api_token=raw, new_api_token_name=token.name)


@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = ApiToken.objects.get_for_user(request.user, pk, write=True)
    token.revoke(timezone.now())
    messages.success(request, f"Revoked the token “{token.name}”. Scripts using it now get 401.")
    if not is_fragment_request(request):
        return redirect(reverse("settings") + "#api-tokens")
    return _api_tokens(request)


# --- the private calendar URL (crm/calendar_feed/), under Settings ---------------------------
# Making one again is "regenerate": CalendarFeed.issue revokes the previous URL of that kind.


def _calendar_feeds(request: HttpRequest, **overrides: Any) -> HttpResponse:
    context = settings_context(request, **overrides)
    return render_page_or_fragment(request, SETTINGS_TEMPLATE, "calendar-feeds", context)


@require_http_methods(["GET", "POST"])
def calendar_feed_create(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return redirect(reverse("settings") + "#calendar-feeds")
    # Only admins may make an "everyone" feed: CalendarFeed.issue refuses anyone else (403).
    feed, raw = CalendarFeed.issue(request.user, everyone=request.POST.get("everyone") == "1")
    url = request.build_absolute_uri(reverse("calendar_feed", args=[raw]))
    return _calendar_feeds(request, new_calendar_url=url, new_calendar_everyone=feed.everyone)


@require_POST
def calendar_feed_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    feed = CalendarFeed.objects.get_for_user(request.user, pk, write=True)
    feed.revoke(timezone.now())
    messages.success(request, "Revoked the calendar URL. Calendar apps using it now get nothing new.")
    if not is_fragment_request(request):
        return redirect(reverse("settings") + "#calendar-feeds")
    return _calendar_feeds(request)


# --- email capture: one's own mailbox, under Settings ---------------------------------------
# Only its owner sees or changes a mailbox (Mailbox.objects.visible_to); the app password is
# written through the form and never rendered back.


def _own_mailbox(request: HttpRequest) -> Mailbox | None:
    return Mailbox.objects.visible_to(request.user).first()


def _mailbox_context(request: HttpRequest, mailbox: Mailbox | None = None, form: MailboxForm | None = None) -> dict:
    mailbox = mailbox if mailbox is not None else _own_mailbox(request)
    return {"mailbox": mailbox, "mailbox_form": form or MailboxForm(instance=mailbox, auto_id="mailbox-%s")}


def _mailbox_section(request: HttpRequest, **overrides: Any) -> HttpResponse:
    if not is_fragment_request(request):
        return redirect(reverse("settings") + "#mailbox")
    return render_page_or_fragment(request, SETTINGS_TEMPLATE, "mailbox", settings_context(request, **overrides))


@require_http_methods(["GET", "POST"])
def mailbox_save(request: HttpRequest) -> HttpResponse:
    """Connect a mailbox, or change the one connected: always the signed-in user's own."""
    if request.method == "GET":
        return redirect(reverse("settings") + "#mailbox")
    mailbox = _own_mailbox(request) or Mailbox(user=request.user)
    form = MailboxForm(request.POST, instance=mailbox, auto_id="mailbox-%s")
    if not form.is_valid():
        return render_page_or_fragment(
            request, SETTINGS_TEMPLATE, "mailbox", settings_context(request, **_mailbox_context(request, form=form))
        )
    connected = mailbox.pk is None
    with transaction.atomic():
        mailbox = form.save()
    if connected:
        messages.success(request, "Connected your mailbox. Press “Sync now”, or wait for the next sync.")
    else:
        messages.success(request, "Saved your mailbox settings.")
    return _mailbox_section(request)


@require_POST
def mailbox_disconnect(request: HttpRequest) -> HttpResponse:
    """Forget the mailbox and its password; the communications captured from it stay."""
    deleted, _ = Mailbox.objects.visible_to(request.user).delete()
    if deleted:
        messages.success(request, "Disconnected your mailbox. Emails captured from it stay in the CRM.")
    return _mailbox_section(request)


@require_POST
def mailbox_sync(request: HttpRequest) -> HttpResponse:
    """Queue a sync of one's own mailbox for the background worker."""
    mailbox = _own_mailbox(request)
    if mailbox is None:
        messages.error(request, "Connect a mailbox first.")
    elif not mailbox.enabled:
        messages.error(request, "Capture is switched off for this mailbox: tick “Enabled” and save first.")
    else:
        capture_tasks.sync_mailbox.enqueue(mailbox.pk)
        messages.success(request, "Sync queued. The status below changes when it has run.")
    return _mailbox_section(request)


# --- kept email attachments: "Keep this file" on a captured email, and the download -----------
# Here rather than in contacts/views: keeping queues crm/capture's fetch, a layer above contacts.


@require_POST
def communication_attachment_keep(request: HttpRequest, pk: int, position: int) -> HttpResponse:
    """Ask for one attachment of a captured email to be fetched and kept; anyone who sees the email may."""
    communication = Communication.objects.get_for_user(request.user, pk)
    try:
        kept = request_kept_attachment(communication, position, request.user)
    except NoSuchAttachment:
        raise Http404("The email lists no such attachment.") from None
    if kept is None:
        messages.info(request, "That file is kept already, or being fetched.")
    else:
        capture_tasks.keep_attachment.enqueue(kept.pk)
        messages.success(request, f"Fetching “{kept.name}” from the mailbox. It shows here when it is kept.")
    return redirect("communication_detail", pk=communication.pk)


@require_GET
def communication_attachment(request: HttpRequest, pk: int, position: int) -> FileResponse:
    """A kept attachment, to a signed-in user who may see its email (anyone else: 404); always a download."""
    kept = (
        KeptAttachment.objects.visible_to(request.user)
        .filter(communication_id=pk, position=position, status=AttachmentStatus.STORED)
        .first()
    )
    if kept is None:
        raise Http404("No kept file here.")
    try:
        handle = kept.file.open("rb")
    except FileNotFoundError as missing:
        raise Http404("The kept file is missing.") from missing
    # Always a download, never shown inline: the file came from outside, by email.
    response = FileResponse(handle, as_attachment=True, filename=kept.name, content_type=kept.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- Saved views of the list grids (issue 14) ----------------------------------------------


@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    """Save the list's current query string under a name; back to the list showing it."""
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "The view was not saved: " + " ".join(e for errors in form.errors.values() for e in errors)
        )
        key = request.POST.get("list_key")
        return redirect(list_url(key) if key in LIST_KEYS else reverse("dashboard"))
    view = form.save(commit=False)
    view.owner = request.user
    view.save_as(request.user)  # a member sharing a view is refused here (403)
    messages.success(request, f"Saved the view “{view.name}”" + (" for the team." if view.shared else "."))
    return redirect(f"{list_url(view.list_key)}?{view.query}")


@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = SavedView.objects.get_for_user(request.user, pk)
    view.delete_as(request.user)
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect(list_url(view.list_key))
