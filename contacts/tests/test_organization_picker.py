"""The organization filter of the communications log is a type-ahead picker, not a select of
every organization: the page stays small at thousands of them, and it still filters by id."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import HX
from contacts.models import Organization
from contacts.pickers import MAX_RESULTS
from crm.testing.factories import comm, contact, org

pytestmark = pytest.mark.django_db

LIST = reverse("communication_list")
PICKER = reverse("organization_picker")
PICKER_PARAMS = {"name": "organization", "id": "filter-organization", "event": "filterOrganizationPicked"}


def many_organizations(count: int, prefix: str = "Harbor Capital") -> None:
    Organization.objects.bulk_create(Organization(name=f"{prefix} {n:04d}") for n in range(count))


def test_the_log_with_2000_organizations_weighs_what_it_does_with_none(member_client):
    comm(contact(organization=org("Atlas Family Office")), subject="With Ada")
    few = len(member_client.get(LIST).content)
    many_organizations(2000)
    response = member_client.get(LIST)

    assert response.status_code == 200
    assert len(response.content) < 40_000
    assert len(response.content) <= few + 200
    assert "Harbor Capital 0001" not in response.content.decode()


def test_the_log_filters_by_an_organization_id_and_shows_its_name_chosen(member_client):
    atlas = org("Atlas Family Office", city="Oslo")
    comm(contact(organization=atlas), subject="With Ada")
    comm(contact(organization=org("Blue Harbor")), subject="With Bob")
    many_organizations(2000)

    html = member_client.get(LIST, {"organization": atlas.pk}).content.decode()

    assert "With Ada" in html and "With Bob" not in html
    assert f'<input type="hidden" name="organization" value="{atlas.pk}" id="filter-organization">' in html
    assert "<strong>Atlas Family Office</strong>" in html
    fragment = member_client.get(LIST, {"organization": atlas.pk}, headers=HX).content.decode()
    assert "With Ada" in fragment and "With Bob" not in fragment


def test_the_export_filters_by_the_same_organization_id(manager_client):
    atlas = org("Atlas Family Office")
    comm(contact(organization=atlas), subject="With Ada")
    comm(contact(organization=org("Blue Harbor")), subject="With Bob")
    response = manager_client.get(reverse("communication_export"), {"organization": atlas.pk})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "With Ada" in body and "With Bob" not in body


def test_the_picker_answers_at_most_a_few_matches_however_many_there_are(member_client):
    many_organizations(300)
    response = member_client.get(PICKER, {**PICKER_PARAMS, "organization_search": "harbor"}, headers=HX)
    html = response.content.decode()

    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert html.count('class="picker-option"') == MAX_RESULTS
    assert "Harbor Capital 0000" in html and "keep typing" in html


def test_the_picker_matches_every_typed_word(member_client):
    org("Atlas Family Office")
    org("Atlas Ventures")
    html = member_client.get(PICKER, {**PICKER_PARAMS, "organization_search": "atlas fam"}, headers=HX).content
    assert b"Atlas Family Office" in html and b"Atlas Ventures" not in html


def test_picking_an_organization_shows_it_chosen_and_refreshes_the_log(member_client):
    atlas = org("Atlas Family Office")
    response = member_client.get(PICKER, {**PICKER_PARAMS, "pick": atlas.pk}, headers=HX)
    html = response.content.decode()

    assert f'value="{atlas.pk}"' in html and "<strong>Atlas Family Office</strong>" in html
    assert "filterOrganizationPicked" in response["HX-Trigger-After-Swap"]
    empty = member_client.get(PICKER, PICKER_PARAMS, headers=HX).content.decode()
    assert 'name="organization" value=""' in empty and "organization_search" in empty


def test_a_typed_organization_name_filters_the_log_without_javascript(member_client):
    atlas = org("Atlas Family Office")
    org("Atlas Ventures")
    comm(contact(organization=atlas), subject="With Ada")
    comm(contact(organization=org("Blue Harbor")), subject="With Bob")

    exact = member_client.get(LIST, {"organization_search": "Atlas Family Office"}).content.decode()
    assert "With Ada" in exact and "With Bob" not in exact
    ambiguous = member_client.get(LIST, {"organization_search": "atlas"}).content.decode()
    assert "Several organizations match" in ambiguous
    assert ambiguous.count('type="radio" name="organization"') == 2


def test_the_picker_without_javascript_is_the_organizations_list_searched(member_client):
    response = member_client.get(PICKER, {**PICKER_PARAMS, "organization_search": "atlas"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('organization_list')}?q=atlas"


def test_the_picker_refuses_odd_parameters(member_client):
    response = member_client.get(PICKER, {**PICKER_PARAMS, "id": 'x"><script>'}, headers=HX)
    assert response.status_code == 400
