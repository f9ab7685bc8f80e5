"""Organizations and tags written through the API: the forms' rules, 409 on a taken name, history."""

from __future__ import annotations

import pytest

from contacts.models import Organization, Tag
from crm.testing.factories import org, tag

ROLES = ["admin", "manager", "member"]


@pytest.fixture(params=ROLES)
def any_api(request):
    return request.getfixturevalue(f"{request.param}_api")


def test_every_role_creates_and_edits_organizations_and_history_names_them_and_the_api(any_api):
    warm = tag("Warm intro")
    created = any_api.post("/api/v1/organizations", {"name": "Atlas  Family Office", "tag_ids": [warm.pk]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["tag_ids"]) == ("Atlas Family Office", [warm.pk])
    atlas = Organization.objects.get(pk=body["id"])
    assert atlas.created_by == any_api.user

    edited = any_api.patch(f"/api/v1/organizations/{atlas.pk}", {"city": "Lagos"})
    assert edited.status_code == 200, edited.content
    atlas.refresh_from_db()
    assert (atlas.city, atlas.name, list(atlas.tags.all())) == ("Lagos", "Atlas Family Office", [warm])
    latest = atlas.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (any_api.user, "API")


def test_an_organization_name_another_one_holds_is_a_409_naming_the_field(member_api):
    org("Atlas Family Office")
    other = org("Borealis Partners")
    clash = member_api.post("/api/v1/organizations", {"name": "atlas family  office"})
    assert clash.status_code == 409
    assert "name" in clash.json()["errors"]
    renamed = member_api.patch(f"/api/v1/organizations/{other.pk}", {"name": "Atlas Family Office"})
    assert renamed.status_code == 409
    assert Organization.objects.count() == 2


def test_an_invalid_organization_is_a_422_with_the_form_field_errors(member_api):
    refused = member_api.post("/api/v1/organizations", {"name": "Atlas", "type": "pirate", "website": "not a url"})
    assert refused.status_code == 422
    assert {"type", "website"} <= set(refused.json()["errors"])
    too_long = member_api.post("/api/v1/organizations", {"name": "x" * 1000})
    assert too_long.status_code == 422
    assert not Organization.objects.exists()


def test_editing_a_missing_organization_is_a_404(member_api):
    assert member_api.patch("/api/v1/organizations/999999", {"city": "Lagos"}).status_code == 404


def test_every_role_creates_and_renames_tags_with_history(any_api):
    created = any_api.post("/api/v1/tags", {"name": "Warm intro", "colour": "red"})
    assert created.status_code == 201, created.content
    warm = Tag.objects.get(pk=created.json()["id"])
    assert warm.colour == "red"
    renamed = any_api.patch(f"/api/v1/tags/{warm.pk}", {"name": "Warm introduction"})
    assert renamed.status_code == 200, renamed.content
    warm.refresh_from_db()
    assert (warm.name, warm.colour) == ("Warm introduction", "red")
    latest = warm.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (any_api.user, "API")


def test_a_tag_name_taken_ignoring_case_is_a_409_and_a_bad_colour_a_422(member_api):
    tag("Warm intro")
    assert member_api.post("/api/v1/tags", {"name": "WARM intro"}).status_code == 409
    bad = member_api.post("/api/v1/tags", {"name": "Cold", "colour": "chartreuse"})
    assert bad.status_code == 422
    assert "colour" in bad.json()["errors"]
    assert Tag.objects.count() == 1
