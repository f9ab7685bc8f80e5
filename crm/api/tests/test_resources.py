"""Each endpoint for each role: what it lists, what it writes, and what lands in history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contacts.models import Contact
from crm.testing.factories import commitment, contact, fund, lp, opportunity, org, stage, tag
from lps.models import Commitment
from pipeline.models import Opportunity

ROLES = ["admin", "manager", "member"]


@pytest.fixture(params=ROLES)
def any_api(request):
    return request.getfixturevalue(f"{request.param}_api")


def test_contacts_list_takes_the_contact_pages_filters_with_a_total_and_pages(any_api):
    investor = tag("Investor")
    for n in range(3):
        person = contact(f"Okafor{n}", contact_type="investor")
        person.tags.add(investor)
    contact("Prospectson", contact_type="prospect")

    body = any_api.get("/api/v1/contacts", {"type": "investor", "page_size": 2}).json()
    assert body["total"] == 3
    assert body["next"] == 2
    assert [item["last_name"] for item in body["items"]] == ["Okafor0", "Okafor1"]
    second = any_api.get("/api/v1/contacts", {"type": "investor", "page_size": 2, "page": 2}).json()
    assert [item["last_name"] for item in second["items"]] == ["Okafor2"]
    assert second["next"] is None
    assert any_api.get("/api/v1/contacts", {"tag": investor.pk}).json()["total"] == 3


def test_a_filter_value_the_page_would_refuse_is_a_422_with_the_field(member_api):
    response = member_api.get("/api/v1/contacts", {"type": "astronaut"})
    assert response.status_code == 422
    assert "type" in response.json()["errors"]
    assert member_api.get("/api/v1/contacts", {"page": "0"}).status_code == 422


def test_list_endpoints_run_a_fixed_number_of_queries(member_api, django_assert_max_num_queries):
    some_fund = fund()
    for _ in range(12):
        person = contact(organization=org())
        person.tags.add(tag())
        opportunity(person, some_fund)
    member_api.get("/api/v1/tags")  # the first request of a test pays for the session and content types
    for path, limit in [
        ("/api/v1/contacts", 8),
        ("/api/v1/organizations", 6),
        ("/api/v1/opportunities", 6),
        ("/api/v1/tags", 4),
        ("/api/v1/funds", 4),
        ("/api/v1/stages", 4),
        ("/api/v1/users", 4),
    ]:
        with django_assert_max_num_queries(limit):
            response = member_api.get(path)
        assert response.status_code == 200, path
        assert len(response.content) < 60_000, path


def test_every_role_creates_and_edits_contacts_and_history_names_them_and_the_api(any_api):
    atlas = org("Atlas Family Office")
    created = any_api.post(
        "/api/v1/contacts",
        {
            "first_name": "Ada",
            "last_name": "Okafor",
            "email": "ada@atlas.example",
            "organization_name": "atlas family office",
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["organization_id"] == atlas.pk
    person = Contact.objects.get(pk=body["id"])
    assert person.created_by == any_api.user

    edited = any_api.patch(f"/api/v1/contacts/{person.pk}", {"title": "CIO"})
    assert edited.status_code == 200, edited.content
    person.refresh_from_db()
    assert (person.title, person.email, person.organization_id) == ("CIO", "ada@atlas.example", atlas.pk)
    latest = person.history.latest()
    assert latest.history_user == any_api.user
    assert latest.history_change_reason == "API"


def test_an_unknown_organization_needs_create_organization_as_on_the_form(member_api):
    refused = member_api.post("/api/v1/contacts", {"last_name": "Okafor", "organization_name": "Nowhere Capital"})
    assert refused.status_code == 422
    assert "organization_name" in refused.json()["errors"]
    made = member_api.post(
        "/api/v1/contacts", {"last_name": "Okafor", "organization_name": "Nowhere Capital", "create_organization": True}
    )
    assert made.status_code == 201
    assert made.json()["organization_name"] == "Nowhere Capital"


def test_moving_a_deal_to_a_lost_stage_needs_a_reason_and_records_it(member_api):
    deal = opportunity(contact(), fund())
    refused = member_api.post(f"/api/v1/opportunities/{deal.pk}/move", {"stage_id": stage("Passed").pk})
    assert refused.status_code == 422
    assert "lost_reason" in refused.json()["errors"]
    moved = member_api.post(
        f"/api/v1/opportunities/{deal.pk}/move", {"stage_id": stage("Passed").pk, "lost_reason": "Over-allocated"}
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["stage_name"] == "Passed"
    deal.refresh_from_db()
    assert deal.lost_reason == "Over-allocated"
    latest = deal.history.latest()
    assert latest.history_user == member_api.user
    assert latest.history_change_reason.endswith("(API)")


def test_a_manager_moving_a_deal_to_committed_records_the_commitment(manager_api):
    deal = opportunity(contact(), fund(), expected_amount=Decimal("2500000"))
    response = manager_api.post(f"/api/v1/opportunities/{deal.pk}/move", {"stage_id": stage("Committed").pk})
    assert response.status_code == 200, response.content
    made = Commitment.objects.get(lp__contact=deal.contact, fund=deal.fund)
    assert made.commitment_amount == Decimal("2500000")
    assert made.history.latest().history_user == manager_api.user


def test_a_members_token_cannot_change_commitments_through_a_move(member_api):
    deal = opportunity(contact(), fund())
    response = member_api.post(f"/api/v1/opportunities/{deal.pk}/move", {"stage_id": stage("Committed").pk})
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    deal.refresh_from_db()
    assert deal.stage == stage("Lead")
    assert not Commitment.objects.exists()

    profile = lp(deal.contact)
    commitment(profile, deal.fund)
    won = Opportunity.objects.get(pk=deal.pk)
    Opportunity.objects.filter(pk=won.pk).update(stage=stage("Committed"))
    response = member_api.post(
        f"/api/v1/opportunities/{won.pk}/move", {"stage_id": stage("Lead").pk, "commitment_action": "delete"}
    )
    assert response.status_code == 403
    assert Commitment.objects.count() == 1


def test_leaving_a_won_stage_without_saying_what_becomes_of_the_commitment_is_refused(manager_api):
    deal = opportunity(contact(), fund(), at_stage=stage("Lead"))
    manager_api.post(f"/api/v1/opportunities/{deal.pk}/move", {"stage_id": stage("Committed").pk})
    response = manager_api.post(f"/api/v1/opportunities/{deal.pk}/move", {"stage_id": stage("Lead").pk})
    assert response.status_code == 422
    assert "commitment_action" in response.json()["errors"]
    kept = manager_api.post(
        f"/api/v1/opportunities/{deal.pk}/move", {"stage_id": stage("Lead").pk, "commitment_action": "keep"}
    )
    assert kept.status_code == 200
    assert Commitment.objects.filter(lp__contact=deal.contact).exists()


def test_reference_lists_show_funds_stages_and_the_team_without_secrets(member_api, admin_user):
    fund("Fund III")
    assert [f["name"] for f in member_api.get("/api/v1/funds").json()] == ["Fund III"]
    stages = member_api.get("/api/v1/stages").json()
    assert stages[0]["name"] == "Lead"
    users = member_api.get("/api/v1/users").json()
    assert {"id": admin_user.pk, "name": "Alice Admin", "role": "admin"} in users
    assert all(set(u) == {"id", "name", "role"} for u in users)


def test_details_answer_404_for_missing_records_and_200_for_present_ones(member_api):
    person = contact()
    deal = opportunity(person, fund())
    assert member_api.get(f"/api/v1/contacts/{person.pk}").json()["id"] == person.pk
    assert member_api.get(f"/api/v1/opportunities/{deal.pk}").json()["contact_id"] == person.pk
    assert member_api.get(f"/api/v1/organizations/{org().pk}").status_code == 200
    for path in ("contacts", "opportunities", "organizations"):
        assert member_api.get(f"/api/v1/{path}/99999999").status_code == 404


@pytest.mark.parametrize("query", ["tag=", "type=", "o=", "page=", "page_size="])
def test_an_empty_typed_filter_is_refused_not_read_as_no_filter(member_api, query):
    response = member_api.get("/api/v1/organizations", {query[:-1]: ""})
    assert response.status_code == 422
    assert response.json()["errors"] == {query[:-1]: ["Leave the parameter out, or give it a value."]}
    assert member_api.get("/api/v1/organizations", {"q": ""}).status_code == 200  # free text may be empty


def test_a_patch_keeps_the_custom_field_values_it_does_not_send(member_api):
    from crm.models import CustomField, CustomFieldEntity, CustomFieldType

    for entity in (CustomFieldEntity.CONTACT, CustomFieldEntity.ORGANIZATION):
        CustomField.objects.create(name="Met at", entity=entity, field_type=CustomFieldType.TEXT)
    person, firm = contact("Okafor"), org("Atlas Family Office")
    key = CustomField.objects.filter(entity=CustomFieldEntity.CONTACT).get().key
    firm_key = CustomField.objects.filter(entity=CustomFieldEntity.ORGANIZATION).get().key
    Contact.objects.filter(pk=person.pk).update(custom_fields={key: "Davos"})
    type(firm).objects.filter(pk=firm.pk).update(custom_fields={firm_key: "SuperReturn"})

    assert member_api.patch(f"/api/v1/contacts/{person.pk}", {"title": "CIO"}).status_code == 200
    assert member_api.patch(f"/api/v1/organizations/{firm.pk}", {"website": "https://atlas.example"}).status_code == 200
    person.refresh_from_db()
    firm.refresh_from_db()
    assert (person.title, person.custom_fields) == ("CIO", {key: "Davos"})
    assert firm.custom_fields == {firm_key: "SuperReturn"}
