"""Who may open which URL: every route is walked, so a new page cannot ship without a role.

Add each new URL name to ROUTE_ROLES with the lowest role that may use it. The walk then
checks, for the anonymous visitor and each role of the cast, that the page answers the way
that role says.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import URLPattern, URLResolver, get_resolver, include, path, resolve
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential
from django_tasks_db.models import DBTaskResult

from conftest import make_user
from contacts.models import (
    AttachmentStatus,
    CaptureExclusion,
    Communication,
    Contact,
    ContactType,
    KeptAttachment,
    Organization,
    SharedMailbox,
    StaleThreshold,
    Tag,
)
from crm.models import (
    CustomField,
    CustomFieldEntity,
    CustomFieldType,
    ImportRun,
    ImportStatus,
    Role,
    SavedMapping,
    SecurityPolicy,
)
from crm.roles import manager_required
from lps.documents import save_document, tiny_pdf
from lps.models import (
    CallLine,
    CapitalCall,
    Commitment,
    CommitmentStatus,
    Distribution,
    DistributionLine,
    Document,
    DocumentKind,
    Fund,
    K1Delivery,
    LPProfile,
    MFNElection,
    MFNRound,
    SideLetter,
)
from pipeline.models import Opportunity, Stage, Task

# The lowest role that may use each named URL (admin-site URLs are covered below: Django's
# admin is open to staff, and staff means the admin role). A name missing here fails
# test_every_named_url_declares_its_minimum_role.
ROUTE_ROLES: dict[str, str] = {
    "health": Role.MEMBER,
    "favicon": Role.MEMBER,
    # The documented exception to sign-in: the secret token in the URL is the credential.
    "calendar_feed": Role.MEMBER,
    "calendar_feed_create": Role.MEMBER,
    "calendar_feed_revoke": Role.MEMBER,
    "login": Role.MEMBER,
    "logout": Role.MEMBER,
    "password_change": Role.MEMBER,
    "password_change_done": Role.MEMBER,
    "dashboard": Role.MEMBER,
    "dashboard_export": Role.MANAGER,
    "organization_list": Role.MEMBER,
    "organization_create": Role.MEMBER,
    "organization_export": Role.MANAGER,
    "organization_detail": Role.MEMBER,
    "organization_edit": Role.MEMBER,
    "organization_delete": Role.MANAGER,
    "contact_list": Role.MEMBER,
    "contact_create": Role.MEMBER,
    "contact_export": Role.MANAGER,
    "contact_bulk": Role.MEMBER,
    "contact_merge": Role.MANAGER,
    "contact_organization_options": Role.MEMBER,
    "contact_detail": Role.MEMBER,
    "contact_timeline": Role.MEMBER,
    "contact_edit": Role.MEMBER,
    "contact_delete": Role.MANAGER,
    "pipeline_board": Role.MEMBER,
    "pipeline_reorder": Role.MEMBER,
    "pipeline_board_cards": Role.MEMBER,
    "stage_calibration": Role.MEMBER,
    "stage_calibration_adopt": Role.MANAGER,
    "pipeline_changes": Role.MEMBER,
    "opportunity_list": Role.MEMBER,
    "opportunity_create": Role.MEMBER,
    "opportunity_export": Role.MANAGER,
    "opportunity_detail": Role.MEMBER,
    "opportunity_edit": Role.MEMBER,
    "opportunity_move": Role.MEMBER,
    "opportunity_delete": Role.MANAGER,
    "global_search": Role.MEMBER,
    "settings": Role.MEMBER,
    "settings_profile": Role.MEMBER,
    "settings_password": Role.MEMBER,
    "two_factor_verify": Role.MEMBER,
    "two_factor_enrol": Role.MEMBER,
    "two_factor_recovery_codes": Role.MEMBER,
    "two_factor_remove": Role.MEMBER,
    "passkey_verify_begin": Role.MEMBER,
    "passkey_verify_complete": Role.MEMBER,
    "passkey_register_begin": Role.MEMBER,
    "passkey_register_complete": Role.MEMBER,
    "passkey_rename": Role.MEMBER,
    "passkey_remove": Role.MEMBER,
    "tag_list": Role.MEMBER,
    "tag_create": Role.MEMBER,
    "tag_edit": Role.MEMBER,
    "tag_delete": Role.MANAGER,
    # Saved views of the list grids (issue 14); sharing one needs a manager, checked on the model.
    "saved_view_create": Role.MEMBER,
    "saved_view_delete": Role.MEMBER,
    # Communications, next actions (issue 5).
    "communication_list": Role.MEMBER,
    "communication_create": Role.MEMBER,
    "communication_export": Role.MANAGER,
    "contact_picker": Role.MEMBER,
    "organization_picker": Role.MEMBER,
    "communication_opportunity_options": Role.MEMBER,
    "communication_detail": Role.MEMBER,
    "communication_edit": Role.MEMBER,
    "communication_delete": Role.MANAGER,
    "actions": Role.MEMBER,
    "actions_more": Role.MEMBER,
    "action_done": Role.MEMBER,
    "action_reschedule": Role.MEMBER,
    "task_list": Role.MEMBER,
    "task_create": Role.MEMBER,
    "task_edit": Role.MEMBER,
    "task_done": Role.MEMBER,
    "task_snooze": Role.MEMBER,
    "task_delete": Role.MEMBER,
    "action_to_task": Role.MEMBER,
    "contact_tasks": Role.MEMBER,
    "opportunity_tasks": Role.MEMBER,
    # LP tracker (issue 5).
    "lp_list": Role.MEMBER,
    "lp_create": Role.MEMBER,
    "commitment_export": Role.MANAGER,
    "lp_detail": Role.MEMBER,
    "lp_edit": Role.MEMBER,
    "commitment_create": Role.MANAGER,
    "commitment_edit": Role.MANAGER,
    "commitment_toggle": Role.MANAGER,
    # Imports (issue 6a): managers and admins only, every step.
    "import_start": Role.MANAGER,
    "import_history": Role.MANAGER,
    "audit_log": Role.MANAGER,
    "audit_export": Role.MANAGER,
    "import_mappings": Role.MANAGER,
    "import_saved_mapping_download": Role.MANAGER,
    "import_saved_mapping_delete": Role.MANAGER,
    "import_detail": Role.MANAGER,
    "import_entity": Role.MANAGER,
    "import_mapping": Role.MANAGER,
    "import_mapping_download": Role.MANAGER,
    "import_preview": Role.MANAGER,
    "import_run": Role.MANAGER,
    "import_discard": Role.MANAGER,
    "import_undo": Role.MANAGER,
    "import_progress": Role.MANAGER,
    "import_cancel": Role.MANAGER,
    "import_row_report": Role.MANAGER,
    # Reports: everyone reads them; exports need the manager role.
    "reports_index": Role.MEMBER,
    "report_fundraising_export": Role.MANAGER,
    "report_conversion_export": Role.MANAGER,
    "report_team_export": Role.MANAGER,
    "report_concentration_export": Role.MANAGER,
    "report_ladder_export": Role.MANAGER,
    "close_planner": Role.MEMBER,
    "capital_calls": Role.MEMBER,
    "capital_call_create": Role.MANAGER,
    "capital_call_detail": Role.MEMBER,
    "call_line_receipt": Role.MANAGER,
    # K-1s per tax year (issue 16): everyone reads who is missing one; recording is a manager's.
    "k1_status": Role.MEMBER,
    "k1_record": Role.MANAGER,
    # LP documents: everyone downloads; attaching and removing files is a manager's.
    "document_download": Role.MEMBER,
    "lp_document_upload": Role.MANAGER,
    "call_line_document_upload": Role.MANAGER,
    "document_delete": Role.MANAGER,
    "close_hold": Role.MANAGER,
    # Distributions, capital accounts and notices (issue 16): members read, managers make them.
    "call_notices": Role.MEMBER,
    "call_notice": Role.MEMBER,
    "distributions": Role.MEMBER,
    "distribution_create": Role.MANAGER,
    "distribution_detail": Role.MEMBER,
    "distribution_notices": Role.MEMBER,
    "distribution_notice": Role.MEMBER,
    "capital_accounts": Role.MEMBER,
    "capital_account_export": Role.MANAGER,
    # Side letters, MFN rounds and compliance (issue 16): members read; money and compliance are managers'.
    "side_letter_register": Role.MEMBER,
    "side_letter_export": Role.MANAGER,
    "side_letter_create": Role.MANAGER,
    "side_letter_edit": Role.MANAGER,
    "mfn_round_create": Role.MANAGER,
    "mfn_round_detail": Role.MEMBER,
    "mfn_election_edit": Role.MANAGER,
    "compliance_edit": Role.MANAGER,
    # The re-up cockpit (issue 15): members read it and add the deal; the ask is money.
    "reup_list": Role.MEMBER,
    "reup_export": Role.MANAGER,
    "reup_ask_edit": Role.MANAGER,
    "reup_opportunity_create": Role.MEMBER,
    # Personal API tokens (issue 18): everyone makes and revokes their own, under Settings.
    "api_token_create": Role.MEMBER,
    "api_token_revoke": Role.MEMBER,
    # Email capture (issue 17): everyone connects, syncs and disconnects their own mailbox.
    "mailbox_save": Role.MEMBER,
    "mailbox_disconnect": Role.MEMBER,
    "mailbox_sync": Role.MEMBER,
    # Whoever may see a captured email may keep one of its attachments and download it.
    "communication_attachment_keep": Role.MEMBER,
    "communication_attachment": Role.MEMBER,
    # The JSON API (issue 18). Its endpoints answer 401 in JSON rather than redirect, and each
    # refuses by role in the service layer: crm/api/tests walk every endpoint per role.
    "api:api-root": Role.MEMBER,
    "api:openapi-json": Role.MEMBER,
    "api:openapi-view": Role.MEMBER,
    "api:api_contact_list": Role.MEMBER,
    "api:api_contact_create": Role.MEMBER,
    "api:api_contact_detail": Role.MEMBER,
    "api:api_contact_edit": Role.MEMBER,
    "api:api_organization_list": Role.MEMBER,
    "api:api_organization_detail": Role.MEMBER,
    "api:api_organization_create": Role.MEMBER,
    "api:api_organization_edit": Role.MEMBER,
    "api:api_tag_list": Role.MEMBER,
    "api:api_tag_create": Role.MEMBER,
    "api:api_tag_detail": Role.MEMBER,
    "api:api_tag_edit": Role.MEMBER,
    "api:api_opportunity_list": Role.MEMBER,
    "api:api_opportunity_detail": Role.MEMBER,
    "api:api_opportunity_move": Role.MEMBER,
    "api:api_opportunity_create": Role.MEMBER,
    "api:api_opportunity_edit": Role.MEMBER,
    "api:api_fund_list": Role.MEMBER,
    "api:api_stage_list": Role.MEMBER,
    "api:api_user_list": Role.MEMBER,
    "api:api_communication_list": Role.MEMBER,
    "api:api_communication_create": Role.MEMBER,
    "api:api_communication_detail": Role.MEMBER,
    "api:api_dashboard": Role.MEMBER,
    "api:api_commitment_list": Role.MEMBER,
    "api:api_lp_detail": Role.MEMBER,
    # Members may call these; the permission layer refuses their commitment writes (test_permissions).
    "api:api_lp_create": Role.MEMBER,
    "api:api_lp_edit": Role.MEMBER,
    "api:api_commitment_create": Role.MEMBER,
    "api:api_commitment_detail": Role.MEMBER,
    "api:api_commitment_edit": Role.MEMBER,
    "api:api_task_list": Role.MEMBER,
    "api:api_task_create": Role.MEMBER,
    "api:api_task_detail": Role.MEMBER,
    "api:api_task_edit": Role.MEMBER,
    "api:api_task_done": Role.MEMBER,
    "api:api_import_create": Role.MANAGER,
    "api:api_import_detail": Role.MANAGER,
    "api:api_fund_ladder": Role.MEMBER,
    "api:api_fund_closes": Role.MEMBER,
    "api:api_capital_call_list": Role.MEMBER,
    "api:api_capital_call_detail": Role.MEMBER,
    "api:api_report": Role.MEMBER,
}


# Answer without signing in. Everything else sends the anonymous visitor to sign in.
@pytest.fixture(autouse=True)
def _tasks_queued_as_in_production(settings):
    # The admin lists the queue's tasks through the database backend; the walk queues, never runs.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


PUBLIC_URL_NAMES = {"login", "health", "admin:login"}
# Public redirects into the static files (which are public too).
PUBLIC_STATIC_REDIRECTS = {"favicon"}
# Outside sign-in because the URL holds a secret (the calendar feed): the walk's made-up token
# names no feed, so everyone, signed in or not, gets 404; the feed's own tests fetch real ones.
SECRET_URL_NAMES = {"calendar_feed"}

# Answer GET with 405; the role check is made with a POST instead.
POST_ONLY_URL_NAMES = {
    "logout",
    "api:api_import_create",
    "saved_view_create",
    "saved_view_delete",
    "api_token_revoke",
    "calendar_feed_revoke",
    "mailbox_disconnect",
    "mailbox_sync",
    "communication_attachment_keep",
    "contact_bulk",
    "action_done",
    "task_done",
    "task_delete",
    "commitment_toggle",
    "close_hold",
    "capital_call_create",
    "call_line_receipt",
    "distribution_create",
    "k1_record",
    "lp_document_upload",
    "call_line_document_upload",
    "document_delete",
    "stage_calibration_adopt",
    "reup_opportunity_create",
    "mfn_round_create",
    "mfn_election_edit",
    "import_run",
    "import_discard",
    "import_cancel",
    "import_saved_mapping_delete",
    # The passkey ceremonies (django-otp-webauthn's views): the browser script posts JSON.
    "passkey_verify_begin",
    "passkey_verify_complete",
    "passkey_register_begin",
    "passkey_register_complete",
}
# Pages of one's own passkey: the walk's id is someone else's (otto's below), so they answer 404.
OWN_OBJECT_URL_NAMES = {"passkey_rename", "passkey_remove"}

# URLs that refuse a request without these parameters (the admin's autocomplete answers 403).
QUERY_STRINGS = {"admin:autocomplete": "?app_label=contacts&model_name=contact&field_name=organization&term=At"}

ROLES = [Role.ADMIN, Role.MANAGER, Role.MEMBER]
ADMIN_PREFIX = "admin/"
API_PREFIX = "api/v1/"
# The API's pages for people (the docs and the schema): signed-in sessions, like every page.
API_PAGES = {"api:api-root", "api:openapi-json", "api:openapi-view"}


@dataclass(frozen=True)
class Route:
    route: str  # the joined pattern text, as ResolverMatch.route reports it
    name: str  # "namespace:name", or "" for an unnamed pattern
    converters: dict

    @property
    def is_admin(self) -> bool:
        return self.name.startswith("admin:") or self.route.startswith(ADMIN_PREFIX)

    @property
    def is_api_endpoint(self) -> bool:
        """An endpoint of the JSON API: it answers a missing token with 401, never a redirect."""
        return self.route.startswith(API_PREFIX) and self.name not in API_PAGES


def walk(patterns, prefix: str = "", namespace: str = "", converters: dict | None = None) -> Iterator[Route]:
    converters = converters or {}
    for pattern in patterns:
        text = str(pattern.pattern)
        # Django joins regex routes without their leading "^" (URLResolver._join_route).
        route = prefix + (text[1:] if text.startswith("^") else text)
        found = {**converters, **getattr(pattern.pattern, "converters", {})}
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace) if part)
            yield from walk(pattern.url_patterns, route, inner, found)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else (pattern.name or "")
            yield Route(route, name, found)


def all_routes() -> list[Route]:
    return list(walk(get_resolver().url_patterns))


@pytest.fixture
def records(admin_user, member_user) -> dict[str, Model]:
    """One saved object of every model the admin edits, so change/delete/history pages have a target."""
    tag = Tag.objects.create(name="Warm intro")
    organization = Organization.objects.create(name="Atlas Family Office")
    contact = Contact.objects.create(first_name="Ada", last_name="Okafor", organization=organization)
    fund = Fund.objects.create(name="Fund III", vintage_year=2025, target_size=Decimal("150000000"))
    stage = Stage.objects.create(name="First meeting", order=1, default_probability=10)
    opportunity = Opportunity.objects.create(
        name="Atlas into Fund III", contact=contact, fund=fund, stage=stage, expected_amount=Decimal("5000000")
    )
    communication = Communication.objects.create(
        contact=contact,
        subject="Intro call",
        communication_date=timezone.now(),
        opportunity=opportunity,
        next_action="Send the deck",  # an open one, for "Hand over" (action_to_task)
    )
    # A kept email attachment where the walk's URL points: every number in it is the record's id.
    kept = KeptAttachment(
        communication=communication, position=communication.pk, name="Deck.pdf", status=AttachmentStatus.STORED
    )
    kept.file.save("Deck.pdf", ContentFile(tiny_pdf("Deck")), save=False)
    kept.save()
    lp = LPProfile.objects.create(contact=contact)
    commitment = Commitment.objects.create(
        lp=lp,
        fund=fund,
        status=CommitmentStatus.SIGNED,
        commitment_amount=Decimal("2500000"),
        commitment_date=datetime.date(2025, 3, 1),
    )
    custom_field = CustomField.objects.create(
        name="Check size", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.CURRENCY
    )
    group = Group.objects.create(name="Partners")
    exclusion = CaptureExclusion.objects.create(value="fund.example", note="internal")
    # The team's shared BCC/forward mailbox, the one mailbox the admin site shows.
    shared_mailbox = SharedMailbox(
        host="imap.fund.example", username="crm@fund.example", start_date=datetime.date(2026, 1, 1), shared=True
    )
    shared_mailbox.set_password("app-password")
    shared_mailbox.save()
    call = CapitalCall.objects.create(
        fund=fund, number=1, notice_date=datetime.date(2025, 6, 1), due_date=datetime.date(2025, 6, 15), amount=250
    )
    line = CallLine.objects.create(call=call, commitment=commitment, amount=Decimal("250"))
    distribution = Distribution.objects.create(
        fund=fund, number=1, date=datetime.date(2025, 9, 1), amount=Decimal("100"), gain=Decimal("100")
    )
    paid_out = DistributionLine.objects.create(
        distribution=distribution, commitment=commitment, amount=Decimal("100"), gain=Decimal("100")
    )
    objects = [tag, organization, contact, fund, stage, opportunity, communication, lp, commitment, custom_field]
    objects += [exclusion, shared_mailbox, call, line, distribution, paid_out]
    mfn_round = MFNRound.objects.create(fund=fund, sent_date=call.notice_date, deadline=call.due_date)
    objects += [SideLetter.objects.create(commitment=commitment), mfn_round]
    objects += [MFNElection.objects.create(round=mfn_round, commitment=commitment)]
    k1 = K1Delivery.objects.create(commitment=commitment, tax_year=2025, sent_on=datetime.date(2026, 3, 1))
    document = save_document(
        Document(lp=lp, document_type=DocumentKind.SUBSCRIPTION),
        SimpleUploadedFile("sub.pdf", tiny_pdf("Sub docs")),
        admin_user,
    )
    objects += [k1, document]
    # Set by an admin for the member: every role may change it (owner, manager, admin).
    objects += [Task.objects.create(title="Call Ada", owner=member_user, created_by=admin_user, contact=contact)]
    # The migration's default thresholds, one per contact type: the admin edits them in place.
    objects += [StaleThreshold.objects.get(contact_type=ContactType.INVESTOR)]
    objects += [group, admin_user]
    # An import and a saved mapping, for the import pages that take an id (pk 1, like the rest).
    objects += [
        ImportRun.objects.create(
            user=admin_user,
            file_name="people.csv",
            entity="contacts",
            status=ImportStatus.IMPORTED,
            mapping={"tables": []},
        ),
        SavedMapping.objects.create(name="Airtable people", entity="contacts", mapping={"tables": []}),
    ]
    # Sign-in throttling and second factors (issue 9). The devices belong to someone outside
    # the cast: a cast member with a device would be held at the second step on every page.
    otto = make_user("otto", Role.MEMBER)
    totp = TOTPDevice.objects.create(user=otto, name="Authenticator app", confirmed=True)
    static = StaticDevice.objects.create(user=otto, name="Recovery codes", confirmed=True)
    static.token_set.create(token="abcd2345")
    passkey = WebAuthnCredential.objects.create(
        user=otto, name="Passkey", credential_id=b"otto-credential", public_key=b"key", aaguid=""
    )
    attempt = {"username": "otto", "ip_address": "127.0.0.1", "user_agent": "test", "http_accept": "*/*"}
    objects += [
        SecurityPolicy.load(),
        totp,
        static,
        passkey,
        AccessAttempt.objects.create(**attempt, path_info="/login/", get_data="", post_data="", failures_since_start=1),
        AccessLog.objects.create(**attempt, path_info="/login/"),
        AccessFailureLog.objects.create(**attempt, path_info="/login/"),
        # A queued background task (the worker's queue, shown read-only in the admin).
        DBTaskResult.objects.create(
            task_path="crm.imports.tasks.dry_run",
            args_kwargs={"args": [1, 1], "kwargs": {}},
            backend_name="default",
            run_after=timezone.now(),
        ),
    ]
    return {obj._meta.label_lower: obj for obj in objects}


def admin_model_for(route: Route) -> type[Model] | None:
    for model in admin.site._registry:
        if route.route.startswith(f"{ADMIN_PREFIX}{model._meta.app_label}/{model._meta.model_name}/"):
            return model
    return None


# The kind of record each id-taking page shows, by the start of its path (the longest that
# matches wins), so the walk points at a record of that kind: on PostgreSQL the first record
# of each table does not share one id, since sequences run on across tests.
PAGE_MODELS = {
    "settings/tags/": Tag,
    "settings/passkeys/": WebAuthnCredential,
    "import/mappings/": SavedMapping,
    "import/": ImportRun,
    "organizations/": Organization,
    "contacts/": Contact,
    "communications/": Communication,
    "actions/": Communication,
    "tasks/": Task,
    "tasks/from-action/": Communication,
    "tasks/contact/": Contact,
    "tasks/opportunity/": Opportunity,
    "pipeline/opportunities/": Opportunity,
    "lps/": LPProfile,
    "lps/commitments/": Commitment,
    "lps/funds/": Fund,
    "lps/calls/": CapitalCall,
    "lps/call-lines/": CallLine,
    "lps/distributions/": Distribution,
    "lps/distribution-lines/": DistributionLine,
    "lps/side-letters/": SideLetter,
    "lps/mfn-rounds/": MFNRound,
    "lps/mfn-elections/": MFNElection,
    "lps/documents/": Document,
    "api/v1/contacts": Contact,
    "api/v1/organizations": Organization,
    "api/v1/opportunities": Opportunity,
    "api/v1/communications": Communication,
    "api/v1/lps": LPProfile,
}


def _page_model_for(route: Route) -> type[Model] | None:
    matches = [prefix for prefix in PAGE_MODELS if route.route.startswith(prefix)]
    return PAGE_MODELS[max(matches, key=len)] if matches else None


def concrete_url(route: Route, records: dict[str, Model]) -> str:
    """A URL that resolves to ``route``, pointing at real objects where the route takes an id."""
    # Routes under no model (only /admin/r/<content type>/<id>/) point at a Tag, which has no
    # page of its own; the admin's links there are checked by the view-on-site test below.
    model = admin_model_for(route) or _page_model_for(route) or Tag
    obj = records.get(model._meta.label_lower) or records[Tag._meta.label_lower]

    def value_for(name: str, converter) -> str:
        if name == "content_type_id":
            return str(ContentType.objects.get_for_model(obj).pk)
        kind = type(converter).__name__
        if name in ("object_id", "id", "pk") or kind == "IntConverter":
            return str(obj.pk)
        if kind == "UUIDConverter":
            return "00000000-0000-0000-0000-000000000001"
        return "sample"

    url = re.sub(
        r"(?<!\?P)<(?:(\w+):)?(\w+)>", lambda m: value_for(m.group(2), route.converters.get(m.group(2))), route.route
    )
    # Regex routes in the admin: simple_history's "<id>/history/<history_id>/", the app index
    # "(?P<app_label>auth|crm|…)/" and the catch-all "(?P<url>.*)$".
    positional = []

    def group_value(match: re.Match) -> str:
        body = match.group(2)
        if "|" in body:
            return body.split("|")[0]
        if body == ".*":
            return "nonexistent/"
        if not positional:
            positional.extend([str(obj.pk), str(obj.history.order_by("history_id").last().history_id)])
        return positional.pop(0)

    url = re.sub(r"\((\?P<\w+>)?([^()]*)\)", group_value, url)
    url = "/" + url.lstrip("^").rstrip("$")
    assert resolve(url).route == route.route, f"{url} does not resolve to {route.route}; teach concrete_url"
    return url + QUERY_STRINGS.get(route.name, "")


def login_redirect_target(response) -> tuple[str, str] | None:
    """(login path, next) when ``response`` sends the visitor to a sign-in page."""
    if response.status_code != 302:
        return None
    parts = urlsplit(response["Location"])
    return parts.path, parse_qs(parts.query).get("next", [""])[0]


def test_every_named_url_declares_its_minimum_role():
    routes = [route for route in all_routes() if not route.is_admin]
    unnamed = [route.route for route in routes if not route.name]
    missing = sorted({route.name for route in routes if route.name and route.name not in ROUTE_ROLES})
    stale = sorted(set(ROUTE_ROLES) - {route.name for route in routes})
    assert not unnamed, f"Give these URL patterns a name and add it to ROUTE_ROLES: {unnamed}"
    assert not missing, (
        f"Add these URL names to ROUTE_ROLES in {Path(__file__).name} with the lowest role that may use them "
        f"(Role.MEMBER, Role.MANAGER or Role.ADMIN): {missing}"
    )
    assert not stale, f"These ROUTE_ROLES entries name no URL any more; remove them: {stale}"


def test_anonymous_visitor_is_sent_to_sign_in_from_every_url_but_the_public_ones(client, records):
    sign_in = resolve_url(settings.LOGIN_URL)
    admin_sign_in = resolve_url("admin:login")
    problems = []
    for route in all_routes():
        url = concrete_url(route, records)
        response = client.get(url)
        if route.name in SECRET_URL_NAMES:
            if response.status_code != 404:
                problems.append(f"{url}: a made-up secret answered {response.status_code}, not 404")
            continue
        if route.name in PUBLIC_URL_NAMES:
            if response.status_code != 200:
                problems.append(f"{url}: public page answered {response.status_code}")
            continue
        if route.is_api_endpoint:
            if response.status_code == 405:  # a POST-only endpoint
                response = client.post(url, {}, content_type="application/json")
            if response.status_code != 401 or response["Content-Type"] != "application/problem+json":
                problems.append(f"{url}: expected a JSON 401 from the API, got {response.status_code}")
            continue
        if route.name in PUBLIC_STATIC_REDIRECTS:
            if response.status_code not in (301, 302) or not response["Location"].startswith(settings.STATIC_URL):
                problems.append(f"{url}: expected a redirect into {settings.STATIC_URL}, got {response.status_code}")
            continue
        target = login_redirect_target(response)
        allowed = {sign_in, admin_sign_in} if route.is_admin else {sign_in}
        if target is None or target[0] not in allowed or target[1] != url:
            problems.append(f"{url}: expected a redirect to sign in with next={url}, got {response.status_code}")
    assert sign_in == "/login/"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_the_urls_its_rank_allows(client, records, request, role):
    user = request.getfixturevalue(f"{role}_user")
    client.force_login(user)
    problems = []
    for route in all_routes():
        if route.is_admin:
            continue
        url = concrete_url(route, records)
        minimum = ROUTE_ROLES[route.name]
        post_only = route.name in POST_ONLY_URL_NAMES
        if not user.has_role(minimum):
            response = client.post(url) if post_only else client.get(url)
            if response.status_code != 403:
                problems.append(f"{url}: {role} is below {minimum} but got {response.status_code}, not 403")
            continue
        response = client.get(url)
        not_found = route.name in OWN_OBJECT_URL_NAMES | SECRET_URL_NAMES
        expected = {405} if post_only else {404} if not_found else {200, 302}
        if route.is_api_endpoint:  # the walk's id may name no record of that kind; POST-only paths: 405
            expected = {200, 404, 405}
        if response.status_code not in expected:
            problems.append(f"{url}: {role} may use it but got {response.status_code}, expected one of {expected}")
        elif login_redirect_target(response) and login_redirect_target(response)[0] == resolve_url(settings.LOGIN_URL):
            problems.append(f"{url}: signed-in {role} was sent back to sign in")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.MEMBER])
def test_admin_site_sends_managers_and_members_to_the_admin_login(client, records, request, role):
    client.force_login(request.getfixturevalue(f"{role}_user"))
    admin_sign_in = resolve_url("admin:login")
    problems = []
    for route in all_routes():
        if not route.is_admin or route.name == "admin:login":
            continue
        url = concrete_url(route, records)
        response = client.get(url)
        target = login_redirect_target(response)
        if route.name == "admin:logout":
            # Django's admin sends a non-staff user on its logout URL to the index (then to login).
            if response.status_code not in (302, 405):
                problems.append(f"{url}: {role} got {response.status_code}")
        elif target is None or target[0] != admin_sign_in:
            problems.append(f"{url}: {role} got {response.status_code}, expected a redirect to the admin login")
    assert not problems, "\n".join(problems)


def test_admin_site_index_is_open_to_admins(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert b"Venture CRM administration" in response.content


# Imports are made through /import/ and import_airtable only; the admin shows them read-only.
# Sign-in attempts and logs are written by django-axes only; the security policy is one row
# that always exists. A passkey is made by its browser only (Settings).
ADMIN_CLOSED_BY_DESIGN = {
    "admin:django_otp_webauthn_webauthncredential_add",
    "admin:crm_importrun_add",
    "admin:axes_accessattempt_add",
    "admin:axes_accesslog_add",
    "admin:axes_accessfailurelog_add",
    "admin:crm_securitypolicy_add",
    "admin:crm_securitypolicy_delete",
    # The task queue is written by the app and its worker only (django-tasks-db's read-only admin).
    "admin:django_tasks_database_dbtaskresult_add",
    "admin:django_tasks_database_dbtaskresult_delete",
}


def test_every_admin_page_renders_for_an_admin(admin_client, records):
    """A broken admin option (a missing search field, a bad list_display) fails here, not in use."""
    problems = []
    for route in all_routes():
        if not route.is_admin:
            continue
        url = concrete_url(route, records)
        response = admin_client.get(url)
        if route.name == "admin:logout":
            ok = response.status_code == 405  # POST only since Django 5.0
        elif route.name == "admin:view_on_site":
            ok = response.status_code in (302, 404)  # 404 while the record has no page of its own
        elif route.name == "":
            ok = response.status_code in (301, 302, 404)  # redirects to change pages; catch-all 404
        elif route.name in ADMIN_CLOSED_BY_DESIGN:
            ok = response.status_code == 403
        else:
            ok = response.status_code in (200, 302)
        target = login_redirect_target(response)
        if not ok or (target and target[0] in (resolve_url("admin:login"), resolve_url(settings.LOGIN_URL))):
            problems.append(f"{url} ({route.name or 'unnamed'}): admin got {response.status_code}")
    assert not problems, "\n".join(problems)


def test_admin_links_view_on_site_only_for_records_that_have_a_page(admin_client, records):
    problems = []
    for model in admin.site._registry:
        obj = records[model._meta.label_lower]
        page = obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else None
        opts = model._meta
        response = admin_client.get(resolve_url(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk))
        assert response.status_code == 200, f"{opts.label} change page answered {response.status_code}"
        link = re.search(r'<a href="([^"]+)" class="viewsitelink"', response.content.decode())
        if page is None and link:
            problems.append(f"{opts.label}: links 'View on site' to {link.group(1)} but the record has no page")
        elif page and not link:
            problems.append(f"{opts.label}: has a page at {page} but no 'View on site' link")
        elif link and admin_client.get(link.group(1)).status_code >= 400:
            problems.append(f"{opts.label}: 'View on site' link {link.group(1)} is broken")
    assert not problems, "\n".join(problems)


def test_unknown_address_shows_our_not_found_page(member_client):
    response = member_client.get("/nonexistent/")
    assert response.status_code == 404
    assert "404.html" in [template.name for template in response.templates]
    assert b"There is nothing at this address" in response.content


def test_static_files_are_served_to_anonymous_visitors_by_whitenoise(client, settings):
    # Production serves from STATIC_ROOT after collectstatic (test_deploy.py covers that);
    # here WhiteNoise reads the source folders. The client builds its middleware on its
    # first request, so the setting takes effect.
    settings.WHITENOISE_USE_FINDERS = True
    response = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]
    body = b"".join(response.streaming_content)
    assert body == (Path(settings.BASE_DIR) / "static/vendor/htmx-2.0.11.min.js").read_bytes()


# --- role_required itself ---------------------------------------------------------------
# No page needs more than the member role yet, so this URLconf adds one that does.


@manager_required
def manager_only_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("manager page")


urlpatterns = [path("manager-only/", manager_only_view), path("", include("crm.urls"))]


@pytest.mark.urls(__name__)
def test_member_is_refused_a_manager_page_with_our_403_page(member_client):
    response = member_client.get("/manager-only/")
    assert response.status_code == 403
    assert "403.html" in [template.name for template in response.templates]
    assert b"This needs the manager role." in response.content


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_manager_and_admin_open_a_manager_page(client, request, role):
    client.force_login(request.getfixturevalue(f"{role}_user"))
    response = client.get("/manager-only/")
    assert response.status_code == 200
    assert response.content == b"manager page"
