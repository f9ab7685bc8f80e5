"""Every path to one record resolves it through the scoping method and the one access helper.

Scoping lets an active user see every record today (crm/lib/scoping.py), so these tests put
a rule in for the test: ``hide`` keeps chosen records out of ``visible_to`` for everyone.
Every URL that takes a record's id is walked; a path that looked its object up by hand, or
re-read it without the scope, answers 200 or 500 instead of 404 and fails here.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from contacts.models import Communication, Contact, Organization, Tag
from crm.lib.scoping import ScopedQuerySet
from crm.tests.test_access import ROUTE_ROLES, all_routes
from lps.documents import save_document
from lps.models import (
    CallLine,
    CapitalCall,
    Close,
    Commitment,
    CommitmentStatus,
    Distribution,
    DistributionLine,
    Document,
    Fund,
    LPProfile,
    MFNElection,
    MFNRound,
    SideLetter,
)
from pipeline.models import Opportunity, Stage, Task

# Each URL that takes a record's id, and which record that is.
OBJECT_ROUTES: dict[str, type[Model]] = {
    "tag_edit": Tag,
    "tag_delete": Tag,
    "organization_detail": Organization,
    "organization_edit": Organization,
    "organization_delete": Organization,
    "contact_detail": Contact,
    "contact_timeline": Contact,
    "contact_edit": Contact,
    "contact_delete": Contact,
    "communication_detail": Communication,
    "communication_edit": Communication,
    "communication_delete": Communication,
    "action_done": Communication,
    "action_reschedule": Communication,
    "action_to_task": Communication,
    "task_edit": Task,
    "task_done": Task,
    "task_snooze": Task,
    "task_delete": Task,
    "contact_tasks": Contact,
    "opportunity_tasks": Opportunity,
    "opportunity_detail": Opportunity,
    "opportunity_edit": Opportunity,
    "opportunity_move": Opportunity,
    "opportunity_delete": Opportunity,
    "lp_detail": LPProfile,
    "lp_edit": LPProfile,
    "commitment_create": LPProfile,
    "commitment_edit": Commitment,
    "commitment_toggle": Commitment,
    "close_hold": Close,
    "capital_calls": Fund,
    "capital_call_create": Fund,
    "capital_call_detail": CapitalCall,
    "call_line_receipt": CallLine,
    "call_notices": CapitalCall,
    "call_notice": CallLine,
    "distributions": Fund,
    "distribution_create": Fund,
    "distribution_detail": Distribution,
    "distribution_notices": Distribution,
    "distribution_notice": DistributionLine,
    "capital_accounts": Fund,
    "capital_account_export": Fund,
    "k1_status": Fund,
    "k1_record": Commitment,
    "lp_document_upload": LPProfile,
    "call_line_document_upload": CallLine,
    "document_download": Document,
    "document_delete": Document,
    "reup_ask_edit": LPProfile,
    "side_letter_create": Commitment,
    "side_letter_edit": SideLetter,
    "mfn_round_detail": MFNRound,
    "mfn_election_edit": MFNElection,
    "compliance_edit": LPProfile,
    "reup_opportunity_create": LPProfile,
    # The API's record paths, through the session (its token auth resolves to the same user).
    "api:api_contact_detail": Contact,
    "api:api_contact_edit": Contact,
    "api:api_organization_detail": Organization,
    "api:api_organization_edit": Organization,
    "api:api_tag_detail": Tag,
    "api:api_tag_edit": Tag,
    "api:api_communication_detail": Communication,
    "api:api_opportunity_detail": Opportunity,
    "api:api_opportunity_move": Opportunity,
    "api:api_opportunity_edit": Opportunity,
    "api:api_lp_detail": LPProfile,
    "api:api_lp_edit": LPProfile,
    "api:api_commitment_create": LPProfile,
    "api:api_commitment_detail": Commitment,
    "api:api_commitment_edit": Commitment,
    "api:api_task_detail": Task,
    "api:api_task_edit": Task,
    "api:api_task_done": Task,
    "api:api_fund_ladder": Fund,
    "api:api_fund_closes": Fund,
    "api:api_capital_call_list": Fund,
    "api:api_capital_call_detail": CapitalCall,
}
# Id-taking URLs of records that are not CRM data: one's own passkeys (checked against the
# owner), and the import engine's runs and mappings (tested with the imports).
# An API token is one's own too: revoking someone else's answers 404 (crm/api/tests/test_tokens_page.py).
# So is a calendar URL (crm/tests/test_calendar_feed.py).
# A saved view is a user's own list state, not a CRM record; crm/tests/test_grid.py walks it.
NOT_CRM_RECORDS = {"passkey_rename", "passkey_remove", "api_token_revoke", "calendar_feed_revoke", "saved_view_delete"}
IMPORT_PAGES = {name for name in ROUTE_ROLES if name.startswith(("import_", "api:api_import_"))}
# A communication's id and an attachment's place: walked, hidden communication and all, in
# contacts/tests/test_kept_attachments.py.
KEPT_ATTACHMENT_PAGES = {"communication_attachment", "communication_attachment_keep"}
POST_ONLY = {
    "action_done", "task_done", "task_delete", "commitment_toggle", "close_hold", "capital_call_create",
    "call_line_receipt",
    "reup_opportunity_create", "distribution_create", "mfn_election_edit", "k1_record", "lp_document_upload",
    "call_line_document_upload", "document_delete",
}  # fmt: skip
# API writes validate their body before the record is looked up, so each gets a well-formed
# one: the 404 must then come from the record, not a 400 from the body.
API_WRITES = {
    "api:api_contact_edit": ("patch", {}),
    "api:api_organization_edit": ("patch", {}),
    "api:api_tag_edit": ("patch", {}),
    "api:api_opportunity_move": ("post", {"stage_id": 1}),
    "api:api_opportunity_edit": ("patch", {}),
    "api:api_lp_edit": ("patch", {}),
    "api:api_commitment_create": ("post", {}),
    "api:api_commitment_edit": ("patch", {}),
    "api:api_task_edit": ("patch", {}),
    "api:api_task_done": ("post", {}),
}


@pytest.fixture
def hide(monkeypatch):
    """A scoping rule for one test: the records passed to ``hide`` are visible to no one."""
    hidden: dict[type, set[int]] = defaultdict(set)
    visible_to = ScopedQuerySet.visible_to

    def scoped(self, user):
        queryset = visible_to(self, user)
        return queryset.exclude(pk__in=hidden[self.model]) if hidden.get(self.model) else queryset

    monkeypatch.setattr(ScopedQuerySet, "visible_to", scoped)

    def hide(*records: Model) -> None:
        for record in records:
            hidden[type(record)].add(record.pk)

    return hide


@pytest.fixture
def book(db, admin_user) -> dict[type[Model], Model]:
    """One record of each kind, linked the way the pages expect (a next action included)."""
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
        next_action="Send the deck",
        next_action_date=datetime.date(2025, 3, 1),
    )
    lp = LPProfile.objects.create(contact=contact)
    commitment = Commitment.objects.create(
        lp=lp, fund=fund, status=CommitmentStatus.SIGNED, commitment_amount=Decimal("2500000")
    )
    records = [Tag.objects.create(name="Warm intro"), organization, contact, fund, stage, opportunity]
    close = Close.objects.create(fund=fund, name="First close", date=datetime.date(2025, 6, 30))
    call = CapitalCall.objects.create(
        fund=fund, number=1, notice_date=close.date, due_date=close.date, amount=Decimal("250000")
    )
    line = CallLine.objects.create(call=call, commitment=commitment, amount=Decimal("250000"))
    distribution = Distribution.objects.create(
        fund=fund, number=1, date=close.date, amount=Decimal("1000"), income=Decimal("1000")
    )
    paid_out = DistributionLine.objects.create(
        distribution=distribution, commitment=commitment, amount=Decimal("1000"), income=Decimal("1000")
    )
    records += [distribution, paid_out]
    side_letter = SideLetter.objects.create(commitment=commitment)
    mfn_round = MFNRound.objects.create(fund=fund, sent_date=close.date, deadline=close.date)
    election = MFNElection.objects.create(round=mfn_round, commitment=commitment)
    records += [communication, lp, commitment, close, call, line, side_letter, mfn_round, election]
    records += [Task.objects.create(title="Call Ada", owner=admin_user, created_by=admin_user, contact=contact)]
    document = save_document(Document(commitment=commitment), SimpleUploadedFile("a.txt", b"Signed."), admin_user)
    records += [document]
    return {type(record): record for record in records}


def test_a_document_is_hidden_with_the_record_it_belongs_to(admin_client, book, hide):
    url = reverse("document_download", args=[book[Document].pk])
    assert admin_client.get(url).status_code == 200
    hide(book[Commitment])
    assert admin_client.get(url).status_code == 404


def _request(client, name: str, record: Model | SimpleNamespace):
    url = reverse(name, args=[record.pk])
    if name in API_WRITES:
        method, body = API_WRITES[name]
        return getattr(client, method)(url, body, content_type="application/json")
    return client.post(url) if name in POST_ONLY else client.get(url)


def test_every_url_that_takes_a_record_id_is_walked_here():
    taking_ids = (
        {route.name for route in all_routes() if not route.is_admin and "pk" in route.converters}
        - NOT_CRM_RECORDS
        - IMPORT_PAGES
        - KEPT_ATTACHMENT_PAGES
    )
    assert taking_ids == set(OBJECT_ROUTES)


@pytest.mark.parametrize("name", sorted(OBJECT_ROUTES))
def test_a_record_the_scope_hides_answers_404_on_every_path_to_it(admin_client, book, hide, name):
    record = book[OBJECT_ROUTES[name]]
    assert _request(admin_client, name, record).status_code != 404  # the path works while visible
    hide(record)
    assert _request(admin_client, name, record).status_code == 404


@pytest.mark.parametrize("name", sorted(OBJECT_ROUTES))
def test_an_id_that_names_no_record_answers_404_not_500(admin_client, db, name):
    assert _request(admin_client, name, SimpleNamespace(pk=999999)).status_code == 404


def test_forms_pinned_to_a_hidden_contact_or_opportunity_answer_404(admin_client, book, hide):
    contact, opportunity = book[Contact], book[Opportunity]
    assert admin_client.get(reverse("communication_create"), {"contact": contact.pk}).status_code == 200
    assert admin_client.get(reverse("lp_create"), {"contact": contact.pk}).status_code in (200, 302)
    hide(contact, opportunity)
    assert admin_client.get(reverse("communication_create"), {"contact": contact.pk}).status_code == 404
    assert admin_client.get(reverse("communication_create"), {"opportunity": opportunity.pk}).status_code == 404
    assert admin_client.get(reverse("lp_create"), {"contact": contact.pk}).status_code == 404
    assert admin_client.get(reverse("communication_create"), {"contact": "x"}).status_code == 404


def test_merge_with_a_hidden_contact_answers_404(admin_client, book, hide):
    other = Contact.objects.create(first_name="Ada", last_name="Okafor")
    merge = reverse("contact_merge")
    assert admin_client.get(merge, {"a": book[Contact].pk, "b": other.pk}).status_code == 200
    hide(other)
    assert admin_client.get(merge, {"a": book[Contact].pk, "b": other.pk}).status_code == 404


def test_a_board_drop_into_a_hidden_fund_or_stage_answers_404(admin_client, book, hide):
    opportunity = book[Opportunity]
    data = {"fund": book[Fund].pk, "stage": book[Stage].pk, "order": [opportunity.pk]}
    assert admin_client.post(reverse("pipeline_reorder"), data).status_code == 302
    hide(book[Stage])
    assert admin_client.post(reverse("pipeline_reorder"), data).status_code == 404
    assert admin_client.post(reverse("pipeline_reorder"), {**data, "stage": "x"}).status_code == 404


def test_bulk_tagging_leaves_a_hidden_contact_untouched(admin_client, book, hide):
    shown = Contact.objects.create(first_name="Bo", last_name="Lindqvist")
    hidden, tag = book[Contact], book[Tag]
    hide(hidden)
    data = {"action": "add_tag", "tag": tag.pk, "ids": [shown.pk, hidden.pk]}
    admin_client.post(reverse("contact_bulk"), data)
    assert list(tag.contacts.all()) == [shown]


def test_a_hidden_tag_is_no_choice_in_the_bulk_form_or_the_filters(admin_client, book, hide):
    hide(book[Tag])
    response = admin_client.post(
        reverse("contact_bulk"), {"action": "add_tag", "tag": book[Tag].pk, "ids": [book[Contact].pk]}
    )
    assert response.status_code == 302
    assert not book[Tag].contacts.exists()
    page = admin_client.get(reverse("contact_list")).content.decode()
    assert "Warm intro" not in page


def test_exports_leave_out_what_the_scope_hides(admin_client, book, hide):
    Contact.objects.create(first_name="Bo", last_name="Lindqvist")
    hide(book[Contact])
    rows = b"".join(admin_client.get(reverse("contact_export"), {"format": "csv"}).streaming_content).decode()
    assert "Lindqvist" in rows
    assert "Okafor" not in rows


# --- the helper itself --------------------------------------------------------------------


@pytest.mark.parametrize("pk", ["x", "", None, "1.5", 2**63, -(2**63) - 1])
def test_get_for_user_answers_404_for_an_id_that_is_not_a_record_id(member_user, book, pk):
    with pytest.raises(Http404):
        Contact.objects.get_for_user(member_user, pk)


def test_get_for_user_returns_the_record_with_what_the_queryset_chained(member_user, book, django_assert_num_queries):
    with django_assert_num_queries(1):
        contact = Contact.objects.select_related("organization").get_for_user(member_user, str(book[Contact].pk))
        assert contact.organization.name == "Atlas Family Office"


def test_get_for_user_hides_every_record_from_a_deactivated_user(member_user, book):
    member_user.is_active = False
    with pytest.raises(Http404):
        Contact.objects.get_for_user(member_user, book[Contact].pk)


def test_get_for_user_refuses_a_member_writing_a_commitment_but_lets_them_read_it(member_user, book):
    commitment = book[Commitment]
    assert Commitment.objects.get_for_user(member_user, commitment.pk) == commitment
    with pytest.raises(PermissionDenied):
        Commitment.objects.get_for_user(member_user, commitment.pk, write=True)


def test_get_for_user_lets_a_manager_write_a_commitment(manager_user, book):
    assert Commitment.objects.get_for_user(manager_user, book[Commitment].pk, write=True) == book[Commitment]


def test_get_for_user_lets_a_member_write_the_records_anyone_may_edit(member_user, book):
    for model in (Contact, Organization, Communication, Opportunity, LPProfile, Tag):
        assert model.objects.get_for_user(member_user, book[model].pk, write=True) == book[model]


def test_get_for_user_refuses_a_member_writing_a_fund_or_stage(member_user, book):
    for model in (Fund, Stage):
        with pytest.raises(PermissionDenied):
            model.objects.get_for_user(member_user, book[model].pk, write=True)


def test_a_hidden_fund_is_no_choice_on_the_import_mapping_step(admin_user, book, hide):
    from crm.imports.forms import MappingEditor
    from crm.imports.mapping import ImportOptions, complete
    from crm.imports.source import read_bytes

    source = read_bytes(b"Investor,Fund,Amount\nAda Okafor,Fund III,100\n", "commitments.csv")
    Fund.objects.create(name="Fund IV", vintage_year=2027)
    editor = MappingEditor(source, complete(source, "commitments"), ImportOptions("UTC"), user=admin_user)
    assert [name for name, _ in editor.fund_choices()] == ["", "Fund IV", "Fund III"]
    hide(book[Fund])
    assert [name for name, _ in editor.fund_choices()] == ["", "Fund IV"]
