"""Who may change money, compliance and the fund set-up, walked role × path.

The rules live in crm.permissions and on the guarded models' WRITE_RULES. This module
checks every path that writes commitments, LP profiles, funds or stages — routes, form
fields and board actions — for every role, by what ends up in the database, and it fails
when a route, a guarded model field or a form field appears without a rule here.
"""

from __future__ import annotations

import contextlib
import datetime
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse

from conftest import HX, make_user
from contacts.models import Contact, ContactType, Organization, OrganizationType
from crm.models import ROLE_RANK, Role
from crm.permissions import ANY_FIELD, CAPABILITY_ROLES, Capability, GuardedModel, acting_as, as_system, can
from crm.tests.test_access import ROUTE_ROLES
from lps.documents import save_document
from lps.forms import CommitmentForm, LPProfileForm
from lps.models import (
    CallLine,
    CapitalCall,
    Close,
    Commitment,
    CommitmentStatus,
    ComplianceCheck,
    Distribution,
    DistributionLine,
    Document,
    Fund,
    FundStatus,
    K1Delivery,
    LPProfile,
    MFNElection,
    MFNRound,
    ProvisionCategory,
    ReupAsk,
    SideLetter,
    SideLetterProvision,
)
from pipeline import services
from pipeline.forms import MoveForm, OpportunityForm
from pipeline.models import Opportunity, Stage

pytestmark = pytest.mark.django_db

ROLES = (Role.ADMIN, Role.MANAGER, Role.MEMBER)


# --- the world every case starts from -------------------------------------------------------


@dataclass
class World:
    fund: Fund
    old_fund: Fund
    stages: dict[str, Stage]
    lp_contact: Contact
    profile: LPProfile
    commitment: Commitment  # closed, $25M, in the fund being raised
    won: Opportunity  # the LP's won deal in that fund
    open_deal: Opportunity  # a prospect's deal in Due diligence
    prospect: Contact
    duplicate: Contact  # another record of the LP, for a merge
    close: Close  # the fund's planned first close, the LP's signed commitment expected at it
    line: CallLine  # Cy Tan's line of a first capital call, nothing received yet
    side_letter: SideLetter  # Ada's side letter, with an MFN provision
    election: MFNElection  # Ada's pending election in the fund's MFN round
    document: Document  # the LP's subscription documents, a small text file


@pytest.fixture
def world(db) -> World:
    fund = Fund.objects.create(name="Fund II", vintage_year=2025, status=FundStatus.RAISING)
    old_fund = Fund.objects.create(name="Fund I", vintage_year=2019, status=FundStatus.CLOSED)
    stages = {stage.name: stage for stage in Stage.objects.all()}
    org = Organization.objects.create(name="Okafor Family Office")
    lp_contact = Contact.objects.create(first_name="Ada", last_name="Okafor", organization=org, email="ada@ex.com")
    profile = LPProfile.objects.create(contact=lp_contact, investor_type=OrganizationType.FAMILY_OFFICE)
    commitment = Commitment.objects.create(
        lp=profile, fund=fund, status=CommitmentStatus.CLOSED, commitment_amount=Decimal("25000000")
    )
    won = Opportunity.objects.create(
        name="Okafor — Fund II", contact=lp_contact, fund=fund, stage=stages["Committed"],
        expected_amount=Decimal("25000000"), commitment_amount=Decimal("25000000"),
    )  # fmt: skip
    prospect = Contact.objects.create(first_name="Bo", last_name="Chen", contact_type=ContactType.PROSPECT)
    open_deal = Opportunity.objects.create(
        name="Chen — Fund II", contact=prospect, fund=fund, stage=stages["Due diligence"],
        expected_amount=Decimal("5000000"),
    )  # fmt: skip
    duplicate = Contact.objects.create(first_name="Ada", last_name="Okafor", email="ada.okafor@ex.com")
    close = Close.objects.create(fund=fund, name="First close", date=datetime.date(2026, 3, 31))
    signed = LPProfile.objects.create(contact=Contact.objects.create(first_name="Cy", last_name="Tan"))
    signed_commitment = Commitment.objects.create(
        lp=signed, fund=fund, status=CommitmentStatus.SIGNED, commitment_amount=Decimal("1000000"), close=close
    )
    call = CapitalCall.objects.create(fund=fund, number=1, notice_date=close.date, due_date=close.date, amount=1000)
    line = CallLine.objects.create(call=call, commitment=signed_commitment, amount=Decimal("1000"))
    side_letter = SideLetter.objects.create(commitment=commitment, signed_date=close.date)
    SideLetterProvision.objects.create(side_letter=side_letter, category=ProvisionCategory.MFN, text="MFN on fees.")
    mfn_round = MFNRound.objects.create(fund=fund, sent_date=close.date, deadline=close.date)
    election = MFNElection.objects.create(round=mfn_round, commitment=commitment)
    with as_system():
        document = save_document(Document(lp=profile), SimpleUploadedFile("kept.txt", b"Kept."), None)
    return World(
        fund, old_fund, stages, lp_contact, profile, commitment, won, open_deal, prospect, duplicate, close, line,
        side_letter, election, document,
    )  # fmt: skip


