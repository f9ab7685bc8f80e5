"""List grids (issue 14): chosen columns, density and page size remembered; saved views with their rules."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.grids import CONTACTS
from crm.models import CustomField, CustomFieldEntity, CustomFieldType, ListPreference, SavedView
from crm.testing.factories import comm as make_comm
from crm.testing.factories import contact as make_contact
from crm.testing.factories import org as make_org
from crm.testing.factories import tag as make_tag

URL = reverse("contact_list")


def header(response) -> str:
    body = response.content.decode()
    return body[body.index("<thead>") : body.index("</thead>")]


def test_chosen_columns_show_and_are_remembered_for_the_next_visit(member_client, member_user):
    make_contact("Okafor", email="ada@atlas.example")
    response = member_client.get(URL, {"cols": ["name", "email"]})
    assert "Email" in header(response) and "Tags" not in header(response) and "Owner" not in header(response)
    assert "ada@atlas.example" in response.content.decode()
    again = member_client.get(URL)
    assert "Email" in header(again) and "Tags" not in header(again)
    assert ListPreference.objects.get(user=member_user, list_key="contacts").columns == ["name", "email"]


def test_the_name_column_cannot_be_hidden_and_unknown_columns_are_ignored(member_client):
    make_contact("Okafor")
    response = member_client.get(URL, {"cols": ["nonsense", "status"]})
    assert "Name" in header(response) and "Status" in header(response) and "Type" not in header(response)


def test_density_and_page_size_come_from_the_url_then_the_preference(member_client):
    for i in range(30):
        make_contact(f"P{i:02}")
    assert "grid--compact" in member_client.get(URL).content.decode()  # compact by default
    response = member_client.get(URL, {"density": "comfortable", "per_page": "25"})
    assert len(response.context["page_obj"].object_list) == 25
    later = member_client.get(URL)
    assert "grid--compact" not in later.content.decode()
    assert len(later.context["page_obj"].object_list) == 25
    assert len(member_client.get(URL, {"per_page": "7"}).context["page_obj"].object_list) == 25  # not a size


def test_custom_fields_are_optional_columns_that_sort_in_sql(member_client):
    CustomField.objects.create(name="Region", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.TEXT)
    make_contact("North", custom_fields={"region": "b-north"})
    make_contact("South", custom_fields={"region": "a-south"})
    make_contact("None")
    assert "Region" not in header(member_client.get(URL))
    response = member_client.get(URL, {"cols": ["name", "cf_region"], "o": "cf_region"})
    assert "Region" in header(response)
    assert [c.last_name for c in response.context["page_obj"].object_list] == ["South", "North", "None"]
    descending = member_client.get(URL, {"o": "-cf_region"})
    assert [c.last_name for c in descending.context["page_obj"].object_list] == ["North", "South", "None"]
    assert not descending.context["filter"].form.errors


def _populate(n: int, tags) -> None:
    org = make_org(f"Org {n}")
    for i in range(n):
        contact = make_contact(f"Q{n}-{i}", organization=org, email=f"q{n}-{i}@example.com")
        contact.tags.add(*tags)
        make_comm(contact, days_ago=i + 1, next_action="Follow up", next_action_date="2030-01-01")


@pytest.mark.parametrize("htmx", [False, True])
def test_every_column_shown_runs_the_same_queries_at_two_data_sizes(member_client, htmx):
    CustomField.objects.create(name="Region", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.TEXT)
    tags = [make_tag("Warm"), make_tag("Cold")]
    headers = {"HX-Request": "true"} if htmx else {}
    every = {"cols": [c.key for c in CONTACTS.columns] + ["cf_region"]}
    _populate(3, tags)
    member_client.get(URL, every, headers=headers)  # remember the columns, warm the session
    with CaptureQueriesContext(connection) as small:
        member_client.get(URL, every, headers=headers)
    _populate(30, tags)
    with CaptureQueriesContext(connection) as large:
        response = member_client.get(URL, every, headers=headers)
    assert len(response.context["page_obj"].object_list) == 33
    assert len(large.captured_queries) == len(small.captured_queries)
    assert "Region" in header(response) and "Phone" in header(response)


# --- Saved views ---------------------------------------------------------------------------


def test_a_member_saves_a_private_view_that_links_to_its_query_string(member_client, member_user, client, manager_user):
    response = member_client.post(
        reverse("saved_view_create"),
        {"list_key": "contacts", "name": "My investors", "query": "type=investor&o=-last_touch"},
    )
    assert response.status_code == 302 and response["Location"] == f"{URL}?type=investor&o=-last_touch"
    view = SavedView.objects.get()
    assert view.owner == member_user and not view.shared
    assert view.history.latest().history_user == member_user
    page = member_client.get(URL).content.decode()
    assert 'href="/contacts/?type=investor&amp;o=-last_touch">My investors</a>' in page
    client.force_login(manager_user)
    assert "My investors" not in client.get(URL).content.decode()  # private: its owner's alone


def test_a_member_cannot_share_a_view_and_a_manager_can(member_client, member_user, manager_user):
    refused = member_client.post(
        reverse("saved_view_create"), {"list_key": "contacts", "name": "Team", "query": "", "shared": "1"}
    )
    assert refused.status_code == 403 and not SavedView.objects.exists()
    member_client.force_login(manager_user)
    member_client.post(
        reverse("saved_view_create"), {"list_key": "contacts", "name": "Team", "query": "", "shared": "1"}
    )
    assert SavedView.objects.get().shared
    member_client.force_login(member_user)
    assert "Team" in member_client.get(URL).content.decode()  # everyone sees shared views


def test_only_a_manager_changes_a_shared_view_and_only_its_owner_a_private_one(member_user, manager_user, admin_user):
    shared = SavedView.objects.create(owner=manager_user, list_key="contacts", name="Team", shared=True)
    private = SavedView.objects.create(owner=member_user, list_key="contacts", name="Mine")
    with pytest.raises(PermissionDenied):
        shared.delete_as(member_user)
    with pytest.raises(PermissionDenied):
        private.delete_as(admin_user)
    assert SavedView.objects.visible_to(admin_user).filter(pk=private.pk).count() == 0
    shared.delete_as(admin_user)
    private.delete_as(member_user)
    assert not SavedView.objects.exists()


def test_deleting_someone_elses_private_view_answers_404(member_client, manager_user):
    private = SavedView.objects.create(owner=manager_user, list_key="contacts", name="Theirs")
    assert member_client.post(reverse("saved_view_delete", args=[private.pk])).status_code == 404
    assert SavedView.objects.filter(pk=private.pk).exists()


def test_saved_views_are_listed_in_the_navigation_under_their_list(member_client, member_user):
    SavedView.objects.create(owner=member_user, list_key="contacts", name="Warm leads", query="tag=1")
    body = member_client.get(reverse("dashboard")).content.decode()
    nav = body[body.index('aria-label="Main navigation"') : body.index("</nav>")]
    assert 'aria-label="Saved views of Contacts"' in nav and 'href="/contacts/?tag=1">Warm leads</a>' in nav


def test_a_view_saved_from_the_list_keeps_its_columns_and_page_size(member_client):
    make_contact("Okafor")
    response = member_client.get(URL, {"status": "active", "cols": ["name", "email"], "per_page": "100"})
    query = response.context["grid"].view_query
    assert query == "status=active&cols=name&cols=email&per_page=100"
