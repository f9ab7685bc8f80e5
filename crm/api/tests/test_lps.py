"""LP profiles and commitments through the API: the LP tracker's rows and filters, read-only."""

from __future__ import annotations

from decimal import Decimal

from crm.testing.factories import commitment, contact, fund, lp


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