def guarded_state() -> tuple:
    """Everything the rules protect, as plain values: any change shows as a difference."""
    commitments = tuple(Commitment.objects.order_by("pk").values_list())
    owners = tuple(Commitment.objects.order_by("pk").values_list("pk", "lp__contact_id"))
    compliance = frozenset(
        LPProfile.objects.filter(accredited=True).values_list("contact_id", "accredited", "qualified_purchaser")
    ) | frozenset(LPProfile.objects.filter(qualified_purchaser=True).values_list("contact_id", "qualified_purchaser"))
    funds = tuple(Fund.objects.order_by("pk").values_list())
    stages = tuple(Stage.objects.order_by("pk").values_list())
    closes = tuple(Close.objects.order_by("pk").values_list())
    calls = tuple(CapitalCall.objects.order_by("pk").values_list()) + tuple(
        CallLine.objects.order_by("pk").values_list()
    )
    asks = tuple(ReupAsk.objects.order_by("pk").values_list())
    distributions = tuple(Distribution.objects.order_by("pk").values_list()) + tuple(
        DistributionLine.objects.order_by("pk").values_list()
    )
    side_letters = tuple(
        tuple(model.objects.order_by("pk").values_list()) for model in (SideLetter, SideLetterProvision, MFNRound)
    ) + tuple(MFNElection.objects.order_by("pk").values_list("pk", "status", "decided_on", "elected_provisions"))
    checks = tuple(ComplianceCheck.objects.order_by("pk").values_list())
    k1s = tuple(K1Delivery.objects.order_by("pk").values_list())
    documents = tuple(Document.objects.order_by("pk").values_list())
    return commitments, owners, compliance, funds, stages, closes, calls, asks, distributions, side_letters, checks, \
        k1s, documents  # fmt: skip


# --- every path that writes guarded data ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    route: str  # the URL name, or "" for a path that is not a route (a command)
    what: str
    capability: Capability
    attempt: Callable[..., object]  # (client, world) -> response


def _opportunity_data(w: World, opportunity: Opportunity, **changes) -> dict:
    data = {
        "contact": opportunity.contact_id,
        "name": opportunity.name,
        "fund": opportunity.fund_id,
        "stage": opportunity.stage_id,
        "expected_amount": str(opportunity.expected_amount),
        "commitment_amount": "" if opportunity.commitment_amount is None else str(opportunity.commitment_amount),
        "priority": opportunity.priority,
    }
    data.update(changes)
    return data


def _commitment_data(w: World, **changes) -> dict:
    data = {"fund": w.fund.pk, "status": CommitmentStatus.CLOSED, "commitment_amount": "25000000",
            "funded_amount": "0"}  # fmt: skip
    data.update(changes)
    return data


def _lost_history(w: World) -> None:
    """Five Fund I deals that reached Meeting and were passed on: Meeting calibrates to 0%."""
    for n in range(5):
        deal = Opportunity.objects.create(name=f"Old {n}", contact=w.prospect, fund=w.old_fund,
                                          stage=w.stages["Meeting"], expected_amount=Decimal("1000000"))  # fmt: skip
        deal.stage, deal.lost_reason = w.stages["Passed"], "Timing"
        deal.save()


def _no_closes_changed(w: World) -> dict:
    """The fund admin page's closes inline, posted back as it was shown."""
    close = w.close
    return {
        "closes-TOTAL_FORMS": "1", "closes-INITIAL_FORMS": "1", "closes-MIN_NUM_FORMS": "0",
        "closes-MAX_NUM_FORMS": "1000", "closes-0-id": str(close.pk), "closes-0-fund": str(w.fund.pk),
        "closes-0-name": close.name, "closes-0-date": close.date.isoformat(), "closes-0-minimum_amount": "",
        "closes-0-state": close.state,
    }  # fmt: skip


COMPLIANT = {"accredited": "on", "qualified_purchaser": "on"}


