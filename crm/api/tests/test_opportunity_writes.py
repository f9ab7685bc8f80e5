"""Deals added and edited through the API: the opportunity form's rules, the board's rules for a
won stage, and history naming the user and the API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.testing.factories import commitment, contact, fund, lp, opportunity, org, stage
from lps.models import Commitment
from pipeline.models import Opportunity

pytestmark = pytest.mark.django_db

ROLES = ["admin", "manager", "member"]


@pytest.fixture(params=ROLES)
def any_api(request):
    return request.getfixturevalue(f"{request.param}_api")


def test_every_role_adds_a_deal_named_as_the_form_names_it_with_history_naming_the_api(any_api):
    atlas = org("Atlas Family Office")
    ada = contact("Okafor", organization=atlas)
    fund_iii = fund("Fund III")
    created = any_api.post(
        "/api/v1/opportunities",
        {"contact_id": ada.pk, "fund_id": fund_iii.pk, "stage_id": stage("Lead").pk, "expected_amount": "5000000"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["organization_id"], body["stage_name"]) == (
        "Atlas Family Office — Fund III",
        atlas.pk,
        "Lead",
    )
    deal = Opportunity.objects.get(pk=body["id"])
    assert (deal.created_by, deal.expected_amount) == (any_api.user, Decimal("5000000"))
    latest = deal.history.latest()
    assert (latest.history_user, latest.history_change_reason.endswith("(API)")) == (any_api.user, True)


def test_a_deal_without_contact_or_fund_is_a_422_with_the_form_field_errors(member_api):
    refused = member_api.post("/api/v1/opportunities", {"stage_id": stage("Lead").pk, "priority": "urgent"})
    assert refused.status_code == 422
    assert {"contact", "fund", "priority"} <= set(refused.json()["errors"])
    assert not Opportunity.objects.exists()


def test_a_lost_stage_without_a_reason_is_a_422_naming_the_field(member_api):
    refused = member_api.post(
        "/api/v1/opportunities", {"contact_id": contact().pk, "fund_id": fund().pk, "stage_id": stage("Passed").pk}
    )
    assert refused.status_code == 422
    assert "lost_reason" in refused.json()["errors"]


def test_a_member_may_not_add_a_deal_in_a_won_stage_and_is_told_why(member_api):
    refused = member_api.post(
        "/api/v1/opportunities", {"contact_id": contact().pk, "fund_id": fund().pk, "stage_id": stage("Committed").pk}
    )
    assert refused.status_code == 403
    assert "manager or admin" in refused.json()["detail"]
    assert not Opportunity.objects.exists() and not Commitment.objects.exists()


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_a_manager_adding_a_deal_in_a_won_stage_records_its_commitment_as_the_board_does(request, role):
    api = request.getfixturevalue(f"{role}_api")
    ada, fund_iii = contact("Okafor"), fund("Fund III")
    created = api.post(
        "/api/v1/opportunities",
        {"contact_id": ada.pk, "fund_id": fund_iii.pk, "stage_id": stage("Committed").pk, "expected_amount": "2500000"},
    )
    assert created.status_code == 201, created.content
    made = Commitment.objects.get(lp__contact=ada, fund=fund_iii)
    assert made.commitment_amount == Decimal("2500000")
    assert Decimal(created.json()["commitment_amount"]) == Decimal("2500000")


def test_every_role_edits_only_the_fields_it_sends_with_history(any_api):
    deal = opportunity(contact(), fund(), stage("Meeting"), next_step="Send deck", source="Referral")
    edited = any_api.patch(f"/api/v1/opportunities/{deal.pk}", {"next_step": "Send the  data room", "priority": "high"})
    assert edited.status_code == 200, edited.content
    deal.refresh_from_db()
    assert (deal.next_step, deal.priority, deal.source, deal.stage.name) == (
        "Send the data room",
        "high",
        "Referral",
        "Meeting",
    )
    latest = deal.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (any_api.user, "API")


def test_a_patch_cannot_change_the_stage_it_points_to_the_move_endpoint(member_api):
    deal = opportunity(contact(), fund(), stage("Meeting"))
    refused = member_api.patch(f"/api/v1/opportunities/{deal.pk}", {"stage_id": stage("Lead").pk})
    assert refused.status_code == 422
    assert "stage_id" in refused.json()["errors"]
    assert member_api.patch(f"/api/v1/opportunities/{deal.pk}", {"stage_id": deal.stage_id}).status_code == 200
    deal.refresh_from_db()
    assert deal.stage.name == "Meeting"


def test_a_member_may_not_rewrite_a_won_deals_amount_but_a_manager_moves_the_commitment_with_it(
    member_api, manager_api
):
    ada, fund_iii = contact("Okafor"), fund("Fund III")
    profile = lp(ada)
    signed = commitment(profile, fund_iii, "2500000")
    deal = opportunity(ada, fund_iii, stage("Committed"), commitment_amount=Decimal("2500000"))
    refused = member_api.patch(f"/api/v1/opportunities/{deal.pk}", {"commitment_amount": "1"})
    assert refused.status_code == 403
    assert member_api.patch(f"/api/v1/opportunities/{deal.pk}", {"next_step": "Thank them"}).status_code == 200
    signed.refresh_from_db()
    assert signed.commitment_amount == Decimal("2500000")

    changed = manager_api.patch(f"/api/v1/opportunities/{deal.pk}", {"commitment_amount": "3000000"})
    assert changed.status_code == 200, changed.content
    signed.refresh_from_db()
    assert signed.commitment_amount == Decimal("3000000")


def test_editing_a_missing_deal_is_a_404(member_api):
    assert member_api.patch("/api/v1/opportunities/999999", {"next_step": "x"}).status_code == 404
