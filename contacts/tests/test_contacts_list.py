"""The contacts list: tabs with counts, filters, search, sorting, pages, export, query count."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import HX
from contacts.models import Contact, ContactStatus, ContactType
from crm.models import CustomField, CustomFieldEntity, CustomFieldType
from crm.testing.factories import comm as make_comm
from crm.testing.factories import contact as make_contact
from crm.testing.factories import org as make_org

URL = reverse("contact_list")


def names(response) -> list[str]:
    return [c.last_name for c in response.context["page_obj"].object_list]


# --- Page and fragment ------------------------------------------------------------------


def test_list_renders_the_full_page_without_htmx(member_client):
    make_contact("Okafor", first_name="Ada")
    response = member_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body and 'id="contact-filters"' in body and 'id="contact-table"' in body
    assert "Ada Okafor" in body
    assert "HX-Request" in response["Vary"]


def test_htmx_refresh_renders_only_the_table_with_tab_counts_out_of_band(member_client):
    make_contact("Okafor", contact_type=ContactType.INVESTOR)
    make_contact("Brooks", contact_type=ContactType.PROSPECT)
    response = member_client.get(URL, {"q": "Okafor"}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="contact-filters"' not in body
    assert body.lstrip().startswith('<div id="contact-table"')
    assert 'id="contact-tab-count-all" hx-swap-oob="true">1<' in body
    assert 'id="contact-tab-count-investor" hx-swap-oob="true">1<' in body
    assert 'id="contact-tab-count-prospect" hx-swap-oob="true">0<' in body


def test_sorting_the_table_keeps_the_filter_forms_order_in_step(member_client):
    make_contact("Okafor")
    fragment = member_client.get(URL, {"o": "-last_touch"}, headers=HX).content.decode()
    assert '<input type="hidden" name="o" id="contact-filter-o" value="-last_touch" hx-swap-oob="true">' in fragment
    page = member_client.get(URL, {"o": "-last_touch"}).content.decode()
    assert '<input type="hidden" name="o" id="contact-filter-o" value="-last_touch">' in page


def test_full_page_does_not_repeat_the_counts_out_of_band(member_client):
    make_contact()
    body = member_client.get(URL).content.decode()
    assert body.count('id="contact-tab-count-all"') == 1
    assert 'hx-swap-oob="true">1<' not in body


def test_anonymous_visitor_is_sent_to_sign_in(anonymous_client):
    response = anonymous_client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_every_role_sees_the_list(any_role_client):
    make_contact("Okafor")
    assert "Okafor" in any_role_client.get(URL).content.decode()


def test_export_buttons_show_only_for_roles_that_may_export(member_client, manager_user, client):
    assert reverse("contact_export") not in member_client.get(URL).content.decode()
    client.force_login(manager_user)
    assert reverse("contact_export") in client.get(URL).content.decode()


# --- Tabs ---------------------------------------------------------------------------------


def test_tabs_count_each_type_and_follow_the_other_filters(member_client):
    for kind in (ContactType.INVESTOR, ContactType.INVESTOR, ContactType.PROSPECT, ContactType.ADVISOR):
        make_contact(contact_type=kind, status=ContactStatus.ACTIVE)
    make_contact(contact_type=ContactType.INVESTOR, status=ContactStatus.INACTIVE)
    make_contact(contact_type=ContactType.OTHER)

    tabs = {tab["key"]: tab["count"] for tab in member_client.get(URL).context["tabs"]}
    assert tabs == {"all": 6, "investor": 3, "prospect": 1, "advisor": 1}

    response = member_client.get(URL, {"status": "active", "type": "investor"})
    tabs = {tab["key"]: tab["count"] for tab in response.context["tabs"]}
    # The counts ignore the selected tab (so the other tabs show what they would hold)…
    assert tabs == {"all": 5, "investor": 2, "prospect": 1, "advisor": 1}  # "all" has the "other" type too
    # …and the rows follow it.
    assert len(response.context["page_obj"].object_list) == 2
    assert [t["key"] for t in response.context["tabs"] if t["active"]] == ["investor"]


# --- Filters and search ---------------------------------------------------------------------


def test_search_matches_every_word_across_name_email_organization_title_and_notes(member_client):
    atlas = make_org("Atlas Family Office")
    make_contact("Okafor", first_name="Ada", organization=atlas, title="CIO")
    make_contact("Brooks", first_name="Naomi", email="naomi@harbor.example", notes="Met at the Atlas dinner")
    make_contact("Chen", first_name="Marcus")

    assert names(member_client.get(URL, {"q": "ada okafor"})) == ["Okafor"]
    assert names(member_client.get(URL, {"q": "harbor.example"})) == ["Brooks"]
    assert sorted(names(member_client.get(URL, {"q": "atlas"}))) == ["Brooks", "Okafor"]
    assert names(member_client.get(URL, {"q": "cio"})) == ["Okafor"]
    assert names(member_client.get(URL, {"q": "ada chen"})) == []


def test_filters_by_status_tag_owner_organization_and_source(member_client, tags, manager_user):
    atlas = make_org("Atlas Family Office")
    a = make_contact("Alpha", status=ContactStatus.NURTURE, organization=atlas, source="Referral")
    a.tags.add(tags["Warm intro"])
    make_contact("Beta", owner=manager_user, source="Conference")
    make_contact("Gamma")

    assert names(member_client.get(URL, {"status": "nurture"})) == ["Alpha"]
    assert names(member_client.get(URL, {"tag": tags["Warm intro"].pk})) == ["Alpha"]
    assert names(member_client.get(URL, {"owner": manager_user.pk})) == ["Beta"]
    assert sorted(names(member_client.get(URL, {"owner": "null"}))) == ["Alpha", "Gamma"]
    assert names(member_client.get(URL, {"organization": "atlas"})) == ["Alpha"]
    assert names(member_client.get(URL, {"organization": str(atlas.pk)})) == ["Alpha"]
    assert names(member_client.get(URL, {"source": "Conference"})) == ["Beta"]


def test_no_touch_in_n_days_keeps_contacts_untouched_since_or_never_touched(member_client):
    recent, stale, never = make_contact("Recent"), make_contact("Stale"), make_contact("Never")
    make_comm(recent, days_ago=3)
    make_comm(stale, days_ago=45)
    assert sorted(names(member_client.get(URL, {"untouched": 30}))) == ["Never", "Stale"]
    assert sorted(names(member_client.get(URL, {"untouched": 60}))) == ["Never"]
    assert never.pk  # used


def test_last_touch_and_next_action_columns_come_from_communications(member_client):
    contact = make_contact("Okafor")
    make_comm(contact, days_ago=10, next_action="Send deck", next_action_date="2030-01-05")
    latest = make_comm(contact, days_ago=2, next_action="Book meeting", next_action_date="2030-01-02")
    done = make_comm(contact, days_ago=1, next_action="Done", next_action_date="2020-01-01", next_action_done=True)
    row = member_client.get(URL).context["page_obj"].object_list[0]
    assert row.last_touch == done.communication_date  # the latest communication of any kind
    assert row.next_action == "Book meeting"  # the earliest open one, not the done one
    assert str(row.next_action_date) == "2030-01-02"
    assert latest.pk


def test_unknown_or_malformed_filter_values_are_reported_not_crashed(member_client):
    make_contact("Okafor")
    response = member_client.get(URL, {"status": "nonsense", "untouched": "abc", "tag": "999999", "page": "x"})
    assert response.status_code == 200
    assert names(response) == ["Okafor"]  # invalid filters drop out
    assert b"form-errors" in response.content


def test_hostile_search_text_is_escaped(member_client):
    make_contact("<script>alert(1)</script>", first_name="Evil")
    response = member_client.get(URL, {"q": "<script>"})
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# --- Sorting and pages ------------------------------------------------------------------------


def test_columns_sort_both_ways_with_nulls_last(member_client):
    never = make_contact("Never")
    old = make_contact("Old")
    new = make_contact("New")
    make_comm(old, days_ago=30)
    make_comm(new, days_ago=1)
    assert names(member_client.get(URL, {"o": "-last_touch"})) == ["New", "Old", "Never"]
    assert names(member_client.get(URL, {"o": "last_touch"})) == ["Old", "New", "Never"]
    assert names(member_client.get(URL, {"o": "-name"})) == ["Old", "New", "Never"]
    assert never.pk


def test_fifty_a_page_and_a_bad_page_number_shows_the_nearest_page(member_client):
    Contact.objects.bulk_create([Contact(last_name=f"P{i:03}") for i in range(120)])
    first = member_client.get(URL)
    assert len(first.context["page_obj"].object_list) == 50
    last = member_client.get(URL, {"page": "999"})
    assert last.context["page_obj"].number == 3 and len(last.context["page_obj"].object_list) == 20
    assert member_client.get(URL, {"page": "-4"}).status_code == 200


# --- Fixed number of queries --------------------------------------------------------------------


def _populate(n: int, tags) -> None:
    org = make_org(f"Org for {n}")
    for i in range(n):
        contact = make_contact(f"Q{n}-{i}", organization=org, owner=None)
        contact.tags.add(*tags.values())
        make_comm(contact, days_ago=i + 1, next_action="Follow up", next_action_date="2030-01-01")


@pytest.mark.parametrize("htmx", [False, True])
def test_list_runs_the_same_number_of_queries_for_5_and_45_contacts(
    member_client, tags, django_assert_num_queries, htmx
):
    headers = HX if htmx else {}
    _populate(5, tags)
    member_client.get(URL, headers=headers)  # warm the session
    with CaptureQueriesContext(connection) as small:
        member_client.get(URL, {"q": "Q", "o": "-last_touch"}, headers=headers)
    _populate(40, tags)
    with django_assert_num_queries(len(small.captured_queries)) as large:
        response = member_client.get(URL, {"q": "Q", "o": "-last_touch"}, headers=headers)
    assert len(response.context["page_obj"].object_list) == 45
    # session, user, counts, page, tags, choices, and the grid: custom fields, preference, saved views
    # (menu and sidebar); none per row
    assert len(large.captured_queries) <= 17


# --- Export ---------------------------------------------------------------------------------------


def test_member_cannot_export(member_client):
    assert member_client.get(reverse("contact_export")).status_code == 403


def test_export_follows_the_filter_and_writes_every_column(manager_client, tags):
    CustomField.objects.create(name="Check size", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.CURRENCY)
    atlas = make_org("Atlas")
    ada = make_contact("Okafor", first_name="Ada", organization=atlas, email="ada@atlas.example")
    ada.custom_fields = {"check_size": "2500000.00"}
    ada.save()
    ada.tags.add(tags["Warm intro"])
    make_contact("=HYPERLINK(1)", first_name="Evil", status=ContactStatus.INACTIVE)

    response = manager_client.get(reverse("contact_export"), {"status": "active"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Name", "First name", "Last name"] and rows[0][-1] == "Check size"
    assert len(rows) == 2
    assert rows[1][0] == "Ada Okafor" and rows[1][7] == "Atlas" and rows[1][11] == "Warm intro"
    assert rows[1][-1] == "2500000.00"

    everything = manager_client.get(reverse("contact_export"))
    text = b"".join(everything.streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text  # neutralised for spreadsheets


def test_xlsx_export_opens_as_a_workbook(admin_client):
    make_contact("Okafor", first_name="Ada")
    response = admin_client.get(reverse("contact_export"), {"format": "xlsx"})
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = workbook.active
    assert sheet.cell(row=1, column=1).value == "Name"
    assert sheet.cell(row=2, column=1).value == "Ada Okafor"