def _provisions(*new: tuple[str, str]) -> dict:
    """A side letter form's provisions formset, with ``new`` (category, text) rows and no others."""
    data = {"provisions-TOTAL_FORMS": str(len(new)), "provisions-INITIAL_FORMS": "0",
            "provisions-MIN_NUM_FORMS": "0", "provisions-MAX_NUM_FORMS": "100"}  # fmt: skip
    for n, (category, text) in enumerate(new):
        data.update({f"provisions-{n}-category": category, f"provisions-{n}-text": text})
    return data


def _checks() -> dict:
    """The compliance form with every check not started."""
    return {f"{kind}-status": "not_started" for kind in ("accreditation", "qualified_purchaser", "kyc_aml")}


CASES = [
    Case("commitment_create", "add a commitment", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("commitment_create", args=[w.profile.pk]),
                             _commitment_data(w, fund=w.old_fund.pk, commitment_amount="1000000"))),
    Case("commitment_edit", "rewrite a commitment's amount", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("commitment_edit", args=[w.commitment.pk]),
                             _commitment_data(w, commitment_amount="1"))),
    Case("commitment_toggle", "tick the wire", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("commitment_toggle", args=[w.commitment.pk]), {"field": "wire_received"})),
    Case("commitment_toggle", "tick the K-1", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("commitment_toggle", args=[w.commitment.pk]), {"field": "k1_sent"})),
    Case("commitment_toggle", "tick accredited", Capability.CHANGE_COMPLIANCE,
         lambda c, w: c.post(reverse("commitment_toggle", args=[w.commitment.pk]), {"field": "accredited"})),
    Case("lp_create", "make a prospect an accredited LP", Capability.CHANGE_COMPLIANCE,
         lambda c, w: c.post(f"{reverse('lp_create')}?contact={w.prospect.pk}",
                             {"investor_type": OrganizationType.INDIVIDUAL, **COMPLIANT})),
    Case("lp_edit", "mark an LP accredited and qualified", Capability.CHANGE_COMPLIANCE,
         lambda c, w: c.post(reverse("lp_edit", args=[w.profile.pk]),
                             {"investor_type": OrganizationType.FAMILY_OFFICE, **COMPLIANT})),
    Case("opportunity_create", "add a $1 deal straight into Committed for a $25M LP", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("opportunity_create"),
                             _opportunity_data(w, w.won, name="Again", stage=w.stages["Committed"].pk,
                                               commitment_amount="1"))),
    Case("opportunity_edit", "edit a won deal's commitment amount", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("opportunity_edit", args=[w.won.pk]),
                             _opportunity_data(w, w.won, commitment_amount="99999999"))),
    Case("opportunity_edit", "edit an open deal into Committed", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("opportunity_edit", args=[w.open_deal.pk]),
                             _opportunity_data(w, w.open_deal, stage=w.stages["Committed"].pk))),
    Case("opportunity_edit", "edit a won deal out of won, deleting its commitment", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("opportunity_edit", args=[w.won.pk]),
                             _opportunity_data(w, w.won, stage=w.stages["Meeting"].pk, commitment_action="delete"))),
    Case("opportunity_move", "move an open deal to Committed", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("opportunity_move", args=[w.open_deal.pk]), {"stage": w.stages["Committed"].pk})),
    Case("opportunity_move", "move a won deal to Funded", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("opportunity_move", args=[w.won.pk]), {"stage": w.stages["Funded"].pk})),
    Case("opportunity_move", "move a won deal out, deleting the commitment", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("opportunity_move", args=[w.won.pk]),
                             {"stage": w.stages["Meeting"].pk, "commitment_action": "delete"})),
    Case("api:api_opportunity_move", "move an open deal to Committed through the API", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("api:api_opportunity_move", args=[w.open_deal.pk]),
                             {"stage_id": w.stages["Committed"].pk}, content_type="application/json")),
    Case("api:api_opportunity_move", "move a won deal out through the API, deleting the commitment",
         Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("api:api_opportunity_move", args=[w.won.pk]),
                             {"stage_id": w.stages["Meeting"].pk, "commitment_action": "delete"},
                             content_type="application/json")),
    Case("api:api_opportunity_create", "add a $1 deal straight into Committed through the API",
         Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("api:api_opportunity_create"),
                             {"contact_id": w.lp_contact.pk, "fund_id": w.fund.pk, "name": "Again",
                              "stage_id": w.stages["Committed"].pk, "commitment_amount": "1"},
                             content_type="application/json")),
    Case("api:api_opportunity_edit", "edit a won deal's commitment amount through the API",
         Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.patch(reverse("api:api_opportunity_edit", args=[w.won.pk]),
                              {"commitment_amount": "99999999"}, content_type="application/json")),
    Case("api:api_lp_create", "make a prospect an accredited LP through the API", Capability.CHANGE_COMPLIANCE,
         lambda c, w: c.post(reverse("api:api_lp_create"),
                             {"contact_id": w.prospect.pk, "accredited": True, "qualified_purchaser": True},
                             content_type="application/json")),
    Case("api:api_lp_edit", "mark an LP accredited through the API", Capability.CHANGE_COMPLIANCE,
         lambda c, w: c.patch(reverse("api:api_lp_edit", args=[w.profile.pk]), {"accredited": True},
                              content_type="application/json")),
    Case("api:api_commitment_create", "add a commitment through the API", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("api:api_commitment_create", args=[w.profile.pk]),
                             {"fund_id": w.old_fund.pk, "commitment_amount": "1000000"},
                             content_type="application/json")),
    Case("api:api_commitment_edit", "rewrite a commitment's amount through the API", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.patch(reverse("api:api_commitment_edit", args=[w.commitment.pk]),
                              {"commitment_amount": "1"}, content_type="application/json")),
    Case("pipeline_reorder", "drop an open card into Committed on the board", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("pipeline_reorder"),
                             {"fund": w.fund.pk, "stage": w.stages["Committed"].pk,
                              "order": [w.won.pk, w.open_deal.pk]},
                             headers=HX)),
    Case("contact_merge", "merge the LP's duplicate into them (moves the LP profile)", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("contact_merge"), {"a": w.duplicate.pk, "b": w.lp_contact.pk, "survivor": "a"})),
    Case("contact_delete", "delete the LP's contact (and with it the commitment)", Capability.CHANGE_COMMITMENTS,
         lambda c, w: (w.won.delete(), c.post(reverse("contact_delete", args=[w.lp_contact.pk])))[1]),
    Case("admin:lps_commitment_change", "change a commitment in the Django admin", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("admin:lps_commitment_change", args=[w.commitment.pk]),
                             {**_commitment_data(w, commitment_amount="2"), "lp": w.profile.pk,
                              "investing_entity": ""})),
    Case("admin:lps_fund_change", "rename a fund in the Django admin", Capability.CONFIGURE_FUNDS,
         lambda c, w: c.post(reverse("admin:lps_fund_change", args=[w.fund.pk]),
                             {"name": "Renamed", "currency": "USD", "status": FundStatus.RAISING,
                              "late_close_interest_rate": "0", **_no_closes_changed(w)})),
    Case("admin:lps_fund_change", "move a close's date in the fund's admin page", Capability.CONFIGURE_FUNDS,
         lambda c, w: c.post(reverse("admin:lps_fund_change", args=[w.fund.pk]),
                             {"name": w.fund.name, "currency": "USD", "status": FundStatus.RAISING,
                              "late_close_interest_rate": "0", **_no_closes_changed(w),
                              "closes-0-date": "2026-06-30"})),
    Case("stage_calibration_adopt", "adopt calibrated stage probabilities", Capability.CONFIGURE_FUNDS,
         lambda c, w: (_lost_history(w), c.post(reverse("stage_calibration_adopt"), {"fund": w.fund.pk}))[1]),
    Case("capital_call_create", "call capital from the fund's LPs", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("capital_call_create", args=[w.fund.pk]),
                             {"notice_date": "2026-09-01", "due_date": "2026-09-15", "purpose": "investments",
                              "amount": "100000"})),
    Case("call_line_receipt", "record an LP's payment of a call", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("call_line_receipt", args=[w.line.pk]),
                             {"amount": "500", "received_on": "2026-09-10"})),
    Case("distribution_create", "distribute to the fund's LPs pro rata to commitments", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("distribution_create", args=[w.fund.pk]),
                             {"date": "2026-10-01", "amount": "1000", "return_of_capital": "600", "gain": "400",
                              "income": "0", "basis": "commitments"})),
    Case("k1_record", "record an LP's K-1 as sent", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("k1_record", args=[w.commitment.pk]),
                             {f"k1-{w.commitment.pk}-tax_year": "2025", f"k1-{w.commitment.pk}-sent_on": "2026-03-01",
                              f"k1-{w.commitment.pk}-method": "email"})),
    Case("lp_document_upload", "attach subscription documents to an LP", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("lp_document_upload", args=[w.profile.pk]),
                             {"file": SimpleUploadedFile("sub.txt", b"Signed."), "kind": "subscription",
                              "owner": "lp"})),
    Case("call_line_document_upload", "attach a notice to a call line", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("call_line_document_upload", args=[w.line.pk]),
                             {f"doc-{w.line.pk}-file": SimpleUploadedFile("n.txt", b"Notice."),
                              f"doc-{w.line.pk}-kind": "notice"})),
    Case("document_delete", "remove an LP's document", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("document_delete", args=[w.document.pk]))),
    Case("reup_ask_edit", "set a prior LP's re-up ask", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("reup_ask_edit", args=[w.profile.pk]),
                             {"fund": w.fund.pk, "amount": "30000000", "asked_on": "2026-01-15"})),
    Case("side_letter_create", "add a side letter granting a fee discount", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("side_letter_create", args=[w.commitment.pk]),
                             {"signed_date": "2026-04-01", "notes": "", **_provisions(("fees", "Half the fee."))})),
    Case("side_letter_edit", "rewrite a side letter's date", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("side_letter_edit", args=[w.side_letter.pk]),
                             {"signed_date": "2020-01-01", "notes": "", **_provisions()})),
    Case("mfn_round_create", "send an MFN election round", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("mfn_round_create"),
                             {"fund": w.fund.pk, "sent_date": "2026-05-01", "deadline": "2026-06-01"})),
    Case("mfn_election_edit", "record an LP's MFN decline", Capability.CHANGE_COMMITMENTS,
         lambda c, w: c.post(reverse("mfn_election_edit", args=[w.election.pk]),
                             {f"e{w.election.pk}-status": "declined", f"e{w.election.pk}-decided_on": "2026-05-02"})),
    Case("compliance_edit", "mark an LP's KYC verified", Capability.CHANGE_COMPLIANCE,
         lambda c, w: c.post(reverse("compliance_edit", args=[w.profile.pk]),
                             {**_checks(), "kyc_aml-status": "verified", "kyc_aml-verified_on": "2026-01-05"})),
    Case("close_hold", "hold a close, accepting its signed commitments", Capability.CONFIGURE_FUNDS,
         lambda c, w: c.post(reverse("close_hold", args=[w.close.pk]))),
    Case("admin:pipeline_stage_delete", "delete a stage in the Django admin", Capability.CONFIGURE_FUNDS,
         lambda c, w: c.post(reverse("admin:pipeline_stage_delete", args=[w.stages["Lead"].pk]), {"post": "yes"})),
]  # fmt: skip

