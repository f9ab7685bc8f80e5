"""LP profiles and commitments through the API: the LP tracker's rows and filters, and the LP forms' writes."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from crm.testing.factories import commitment, contact, fund, lp
from lps.models import CallLine, CapitalCall, Commitment, LPProfile

pytestmark = pytest.mark.django_db


def test_commitments_list_takes_the_trackers_filters_in_a_fixed_number_of_queries(
    member_api, django_assert_max_num_queries
):
    fund_ii, fund_iii = fund("Fund II"), fund("Fund III")
    for _ in range(6):
        profile = lp(contact(organization=None))
        commitment(profile, fund_ii, "1000000")
        commitment(profile, fund_iii, "2000000", status="soft_circle")
    member_api.get("/api/v1/tags")
    with django_assert_max_num_queries(6):
        body = member_api.get("/api/v1/commitments", {"fund": fund_iii.pk}).json()
    assert body["total"] == 6
    assert {item["fund"] for item in body["items"]} == {"Fund III"}
    assert {Decimal(item["commitment_amount"]) for item in body["items"]} == {Decimal("2000000")}
    assert member_api.get("/api/v1/commitments", {"status": "soft_circle"}).json()["total"] == 6
    assert member_api.get("/api/v1/commitments", {"o": "-percent"}).status_code == 200


def test_an_lp_profile_shows_its_commitments(member_api):
    profile = lp(contact("Okafor"), (fund("Fund II"), "2500000"))
    body = member_api.get(f"/api/v1/lps/{profile.pk}").json()
    assert body["contact_id"] == profile.contact_id
    assert [(c["fund"], Decimal(c["commitment_amount"])) for c in body["commitments"]] == [
        ("Fund II", Decimal("2500000"))
    ]
    assert member_api.get("/api/v1/lps/99999999").status_code == 404


# --- writes -----------------------------------------------------------------------------------

ROLES = ["admin", "manager", "member"]


@pytest.fixture(params=ROLES)
def any_api(request):
    return request.getfixturevalue(f"{request.param}_api")


def test_every_role_makes_a_contact_an_lp_and_history_names_them_and_the_api(any_api):
    ada = contact("Okafor", contact_type="prospect")
    created = any_api.post("/api/v1/lps", {"contact_id": ada.pk, "investor_type": "family_office"})
    assert created.status_code == 201, created.content
    profile = LPProfile.objects.get(pk=created.json()["id"])
    ada.refresh_from_db()
    assert (profile.contact, profile.investor_type, ada.contact_type) == (ada, "family_office", "investor")
    latest = profile.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (any_api.user, "API")

    edited = any_api.patch(f"/api/v1/lps/{profile.pk}", {"preferred_communication": "Quarterly call"})
    assert edited.status_code == 200, edited.content
    profile.refresh_from_db()
    assert (profile.preferred_communication, profile.investor_type) == ("Quarterly call", "family_office")


def test_a_contact_that_is_already_an_lp_is_a_409_and_a_bad_type_a_422(member_api):
    profile = lp(contact("Okafor"))
    assert member_api.post("/api/v1/lps", {"contact_id": profile.contact_id}).status_code == 409
    bad = member_api.post("/api/v1/lps", {"contact_id": contact().pk, "investor_type": "pirate"})
    assert bad.status_code == 422
    assert "investor_type" in bad.json()["errors"]
    assert LPProfile.objects.count() == 1


def test_only_a_manager_or_admin_sets_the_compliance_flags(member_api, manager_api):
    profile = lp(contact("Okafor"))
    refused = member_api.patch(f"/api/v1/lps/{profile.pk}", {"accredited": True})
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert member_api.post("/api/v1/lps", {"contact_id": contact().pk, "accredited": True}).status_code == 403
    profile.refresh_from_db()
    assert not profile.accredited
    # Sending the value it already has is no change, so a member's round trip still saves.
    assert member_api.patch(f"/api/v1/lps/{profile.pk}", {"accredited": False, "notes": "Met"}).status_code == 200

    assert manager_api.patch(f"/api/v1/lps/{profile.pk}", {"accredited": True}).status_code == 200
    profile.refresh_from_db()
    assert (profile.accredited, profile.notes) == (True, "Met")


def test_a_members_token_gets_a_403_on_every_commitment_write_and_nothing_changes(member_api):
    fund_ii = fund("Fund II")
    profile = lp(contact("Okafor"), (fund_ii, "2500000"))
    signed = profile.commitments.get()
    created = member_api.post(
        f"/api/v1/lps/{profile.pk}/commitments", {"fund_id": fund("Fund III").pk, "commitment_amount": "1"}
    )
    assert created.status_code == 403
    assert created["Content-Type"] == "application/problem+json"
    edited = member_api.patch(f"/api/v1/commitments/{signed.pk}", {"commitment_amount": "1"})
    assert edited.status_code == 403
    signed.refresh_from_db()
    assert signed.commitment_amount == Decimal("2500000")
    assert Commitment.objects.count() == 1
    assert member_api.get(f"/api/v1/commitments/{signed.pk}").status_code == 200


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_a_manager_adds_a_commitment_and_climbs_the_ladder_keeping_each_rung(request, role):
    api = request.getfixturevalue(f"{role}_api")
    profile = lp(contact("Okafor"))
    fund_iii = fund("Fund III")
    created = api.post(
        f"/api/v1/lps/{profile.pk}/commitments",
        {"fund_id": fund_iii.pk, "status": "soft_circle", "commitment_amount": "2000000"},
    )
    assert created.status_code == 201, created.content
    made = Commitment.objects.get(pk=created.json()["id"])
    assert made.soft_amount == Decimal("2000000")

    climbed = api.patch(f"/api/v1/commitments/{made.pk}", {"status": "signed", "commitment_amount": "2500000"})
    assert climbed.status_code == 200, climbed.content
    made.refresh_from_db()
    assert (made.soft_amount, made.signed_amount, made.fund) == (Decimal("2000000"), Decimal("2500000"), fund_iii)
    assert Decimal(climbed.json()["signed_amount"]) == Decimal("2500000")
    latest = made.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (api.user, "API")


def test_commitment_writes_follow_the_forms_rules(manager_api):
    fund_ii = fund("Fund II")
    profile = lp(contact("Okafor"), (fund_ii, "2500000"))
    signed = profile.commitments.get()
    twice = manager_api.post(f"/api/v1/lps/{profile.pk}/commitments", {"fund_id": fund_ii.pk, "commitment_amount": "1"})
    assert twice.status_code == 422
    assert "investing_entity" in twice.json()["errors"]
    withdrawn = manager_api.patch(f"/api/v1/commitments/{signed.pk}", {"status": "withdrawn"})
    assert withdrawn.status_code == 422
    assert "withdrawn_reason" in withdrawn.json()["errors"]
    moved = manager_api.patch(f"/api/v1/commitments/{signed.pk}", {"fund_id": fund("Fund III").pk})
    assert moved.status_code == 422
    assert manager_api.patch("/api/v1/commitments/99999999", {"notes": "x"}).status_code == 404
    assert manager_api.post("/api/v1/lps/99999999/commitments", {"fund_id": fund_ii.pk}).status_code == 404


def test_a_commitment_paid_in_through_capital_calls_keeps_its_funded_amount(manager_api):
    fund_ii = fund("Fund II")
    profile = lp(contact("Okafor"), (fund_ii, "2500000"))
    signed = profile.commitments.get()
    today = datetime.date(2026, 3, 31)
    call = CapitalCall.objects.create(fund=fund_ii, number=1, notice_date=today, due_date=today, amount=1000)
    CallLine.objects.create(call=call, commitment=signed, amount=Decimal("1000"))
    refused = manager_api.patch(f"/api/v1/commitments/{signed.pk}", {"funded_amount": "2500000"})
    assert refused.status_code == 409
    assert "funded_amount" in refused.json()["errors"]
    assert manager_api.patch(f"/api/v1/commitments/{signed.pk}", {"notes": "Called once"}).status_code == 200
    signed.refresh_from_db()
    assert (signed.funded_amount, signed.notes) == (Decimal("0"), "Called once")
