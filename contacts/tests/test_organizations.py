"""Organizations: list, panel/page, add/edit with the unique-name rule, delete, export."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from conftest import HX
from contacts.models import Organization, OrganizationType, Tag
from crm.models import CustomField
from crm.testing.factories import contact as make_contact
from crm.testing.factories import lp as make_lp
from crm.testing.factories import org as make_org

LIST = "/organizations/"


def test_list_page_shows_contact_counts_and_committed_totals(member_client, fund, other_fund):
    atlas = make_org("Atlas Family Office", type=OrganizationType.FAMILY_OFFICE)
    for _ in range(3):
        make_contact(organization=atlas)
    lp_contact = make_contact(organization=atlas)
    make_lp(lp_contact, (fund, "2500000"), (other_fund, "1000000"))
    make_org("Empty Endowment")

    response = member_client.get(LIST)

    assert response.status_code == 200
    rows = {org.name: org for org in response.context["page_obj"].object_list}
    assert rows["Atlas Family Office"].contact_count == 4
    assert rows["Atlas Family Office"].total_committed == Decimal("3500000")
    assert rows["Empty Endowment"].contact_count == 0
    assert rows["Empty Endowment"].total_committed == Decimal("0")
    assert "$3.5M" in response.content.decode()


def test_soft_circles_are_not_counted_as_committed(member_client, fund):
    org = make_org("Soft Circle Capital")
    lp = make_lp(make_contact(organization=org), (fund, "2000000"))
    lp.commitments.update(status="soft_circle")

    response = member_client.get(LIST)

    assert response.context["page_obj"].object_list[0].total_committed == Decimal("0")


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_search_type_and_tag_filters_narrow_the_list(member_client, headers):
    tag = Tag.objects.create(name="Institutional")
    pension = make_org("Northeast Pension Fund", type=OrganizationType.PENSION, city="Boston")
    pension.tags.add(tag)
    make_org("Atlas Family Office", type=OrganizationType.FAMILY_OFFICE, city="Boston")
    make_org("Redwood Endowment", type=OrganizationType.ENDOWMENT, city="Palo Alto")

    def names(params):
        response = member_client.get(LIST, params, headers=headers)
        assert response.status_code == 200
        return [org.name for org in response.context["page_obj"].object_list]

    assert names({"q": "boston"}) == ["Atlas Family Office", "Northeast Pension Fund"]
    assert names({"q": "boston pension"}) == ["Northeast Pension Fund"]  # every word must match
    assert names({"type": "endowment"}) == ["Redwood Endowment"]
    assert names({"tag": tag.pk}) == ["Northeast Pension Fund"]
    assert names({"o": "-name"})[0] == "Redwood Endowment"
    assert names({"type": "not-a-type"}) == ["Atlas Family Office", "Northeast Pension Fund", "Redwood Endowment"]


def test_htmx_request_gets_only_the_table_and_varies_on_the_header(member_client):
    make_org("Atlas Family Office")

    fragment = member_client.get(LIST, headers=HX)
    page = member_client.get(LIST)

    assert fragment.content.decode().lstrip().startswith('<div id="organization-table"')
    assert "<html" not in fragment.content.decode()
    assert "<html" in page.content.decode()
    assert "HX-Request" in fragment["Vary"]


def _populate(count: int, fund) -> None:
    tag = Tag.objects.get_or_create(name="Big")[0]
    for _ in range(count):
        org = make_org()
        org.tags.add(tag)
        make_lp(make_contact(organization=org), (fund, "1000000"))


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_list_runs_the_same_number_of_queries_for_few_and_many_rows(
    member_client, fund, headers, django_assert_max_num_queries
):
    _populate(3, fund)
    # 10 before the grid, which adds its custom fields, the user's preference and saved views
    # (the menu, and the sidebar on a full page).
    with django_assert_max_num_queries(14) as few:
        member_client.get(LIST, headers=headers)
    _populate(40, fund)
    with django_assert_max_num_queries(14) as many:
        member_client.get(LIST, headers=headers)
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_panel_shows_contacts_commitments_custom_fields_and_history(member_client, fund, headers):
    CustomField.objects.create(name="AUM (USD bn)", entity="organization", field_type="number")
    org = make_org("Atlas Family Office", custom_fields={"aum_usd_bn": "12.5"})
    make_lp(make_contact("Okafor", first_name="Daniel", organization=org), (fund, "5000000"))

    response = member_client.get(f"/organizations/{org.pk}/", headers=headers)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Okafor" in html
    assert "$5,000,000" in html
    assert "AUM (USD bn)" in html and "12.5" in html
    assert "History" in html
    assert ("<html" in html) is (not headers)


def test_missing_organization_is_a_404(member_client):
    assert member_client.get("/organizations/999999/").status_code == 404


def test_member_adds_an_organization_with_history_and_created_by(member_client, member_user):
    response = member_client.post("/organizations/new/", {"name": "  Zeta   Capital ", "type": "bank"})

    org = Organization.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/organizations/{org.pk}/"
    assert org.name == "Zeta Capital"
    assert org.created_by == member_user
    assert org.history.get().history_user == member_user


def test_htmx_add_answers_with_the_panel_and_tells_the_list_to_refresh(member_client):
    response = member_client.post("/organizations/new/", {"name": "Zeta Capital", "type": "bank"}, headers=HX)

    assert response.status_code == 200
    assert "organizationsChanged" in response["HX-Trigger"]
    assert 'id="organization-panel"' in response.content.decode()
    assert "Added Zeta Capital" in response.content.decode()  # the flash message rides along


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_duplicate_name_ignoring_case_and_spaces_is_refused_with_a_link(member_client, headers):
    existing = make_org("Atlas Family Office")

    response = member_client.post(
        "/organizations/new/", {"name": " atlas  FAMILY office", "type": "other"}, headers=headers
    )

    assert response.status_code == 200
    assert Organization.objects.count() == 1
    html = response.content.decode()
    assert "already exists" in html
    assert f'href="/organizations/{existing.pk}/"' in html


def test_script_tags_in_a_name_are_stored_as_text_and_shown_escaped(member_client):
    member_client.post("/organizations/new/", {"name": "<script>alert(1)</script> Capital", "type": "other"})

    response = member_client.get(LIST)

    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Capital" in html
    assert "<script>alert(1)" not in html


def test_required_custom_field_is_enforced_on_the_form(member_client):
    CustomField.objects.create(name="Fit score", entity="organization", field_type="number", required=True)

    response = member_client.post("/organizations/new/", {"name": "Zeta Capital", "type": "bank"})

    assert response.status_code == 200
    assert not Organization.objects.exists()
    assert "This field is required." in response.content.decode()


def test_huge_name_gets_a_field_error_not_a_crash(member_client):
    response = member_client.post("/organizations/new/", {"name": "x" * 5000, "type": "other"})

    assert response.status_code == 200
    assert "at most 200 characters" in response.content.decode()
    assert not Organization.objects.exists()


def test_edit_records_the_change_in_history(member_client, member_user):
    org = make_org("Atlas Family Office", city="Boston")

    member_client.post(
        f"/organizations/{org.pk}/edit/", {"name": "Atlas Family Office", "type": "other", "city": "NYC"}
    )

    org.refresh_from_db()
    assert org.city == "NYC"
    latest = org.history.first()
    assert latest.history_user == member_user and latest.history_type == "~"


def test_member_cannot_delete_an_organization(member_client):
    org = make_org()

    assert member_client.get(f"/organizations/{org.pk}/delete/").status_code == 403
    assert member_client.post(f"/organizations/{org.pk}/delete/").status_code == 403
    assert Organization.objects.filter(pk=org.pk).exists()


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_manager_deletes_after_confirming_and_contacts_are_kept(manager_client, headers):
    org = make_org("Doomed Partners")
    contact = make_contact(organization=org)

    confirm = manager_client.get(f"/organizations/{org.pk}/delete/", headers=headers)
    response = manager_client.post(f"/organizations/{org.pk}/delete/", headers=headers)

    assert confirm.status_code == 200 and "Delete Doomed Partners?" in confirm.content.decode()
    assert not Organization.objects.filter(pk=org.pk).exists()
    contact.refresh_from_db()
    assert contact.organization is None
    if headers:
        assert "closeDialog" in response["HX-Trigger"]
    else:
        assert response.status_code == 302 and response["Location"] == LIST


def test_member_cannot_export(member_client):
    assert member_client.get("/organizations/export/").status_code == 403


def test_export_follows_the_filter_and_neutralises_formulas(manager_client, fund):
    make_org("=HYPERLINK(evil)", city="Boston")
    make_org("Elsewhere Capital", city="Denver")

    response = manager_client.get("/organizations/export/", {"q": "boston"})

    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][0] == "Name"
    assert [row[0] for row in rows[1:]] == ["'=HYPERLINK(evil)"]


def test_xlsx_export_has_real_numbers(manager_client, fund):
    from openpyxl import load_workbook

    org = make_org("Atlas Family Office")
    make_lp(make_contact(organization=org), (fund, "2500000"))

    response = manager_client.get("/organizations/export/", {"format": "xlsx"})

    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    row = [cell.value for cell in sheet[2]]
    assert row[header.index("Committed")] == 2500000
    assert row[header.index("Contacts")] == 1