# Routes that write nothing these rules guard (they may write other records). A new URL name
# must be put here or get a case above: test_every_route_is_classified fails otherwise.
ROUTES_WITHOUT_GUARDED_WRITES = {
    "audit_export", "audit_log",
    "saved_view_create", "saved_view_delete",
    "action_done", "action_reschedule", "actions", "actions_more", "commitment_export",
    "task_list", "task_create", "task_edit", "task_done", "task_snooze", "task_delete", "action_to_task",
    "contact_tasks", "opportunity_tasks",
    "communication_create",
    "communication_delete", "communication_detail", "communication_edit", "communication_export",
    "communication_list", "communication_opportunity_options", "contact_bulk", "contact_create",
    "contact_detail", "contact_edit", "contact_export", "contact_list", "contact_organization_options",
    "contact_picker", "contact_timeline", "dashboard", "dashboard_export", "favicon", "global_search", "health",
    "import_cancel", "import_detail", "import_discard",
    "import_progress", "import_row_report", "import_entity", "import_history", "import_mapping",
    "import_mapping_download", "import_mappings", "import_preview", "import_saved_mapping_delete",
    "import_saved_mapping_download", "import_start", "login", "logout", "lp_detail", "lp_list",
    "opportunity_delete", "opportunity_detail", "opportunity_export", "opportunity_list", "organization_create",
    "organization_delete", "organization_detail", "organization_edit", "organization_export", "organization_list",
    "password_change", "password_change_done", "pipeline_board", "pipeline_board_cards", "stage_calibration",
    "pipeline_changes",
    "organization_picker", "report_concentration_export", "report_ladder_export", "close_planner",
    "capital_calls", "capital_call_detail",
    "call_notices", "call_notice", "distributions", "distribution_detail", "distribution_notices",
    "distribution_notice", "capital_accounts", "capital_account_export",
    "k1_status", "document_download",
    "reup_list", "reup_export", "reup_opportunity_create",
    "side_letter_register", "side_letter_export", "mfn_round_detail",
    "report_conversion_export", "report_fundraising_export", "report_team_export", "reports_index", "settings",
    "settings_password", "settings_profile", "tag_create", "tag_delete", "tag_edit", "tag_list",
    "two_factor_verify", "two_factor_enrol", "two_factor_recovery_codes", "two_factor_remove",
    "passkey_verify_begin", "passkey_verify_complete", "passkey_register_begin", "passkey_register_complete",
    "passkey_rename", "passkey_remove", "api_token_create", "api_token_revoke",
    "calendar_feed_create", "calendar_feed_revoke", "calendar_feed",
    "mailbox_save", "mailbox_disconnect", "mailbox_sync",
    "communication_attachment_keep", "communication_attachment",
    "api:api-root", "api:openapi-json", "api:openapi-view", "api:api_contact_list", "api:api_contact_create",
    "api:api_contact_detail", "api:api_contact_edit", "api:api_organization_list", "api:api_organization_detail",
    "api:api_tag_list", "api:api_opportunity_list", "api:api_opportunity_detail", "api:api_fund_list",
    "api:api_stage_list", "api:api_user_list", "api:api_communication_list", "api:api_communication_create",
    "api:api_communication_detail", "api:api_dashboard", "api:api_commitment_list", "api:api_lp_detail",
    "api:api_report", "api:api_organization_create", "api:api_organization_edit", "api:api_tag_create",
    "api:api_tag_detail", "api:api_tag_edit", "api:api_commitment_detail",
    "api:api_task_list", "api:api_task_create", "api:api_task_detail", "api:api_task_edit", "api:api_task_done",
    "api:api_import_detail", "api:api_fund_ladder", "api:api_fund_closes", "api:api_capital_call_list",
    "api:api_capital_call_detail",
}  # fmt: skip
# Imports write commitments and funds through the same models (checked below with the
# engine itself, as the wizard and import_airtable run it): routes open to managers only.
IMPORT_ROUTES = {"import_run", "import_undo", "api:api_import_create"}


