"""Bulk actions on selected rows or on everything the filter matches, with history."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from conftest import HX
from contacts.models import Contact, ContactStatus
from crm.lib.history import history_entries
from crm.testing.factories import contact as make_contact

URL = reverse("contact_bulk")


def post(client, action: str, ids=(), headers=None, **extra):
    data = {"action": action, "ids": [str(i) for i in ids], **extra}
    return client.post(URL, data, headers=headers or {})


def tag_names(contact: Contact) -> set[str]:
    return set(contact.tags.values_list("name", flat=True))


# --- Tags ----------------------------------------------------------------------------------------


def test_add_tag_to_selected_rows_writes_history_with_the_acting_user(member_client, member_user, tags):
    a, b, c = make_contact("A"), make_contact("B"), make_contact("C")
    a.tags.add(tags["Cold"])
    response = post(member_client, "add_tag", [a.pk, b.pk], headers=HX, tag=tags["Warm intro"].pk)
    assert response.status_code == 200
    assert "contactsChanged" in response["HX-Trigger"]
    assert "Tagged 2 contacts" in response.content.decode()  # the flash message rides along
    assert tag_names(a) == {"Cold", "Warm intro"} and tag_names(b) == {"Warm intro"} and tag_names(c) == set()
    for contact in (a, b):
        record = contact.history.latest()
        assert record.history_user == member_user
        assert record.history_change_reason == "Bulk: tagged Warm intro"
    assert c.history.count() == 1  # untouched: only its creation


def test_bulk_tag_history_reads_as_one_tag_added_not_all_replaced(member_client, tags):
    contact = make_contact("A")
    contact.tags.add(tags["Cold"])
    post(member_client, "add_tag", [contact.pk], tag=tags["Warm intro"].pk)
    post(member_client, "status", [contact.pk], status="nurture")
    entries = history_entries(contact)
    status_change, tag_change = entries[0], entries[1]
    assert [(c.field, c.old, c.new) for c in status_change.changes] == [("Status", "Active", "Nurture")]
    [(field, old, new)] = [(c.field, c.old, c.new) for c in tag_change.changes]
    assert (field, old, set(new.split(", "))) == ("Tags", "Cold", {"Cold", "Warm intro"})


def test_remove_tag_only_touches_contacts_that_had_it(member_client, member_user, tags):
    a, b = make_contact("A"), make_contact("B")
    a.tags.add(tags["Cold"], tags["Warm intro"])
    before_b = b.history.count()
    response = post(member_client, "remove_tag", [a.pk, b.pk], tag=tags["Cold"].pk)
    assert response.status_code == 302
    assert tag_names(a) == {"Warm intro"}
    assert a.history.latest().history_user == member_user
    assert b.history.count() == before_b


def test_adding_a_tag_they_all_have_changes_nothing_and_says_so(member_client, tags):
    a = make_contact("A")
    a.tags.add(tags["Cold"])
    count = a.history.count()
    response = post(member_client, "add_tag", [a.pk], headers=HX, tag=tags["Cold"].pk)
    assert "Tagged 0 contacts" in response.content.decode()
    assert a.history.count() == count


# --- Owner and status -----------------------------------------------------------------------------


def test_assign_owner_and_clear_it(member_client, member_user, manager_user):
    a, b = make_contact("A"), make_contact("B", owner=manager_user)
    post(member_client, "owner", [a.pk, b.pk], owner=manager_user.pk)
    a.refresh_from_db()
    assert a.owner == manager_user
    assert a.history.latest().history_user == member_user
    assert b.history.count() == 1  # already theirs: no change, no history row

    post(member_client, "owner", [a.pk, b.pk], owner="none")
    assert set(Contact.objects.values_list("owner", flat=True)) == {None}
    assert all(c.history.latest().owner_id is None for c in (a, b))


def test_change_status_writes_a_history_row_per_changed_contact(member_client, member_user):
    contacts = [make_contact(f"C{i}") for i in range(3)]
    post(member_client, "status", [c.pk for c in contacts], status=ContactStatus.INACTIVE)
    for contact in contacts:
        contact.refresh_from_db()
        assert contact.status == ContactStatus.INACTIVE
        latest = contact.history.latest()
        assert latest.status == ContactStatus.INACTIVE and latest.history_user == member_user
        assert latest.history_type == "~"


def test_an_owner_who_is_not_on_the_team_is_refused(member_client, manager_user):
    manager_user.is_active = False
    manager_user.save()
    a = make_contact("A")
    response = post(member_client, "owner", [a.pk], headers=HX, owner=manager_user.pk)
    assert "not an active member" in response.content.decode()
    a.refresh_from_db()
    assert a.owner is None


# --- All matching the filter --------------------------------------------------------------------------


def test_select_all_matching_uses_the_filter_not_the_posted_ids(member_client, tags):
    nurture = [make_contact(f"N{i}", status=ContactStatus.NURTURE) for i in range(60)]  # more than a page
    active = make_contact("Active")
    response = post(
        member_client,
        "add_tag",
        [active.pk],  # ignored: "all matching" re-runs the filter
        headers=HX,
        select_all="1",
        query="status=nurture&o=-name&page=2",
        tag=tags["Warm intro"].pk,
    )
    assert "Tagged 60 contacts" in response.content.decode()
    assert all(tag_names(c) == {"Warm intro"} for c in nurture)
    assert tag_names(active) == set()


def test_select_all_with_an_empty_filter_reaches_every_contact(member_client):
    contacts = [make_contact(f"C{i}") for i in range(3)]
    post(member_client, "status", [], select_all="1", query="", status="nurture")
    assert {c.status for c in Contact.objects.all()} == {"nurture"}
    assert len(contacts) == 3


# --- Export ----------------------------------------------------------------------------------------------


def test_member_cannot_bulk_export(member_client):
    a = make_contact("A")
    assert post(member_client, "export_csv", [a.pk]).status_code == 403
    assert post(member_client, "export_xlsx", [a.pk], select_all="1").status_code == 403


def test_manager_exports_exactly_the_selection(manager_client):
    a, b, c = make_contact("Alpha"), make_contact("Beta"), make_contact("Gamma")
    response = post(manager_client, "export_csv", [a.pk, c.pk])
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-selection')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert sorted(row[2] for row in rows[1:]) == ["Alpha", "Gamma"]
    assert b.pk


def test_manager_exports_all_matching_as_xlsx(admin_client):
    make_contact("Alpha", status="nurture")
    make_contact("Beta")
    response = post(admin_client, "export_xlsx", [], select_all="1", query="status=nurture")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")


# --- Bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        ({"action": "add_tag", "tag": ""}, "Choose the tag"),
        ({"action": "status", "status": ""}, "Choose the status"),
        ({"action": "owner", "owner": ""}, "Choose the owner"),
        ({"action": "explode"}, "not one of the available choices"),
        ({"action": "status", "status": "nurture", "ids": ["1; DROP TABLE"]}, "not understood"),
    ],
)
def test_incomplete_or_malformed_bulk_requests_say_what_is_missing(member_client, data, message):
    contact = make_contact("A")
    data = {"ids": [str(contact.pk)], **data}
    response = member_client.post(URL, data, headers=HX)
    assert response.status_code == 200
    assert message in response.content.decode()
    contact.refresh_from_db()
    assert contact.status == "active"


def test_nothing_selected_is_refused_with_a_message(member_client):
    response = member_client.post(URL, {"action": "status", "status": "nurture"}, follow=True)
    assert "Select at least one contact first." in response.content.decode()


def test_ids_of_missing_contacts_are_ignored(member_client):
    a = make_contact("A")
    response = post(member_client, "status", [a.pk, 424242], headers=HX, status="nurture")
    assert "Set 1 contact to Nurture" in response.content.decode()


def test_non_htmx_bulk_action_returns_to_the_same_filtered_list(member_client):
    a = make_contact("A")
    response = post(member_client, "status", [a.pk], status="nurture", query="q=A&status=active")
    assert response.status_code == 302 and response["Location"] == reverse("contact_list") + "?q=A&status=active"


def test_the_return_address_is_rebuilt_from_the_query_not_echoed(member_client):
    a = make_contact("A")
    response = post(member_client, "status", [a.pk], status="nurture", query="q=a b\r\nSet-Cookie: x=1&status=active")
    assert response.status_code == 302
    assert response["Location"] == reverse("contact_list") + "?q=a+b%0D%0ASet-Cookie%3A+x%3D1&status=active"


def test_bulk_endpoint_answers_only_post(member_client):
    assert member_client.get(URL).status_code == 405


def test_merge_needs_exactly_two_and_the_manager_role(client, member_user, manager_user):
    a, b, c = make_contact("A"), make_contact("B"), make_contact("C")
    client.force_login(member_user)
    assert post(client, "merge", [a.pk, b.pk]).status_code == 403
    client.force_login(manager_user)
    three = post(client, "merge", [a.pk, b.pk, c.pk], headers=HX)
    assert "Select exactly two contacts to merge." in three.content.decode()
    two = post(client, "merge", [a.pk, b.pk])
    assert two.status_code == 302 and two["Location"] == f"{reverse('contact_merge')}?a={a.pk}&b={b.pk}"