def _route_role(route: str) -> str:
    return Role.ADMIN if route.startswith("admin:") else ROUTE_ROLES[route]


def _expected(role: str, case: Case) -> bool:
    needed = max(ROLE_RANK[_route_role(case.route)], ROLE_RANK[CAPABILITY_ROLES[case.capability]])
    return ROLE_RANK[role] >= needed


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[f"{c.route}: {c.what}" for c in CASES])
def test_each_role_can_do_exactly_what_its_capabilities_allow(client, world, role, case):
    user = make_user(f"user-{role}", role)
    client.force_login(user)
    before = guarded_state()

    response = case.attempt(client, world)

    assert response.status_code < 500, response.content[:300]
    changed = guarded_state() != before
    assert changed is _expected(role, case), f"{role} {'could not' if _expected(role, case) else 'could'} {case.what}"


def test_every_route_is_classified():
    classified = {c.route for c in CASES if not c.route.startswith("admin:")}
    classified |= ROUTES_WITHOUT_GUARDED_WRITES | IMPORT_ROUTES
    assert set(ROUTE_ROLES) == classified, "classify the new route here: does it write guarded data?"


def test_every_field_of_a_guarded_model_has_a_rule():
    guarded = [m for m in apps.get_models() if issubclass(m, GuardedModel)]
    assert {m._meta.label for m in guarded} >= {"lps.Commitment", "lps.LPProfile", "lps.Fund", "pipeline.Stage"}
    for model in guarded:
        rules = model.WRITE_RULES
        if ANY_FIELD in rules:
            continue
        names = {f.name for f in model._meta.concrete_fields}
        assert names == set(rules), f"{model._meta.label}: give each field a rule ({names ^ set(rules)})"


# --- forms offer only what the user may do ----------------------------------------------------

# Every field of each form that writes guarded data, with what the rule does to it. A new
# field without an entry fails test_every_form_field_has_a_rule.
FORM_FIELD_RULES: dict[type, dict[str, str]] = {
    LPProfileForm: {
        "contact": "open", "investor_type": "open", "preferred_communication": "open", "notes": "open",
        "accredited": "removed", "qualified_purchaser": "removed",
    },
    OpportunityForm: {
        "contact": "open", "name": "open", "organization": "open", "fund": "open", "probability": "open",
        "expected_amount": "open", "expected_close_date": "open", "owner": "open", "priority": "open",
        "next_step": "open", "next_step_date": "open", "source": "open", "lost_reason": "open", "description": "open",
        "stage": "won stages hidden", "commitment_amount": "disabled on a won deal",
        "commitment_action": "delete hidden",
    },
    MoveForm: {
        "lost_reason": "open", "order": "open", "next": "open",
        "stage": "won stages hidden", "commitment_action": "delete hidden",
    },
    # The whole form is for managers (its routes refuse others, and the model refuses them too).
    CommitmentForm: dict.fromkeys(CommitmentForm.base_fields, "route"),
}  # fmt: skip


def _forms(world: World, user) -> dict[type, object]:
    return {
        LPProfileForm: LPProfileForm(user=user),
        OpportunityForm: OpportunityForm(instance=world.won, user=user),
        MoveForm: MoveForm(opportunity=world.won, user=user),
        CommitmentForm: CommitmentForm(instance=world.commitment, user=user),
    }


def test_every_form_field_has_a_rule(world, admin_user):
    for form_class, form in _forms(world, admin_user).items():
        assert set(form.fields) == set(FORM_FIELD_RULES[form_class]), form_class.__name__


@pytest.mark.parametrize("role", ROLES)
def test_forms_offer_a_field_only_to_a_role_that_may_change_it(world, role):
    user = make_user(f"user-{role}", role)
    money = can(user, Capability.CHANGE_COMMITMENTS)
    compliance = can(user, Capability.CHANGE_COMPLIANCE)
    won_names = {"Committed", "Funded"}
    for form_class, form in _forms(world, user).items():
        for name, rule in FORM_FIELD_RULES[form_class].items():
            if rule == "removed":
                assert (name in form.fields) is compliance, (form_class.__name__, name)
            elif rule == "won stages hidden":
                offered = {label for _value, label in form.fields[name].widget.choices}
                # The deal's own (won) stage stays offered so the rest of it can be saved.
                assert (won_names - {world.won.stage.name}) <= offered if money else not (offered & {"Funded"})
            elif rule == "disabled on a won deal":
                assert form.fields[name].disabled is not money
            elif rule == "delete hidden":
                assert form.offers_delete is money
    edit = OpportunityForm(instance=world.open_deal, user=user)
    offered = {label for _value, label in edit.fields["stage"].widget.choices}
    assert bool(offered & won_names) is money
    assert not edit.fields["commitment_amount"].disabled, "an open deal's expected commitment is anyone's to edit"


def test_the_board_locks_won_columns_for_a_member_only(client, world, member_user, manager_user):
    for user, locked in ((member_user, True), (manager_user, False)):
        client.force_login(user)
        html = client.get(f"{reverse('pipeline_board')}?fund={world.fund.pk}").content.decode()
        committed = f'data-stage="{world.stages["Committed"].pk}" data-outcome="won"'
        assert (f"{committed} data-locked" in html) is locked
        assert f'data-stage="{world.stages["Meeting"].pk}" data-outcome="open" data-locked' not in html


# --- what a refused member sees, and what still works for them -----------------------------------


def test_a_members_move_to_committed_is_refused_with_the_reason_and_the_card_stays(member_client, world):
    response = member_client.post(
        reverse("opportunity_move", args=[world.open_deal.pk]), {"stage": world.stages["Committed"].pk}, headers=HX
    )
    assert response.status_code == 200
    assert "Only a manager or admin may move a deal to Committed" in response.content.decode()
    world.open_deal.refresh_from_db()
    assert world.open_deal.stage == world.stages["Due diligence"]
    assert not Commitment.objects.filter(lp__contact=world.prospect).exists()
    assert not LPProfile.objects.filter(contact=world.prospect).exists(), "no LP profile left behind"


def test_a_members_drop_into_committed_leaves_the_card_in_its_column_with_a_message(member_client, world):
    response = member_client.post(
        reverse("pipeline_reorder"),
        {"fund": world.fund.pk, "stage": world.stages["Committed"].pk, "order": [world.open_deal.pk, world.won.pk]},
        headers=HX,
    )
    html = response.content.decode()
    assert "Bo Chen stayed where they were" in html
    assert f'id="column-{world.stages["Due diligence"].pk}"' in html, "its own column is re-rendered with it"
    world.open_deal.refresh_from_db()
    assert world.open_deal.stage == world.stages["Due diligence"]


def test_a_member_still_moves_cards_between_open_stages_and_out_of_won_keeping_the_commitment(
    member_client, member_user, world
):
    member_client.post(reverse("opportunity_move", args=[world.open_deal.pk]), {"stage": world.stages["Meeting"].pk})
    world.open_deal.refresh_from_db()
    assert world.open_deal.stage == world.stages["Meeting"]

    member_client.post(
        reverse("opportunity_move", args=[world.won.pk]),
        {"stage": world.stages["Meeting"].pk, "commitment_action": "keep"},
    )
    world.won.refresh_from_db()
    assert world.won.stage == world.stages["Meeting"]
    assert Commitment.objects.get(pk=world.commitment.pk).commitment_amount == Decimal("25000000")
    assert world.won.history.latest().history_user == member_user


def test_a_member_edits_a_won_deals_next_step_without_touching_its_commitment(member_client, world):
    data = _opportunity_data(world, world.won, next_step="Send the K-1 pack", commitment_amount="1")
    response = member_client.post(reverse("opportunity_edit", args=[world.won.pk]), data)
    assert response.status_code == 302
    world.won.refresh_from_db()
    assert world.won.next_step == "Send the K-1 pack"
    assert world.won.commitment_amount == Decimal("25000000"), "a disabled field keeps its value"


def test_the_move_dialog_offers_a_member_no_delete(member_client, world):
    url = f"{reverse('opportunity_move', args=[world.won.pk])}?stage={world.stages['Meeting'].pk}"
    html = member_client.get(url, headers=HX).content.decode()
    assert "Keep the commitment" in html
    assert 'value="delete"' not in html and "Only a manager or admin may delete a commitment" in html


def test_a_member_posting_delete_anyway_gets_the_reason_and_nothing_moves(member_client, world):
    response = member_client.post(
        reverse("opportunity_move", args=[world.won.pk]),
        {"stage": world.stages["Meeting"].pk, "commitment_action": "delete"},
        headers=HX,
    )
    assert "Only a manager or admin may delete a commitment" in response.content.decode()
    world.won.refresh_from_db()
    assert world.won.stage == world.stages["Committed"]
    assert Commitment.objects.filter(pk=world.commitment.pk).exists()


def test_a_member_creates_an_lp_profile_without_compliance_flags(member_client, member_user, world):
    url = f"{reverse('lp_create')}?contact={world.prospect.pk}"
    form = member_client.get(url).content.decode()
    assert 'name="accredited"' not in form and 'name="qualified_purchaser"' not in form
    member_client.post(url, {"investor_type": OrganizationType.INDIVIDUAL, "accredited": "on"})
    profile = LPProfile.objects.get(contact=world.prospect)
    assert not profile.accredited
    assert profile.history.get().history_user == member_user


# --- the model layer refuses whatever path the write took -----------------------------------------


def test_the_model_refuses_a_members_commitment_write_on_any_path(world, member_user, manager_user):
    world.commitment.commitment_amount = Decimal("1")
    world.commitment._history_user = member_user
    with pytest.raises(PermissionDenied, match="Only a manager or admin may create, change or delete commitments"):
        world.commitment.save()
    fresh = Commitment.objects.get(pk=world.commitment.pk)
    # A refused delete breaks the transaction it is in (Django's collector marks it), as in a
    # request, which then rolls back whole: a savepoint stands in for the request here.
    with acting_as(member_user), pytest.raises(PermissionDenied), transaction.atomic():
        fresh.delete()
    with acting_as(manager_user):
        fresh.commitment_amount = Decimal("26000000")
        fresh.save()
    assert Commitment.objects.get(pk=fresh.pk).commitment_amount == Decimal("26000000")


def test_the_model_refuses_a_members_compliance_change_but_not_their_notes(world, member_user):
    profile = LPProfile.objects.get(pk=world.profile.pk)
    with acting_as(member_user):
        profile.notes = "Prefers calls on Fridays"
        profile.save()
        profile.accredited = True
        with pytest.raises(PermissionDenied, match="compliance"):
            profile.save()
        with pytest.raises(PermissionDenied):
            LPProfile.objects.create(contact=world.prospect, qualified_purchaser=True)
    profile.refresh_from_db()
    assert profile.notes == "Prefers calls on Fridays" and not profile.accredited


def test_funds_and_stages_are_refused_to_a_member_and_allowed_to_the_system(world, member_user):
    with acting_as(member_user), pytest.raises(PermissionDenied, match="funds and pipeline stages"):
        Fund.objects.create(name="Fund III")
    with acting_as(member_user), pytest.raises(PermissionDenied), transaction.atomic():
        world.stages["Lead"].delete()
    Fund.objects.create(name="Fund III")  # a management command (no acting user) is the system


def test_a_won_move_by_a_member_through_the_service_is_refused_whole(world, member_user):
    with pytest.raises(services.MoveRefused, match="Only a manager or admin may move a deal to Funded"):
        services.move_opportunity(world.won, world.stages["Funded"], member_user)
    assert Opportunity.objects.get(pk=world.won.pk).stage == world.stages["Committed"]


def test_an_import_by_a_member_writes_nothing(tmp_path, world, member_user):
    before = guarded_state()
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "Commitments.csv").write_text(
        "Investor,E-mail,Fund,Commitment Status,Amount Committed\nAda Okafor,ada@ex.com,Fund II,Closed,$1\n",
        encoding="utf-8",
    )
    with contextlib.suppress(CommandError):  # refused before or during the import: either way…
        call_command("import_airtable", str(folder), "--user", member_user.username, stdout=io.StringIO())
    assert guarded_state() == before
