"""The communications log: list, filters, export, log/edit/delete, the contact picker."""

from __future__ import annotations

import datetime
import io
import re
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from contacts.models import Communication, CommunicationType
from crm.models import Role
from crm.testing.factories import comm, contact, fund, opportunity, org

LIST = reverse("communication_list")
CREATE = reverse("communication_create")
# What htmx sends when a link opens the form in the dialog.
HX_DIALOG = {**HX, "HX-Target": "dialog-body"}


def page_text(response) -> str:
    return response.content.decode()


def row_subjects(response) -> list[str]:
    """Subjects in the table, in order (the link text of each row's subject cell)."""
    html = page_text(response)
    return re.findall(r'data-dialog="panel">([^<]+)</a>\s*(?:<p class="muted small log-snippet">|</td>|\s*<p)', html)


def valid_post(person, **extra) -> dict:
    data = {
        "contact": person.pk,
        "type": CommunicationType.CALL,
        "communication_date": "2025-03-14T15:30",
        "duration_minutes": "30",
        "subject": "Intro call",
        "body": "Talked about Fund II.",
        "outcome": "Interested",
        "next_action": "",
        "next_action_date": "",
    }
    data.update(extra)
    return data


# --- List ---------------------------------------------------------------------------------


def test_list_shows_newest_first(member_client):
    person = contact()
    comm(person, days_ago=5, subject="Older call")
    comm(person, days_ago=1, subject="Newer email")
    comm(person, days_ago=30, subject="Oldest note")
    response = member_client.get(LIST)
    assert response.status_code == 200
    html = page_text(response)
    assert html.index("Newer email") < html.index("Older call") < html.index("Oldest note")


def test_list_answers_the_table_fragment_to_htmx_and_the_page_otherwise(member_client):
    comm(contact(), subject="Quarterly letter")
    full = member_client.get(LIST)
    fragment = member_client.get(LIST, headers=HX)
    assert "<html" in page_text(full) and 'id="communication-table"' in page_text(full)
    assert "<html" not in page_text(fragment)
    assert page_text(fragment).lstrip().startswith('<div id="communication-table"')
    assert "Quarterly letter" in page_text(fragment)
    assert "HX-Request" in fragment["Vary"] and "HX-Request" in full["Vary"]


def test_filter_by_type(member_client):
    person = contact()
    comm(person, subject="A call", type=CommunicationType.CALL)
    comm(person, subject="An email", type=CommunicationType.EMAIL)
    html = page_text(member_client.get(LIST, {"type": "call"}, headers=HX))
    assert "A call" in html and "An email" not in html


def test_filter_by_contact_and_by_organization(member_client):
    atlas = org("Atlas Family Office")
    ada = contact("Okafor", organization=atlas)
    bob = contact("Brown")
    comm(ada, subject="With Ada")
    comm(bob, subject="With Bob")
    by_contact = page_text(member_client.get(LIST, {"contact": bob.pk}, headers=HX))
    assert "With Bob" in by_contact and "With Ada" not in by_contact
    by_org = page_text(member_client.get(LIST, {"organization": atlas.pk}, headers=HX))
    assert "With Ada" in by_org and "With Bob" not in by_org


def test_contact_filter_resolves_a_typed_name_without_javascript(member_client):
    ada = contact("Quist", first_name="Ingrid")
    comm(ada, subject="With Ingrid")
    comm(contact("Other"), subject="With someone else")
    response = member_client.get(LIST, {"contact": "", "contact_search": "ingrid quist"})
    html = page_text(response)
    assert "With Ingrid" in html and "With someone else" not in html
    # The picker shows the resolved contact as chosen.
    assert f'name="contact" value="{ada.pk}"' in html


def test_filter_by_logged_by(member_client, member_user, manager_user):
    person = contact()
    comm(person, subject="Logged by Max", created_by=member_user)
    comm(person, subject="Logged by Mona", created_by=manager_user)
    html = page_text(member_client.get(LIST, {"logged_by": manager_user.pk}, headers=HX))
    assert "Logged by Mona" in html and "Logged by Max" not in html


def test_filter_by_date_range_includes_both_ends(member_client):
    person = contact()
    tz = timezone.get_current_timezone()
    for day, subject in ((1, "March first"), (10, "March tenth"), (20, "March twentieth")):
        Communication.objects.create(
            contact=person,
            subject=subject,
            communication_date=datetime.datetime(2025, 3, day, 23, 30, tzinfo=tz),
        )
    html = page_text(member_client.get(LIST, {"date_from": "2025-03-01", "date_to": "2025-03-10"}, headers=HX))
    assert "March first" in html and "March tenth" in html and "March twentieth" not in html


def test_a_date_in_the_wrong_format_says_so_and_filters_nothing_out(member_client):
    comm(contact(), subject="Still listed")
    response = member_client.get(LIST, {"date_from": "14/03/2025"})
    assert response.status_code == 200
    html = page_text(response)
    assert "Enter a date like 2025-03-14." in html
    assert "Still listed" in html


def test_filter_by_open_next_action(member_client):
    person = contact()
    comm(person, subject="Has open action", next_action="Send deck")
    comm(person, subject="Action done", next_action="Call back", next_action_done=True)
    comm(person, subject="No action")
    open_only = page_text(member_client.get(LIST, {"open_action": "yes"}, headers=HX))
    assert "Has open action" in open_only and "Action done" not in open_only and "No action" not in open_only
    without = page_text(member_client.get(LIST, {"open_action": "no"}, headers=HX))
    assert "Has open action" not in without and "Action done" in without and "No action" in without


def test_free_text_searches_subject_and_body(member_client):
    person = contact()
    comm(person, subject="Data room access", body="")
    comm(person, subject="Lunch", body="Discussed the data room and the DDQ.")
    comm(person, subject="Unrelated", body="Weather talk.")
    html = page_text(member_client.get(LIST, {"q": "data room"}, headers=HX))
    assert "Data room access" in html and "Lunch" in html and "Unrelated" not in html


def test_filter_by_opportunity_link_from_an_opportunity_panel(member_client):
    person = contact()
    deal = opportunity(person, fund())
    comm(person, subject="About the deal", opportunity=deal)
    comm(person, subject="Not about it")
    html = page_text(member_client.get(LIST, {"opportunity": deal.pk}))
    assert "About the deal" in html and "Not about it" not in html
    assert f"Opportunity: {deal.name}" in html


def test_list_paginates_fifty_a_page(member_client):
    person = contact()
    for n in range(55):
        comm(person, days_ago=n + 1, subject=f"Entry {n:02d}")
    first = page_text(member_client.get(LIST))
    second = page_text(member_client.get(LIST, {"page": 2}, headers=HX))
    assert "Entry 00" in first and "Entry 49" in first and "Entry 50" not in first
    assert "Entry 50" in second and "Entry 54" in second and "Entry 00" not in second
    assert "Page 2 of 2" in second


@pytest.mark.parametrize("size", [3, 30])
def test_list_runs_a_fixed_number_of_queries(member_client, member_user, django_assert_max_num_queries, size):
    deal_fund = fund()
    for n in range(size):
        person = contact(organization=org())
        deal = opportunity(person, deal_fund)
        item = comm(person, subject=f"Entry {n}", created_by=member_user, opportunity=deal, next_action="Call")
        item.team_attendees.add(member_user)
    # Session, user, count, page, the organization and user filter choices, the sidebar badge.
    with django_assert_max_num_queries(9):
        response = member_client.get(LIST, {"type": "", "q": ""})
    assert response.status_code == 200
    assert page_text(response).count('class="pill pill--') == size


def test_list_query_count_does_not_grow_with_rows(member_client, django_assert_num_queries):
    def count_queries(n: int) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for _ in range(n):
            comm(contact(organization=org()), next_action="Call")
        with CaptureQueriesContext(connection) as ctx:
            member_client.get(LIST)
        return len(ctx.captured_queries)

    assert count_queries(2) == count_queries(25)


# --- Export -------------------------------------------------------------------------------


def test_manager_exports_the_filtered_list_as_csv(manager_client, manager_user):
    person = contact("Okafor", first_name="Ada")
    kept = comm(person, subject="=HYPERLINK(evil)", type=CommunicationType.CALL, created_by=manager_user)
    kept.team_attendees.add(manager_user)
    comm(person, subject="An email", type=CommunicationType.EMAIL)
    response = manager_client.get(reverse("communication_export"), {"type": "call"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("Date,Type,Contact,Organization,Subject")
    assert len(lines) == 2
    assert "'=HYPERLINK(evil)" in lines[1]  # formula neutralised
    assert "Ada Okafor" in lines[1] and "Mona Manager" in lines[1]


def test_manager_exports_xlsx(manager_client):
    comm(contact(), subject="In the sheet", duration_minutes=45)
    response = manager_client.get(reverse("communication_export"), {"format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.values)
    assert rows[1][4] == "In the sheet"
    assert rows[1][7] == 45
    assert isinstance(rows[1][0], datetime.datetime)


def test_member_cannot_export(member_client):
    assert member_client.get(reverse("communication_export")).status_code == 403


def test_export_buttons_show_only_to_managers(client, member_user, manager_user):
    client.force_login(member_user)
    assert "Export CSV" not in page_text(client.get(LIST))
    client.force_login(manager_user)
    assert "Export CSV" in page_text(client.get(LIST))


# --- Log a communication ------------------------------------------------------------------


def test_form_defaults_to_now_in_the_team_time_zone(member_client, settings):
    settings.TIME_ZONE = "America/New_York"
    response = member_client.get(CREATE)
    assert response.status_code == 200
    value = re.search(r'name="communication_date" value="([^"]+)"', page_text(response)).group(1)
    shown = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M")
    new_york = datetime.datetime.now(ZoneInfo("America/New_York")).replace(tzinfo=None, second=0, microsecond=0)
    utc = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, second=0, microsecond=0)
    assert abs(shown - new_york) <= datetime.timedelta(minutes=1)
    assert abs(shown - utc) >= datetime.timedelta(hours=3)


def test_form_ticks_the_signed_in_user_as_present(member_client, member_user):
    html = page_text(member_client.get(CREATE))
    assert re.search(rf'name="team_attendees" value="{member_user.pk}"[^>]*checked', html)


def test_log_a_communication_without_htmx_redirects_to_the_list(member_client, member_user):
    person = contact()
    response = member_client.post(CREATE, valid_post(person))
    assert response.status_code == 302 and response["Location"] == LIST
    item = Communication.objects.get()
    assert item.contact == person and item.created_by == member_user
    assert item.subject == "Intro call" and item.duration_minutes == 30
    assert timezone.localtime(item.communication_date).strftime("%Y-%m-%d %H:%M") == "2025-03-14 15:30"
    assert item.history.get().history_user == member_user


def test_log_redirects_to_a_safe_next_and_never_off_site(member_client):
    person = contact()
    response = member_client.post(CREATE + "?next=/contacts/", valid_post(person))
    assert response["Location"] == "/contacts/"
    response = member_client.post(CREATE, valid_post(person, next="https://evil.example/"))
    assert response["Location"] == LIST


def test_log_in_the_dialog_closes_it_and_tells_timelines_to_refresh(member_client):
    person = contact()
    response = member_client.post(CREATE, {**valid_post(person), "_dialog": "1"}, headers=HX)
    assert response.status_code == 200
    trigger = response["HX-Trigger"]
    assert "closeDialog" in trigger and "communicationsChanged" in trigger
    html = page_text(response)
    assert "hx-swap-oob" in html and "Logged" in html  # the flash message rides along
    assert 'id="overdue-badge"' in html
    assert Communication.objects.count() == 1


def test_log_inline_on_a_panel_folds_the_form_away_and_refreshes_timelines(member_client):
    person = contact()
    url = f"{CREATE}?contact={person.pk}"
    form = page_text(member_client.get(url, headers={**HX, "HX-Target": "contact-log-slot"}))
    assert 'name="_dialog"' not in form and 'hx-swap="delete">Cancel</button>' in form
    response = member_client.post(url, valid_post(person), headers=HX)
    assert response.status_code == 200
    assert "communicationsChanged" in response["HX-Trigger"]
    assert "closeDialog" not in response["HX-Trigger"]
    html = page_text(response)
    assert 'id="communication-form"' not in html and "Logged" in html
    assert Communication.objects.get().contact == person


def test_get_form_for_htmx_is_the_fragment_and_knows_it_is_in_the_dialog(member_client):
    fragment = page_text(member_client.get(CREATE, headers=HX_DIALOG))
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="communication-form"')
    assert 'name="_dialog" value="1"' in fragment
    page = page_text(member_client.get(CREATE))
    assert "<html" in page and 'name="_dialog"' not in page


def test_missing_contact_rerenders_with_an_error_and_keeps_the_input(member_client):
    response = member_client.post(CREATE, valid_post(contact(), contact="", subject="Keep me"), headers=HX)
    assert response.status_code == 200
    html = page_text(response)
    assert "Choose a contact." in html
    assert 'value="Keep me"' in html
    assert Communication.objects.count() == 0


def test_a_date_in_the_wrong_format_is_refused_with_a_clear_message(member_client):
    response = member_client.post(CREATE, valid_post(contact(), communication_date="14/03/2025 3pm"))
    assert response.status_code == 200
    assert "Enter a date and time like 2025-03-14 15:30." in page_text(response)
    assert Communication.objects.count() == 0


def test_an_empty_entry_is_refused(member_client):
    response = member_client.post(CREATE, valid_post(contact(), subject="", body="  ", outcome=""))
    assert response.status_code == 200
    assert "Add a subject, notes or an outcome" in page_text(response)


def test_next_action_date_without_an_action_is_refused(member_client):
    response = member_client.post(CREATE, valid_post(contact(), next_action_date="2025-04-01"))
    assert "Say what the next action is" in page_text(response)


def test_huge_duration_and_overlong_subject_are_refused(member_client):
    response = member_client.post(CREATE, valid_post(contact(), duration_minutes="99999999", subject="x" * 300))
    html = page_text(response)
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to" in html
    assert "Keep this to at most 250 characters (it has 300)." in html
    assert Communication.objects.count() == 0


def test_script_tags_in_subject_and_body_are_stored_as_text_and_rendered_escaped(member_client):
    person = contact()
    body = "Line one\n<script>alert(1)</script>\n\nSecond paragraph"
    member_client.post(CREATE, valid_post(person, subject="<script>alert('x')</script>", body=body))
    item = Communication.objects.get()
    assert item.subject == "<script>alert('x')</script>"
    listing = page_text(member_client.get(LIST))
    detail = page_text(member_client.get(reverse("communication_detail", args=[item.pk])))
    for html in (listing, detail):
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    # Line breaks kept: a <br> inside the first paragraph and a second paragraph.
    assert "<p>Line one<br>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in detail
    assert "<p>Second paragraph</p>" in detail


def test_prefilled_contact_is_fixed_and_posted_back(member_client):
    ada, bob = contact("Ada"), contact("Bob")
    url = f"{CREATE}?contact={ada.pk}"
    html = page_text(member_client.get(url, headers=HX))
    assert f'type="hidden" name="contact" value="{ada.pk}"' in html
    assert "Change</button>" not in html  # fixed: no way to pick another
    member_client.post(url, valid_post(bob))  # a tampered value is ignored
    assert Communication.objects.get().contact == ada


def test_prefilled_opportunity_fixes_its_contact_and_itself(member_client):
    person = contact()
    deal = opportunity(person, fund())
    url = f"{CREATE}?opportunity={deal.pk}"
    html = page_text(member_client.get(url))
    assert f'name="opportunity" value="{deal.pk}"' in html and deal.name in html
    member_client.post(url, valid_post(contact()))
    item = Communication.objects.get()
    assert item.contact == person and item.opportunity == deal


@pytest.mark.parametrize("query", ["contact=999999", "contact=abc", "opportunity=424242"])
def test_prefill_with_a_record_that_does_not_exist_is_404(member_client, query):
    assert member_client.get(f"{CREATE}?{query}").status_code == 404


def test_opportunity_choices_are_limited_to_the_contacts_own(member_client):
    person, other = contact(), contact()
    in_fund = fund()
    mine = opportunity(person, in_fund, name="Person's deal")
    theirs = opportunity(other, in_fund, name="Other deal")
    html = page_text(member_client.get(f"{CREATE}?contact={person.pk}"))
    assert "Person&#x27;s deal" in html and "Other deal" not in html
    response = member_client.post(CREATE, valid_post(person, opportunity=theirs.pk))
    assert response.status_code == 200 and Communication.objects.count() == 0
    assert "Select a valid choice" in page_text(response)
    member_client.post(CREATE, valid_post(person, opportunity=mine.pk))
    assert Communication.objects.get().opportunity == mine


def test_opportunity_options_follow_the_picked_contact(member_client):
    person = contact()
    opportunity(person, fund(), name="Their deal")
    url = reverse("communication_opportunity_options")
    fragment = page_text(member_client.get(url, {"contact": person.pk}, headers=HX))
    assert fragment.lstrip().startswith('<div id="communication-opportunity"') and "Their deal" in fragment
    empty = page_text(member_client.get(url, {"contact": ""}, headers=HX))
    assert "Choose a contact first" in empty and "Their deal" not in empty
    page = member_client.get(url, {"contact": person.pk})
    assert page.status_code == 302 and page["Location"] == f"{CREATE}?contact={person.pk}"


def test_attendees_are_saved_with_the_communication(member_client, member_user, manager_user):
    person, guest = contact(), contact("Guest")
    data = valid_post(person, team_attendees=[member_user.pk, manager_user.pk], contact_attendees=[guest.pk])
    member_client.post(CREATE, data)
    item = Communication.objects.get()
    assert set(item.team_attendees.all()) == {member_user, manager_user}
    assert list(item.contact_attendees.all()) == [guest]


def test_the_main_contact_is_not_listed_again_as_an_attendee(member_client):
    person = contact()
    member_client.post(CREATE, valid_post(person, contact_attendees=[person.pk]))
    assert Communication.objects.get().contact_attendees.count() == 0


# --- Typing a contact without JavaScript ----------------------------------------------------


def test_a_typed_name_that_matches_one_contact_is_taken(member_client):
    person = contact("Haddad", first_name="Amira")
    member_client.post(CREATE, valid_post(person, contact="", contact_search="amira haddad"))
    assert Communication.objects.get().contact == person


def test_a_typed_name_that_matches_several_offers_a_choice(member_client):
    first, second = contact("Smith", first_name="Jane"), contact("Smith", first_name="John")
    response = member_client.post(CREATE, valid_post(first, contact="", contact_search="smith"))
    html = page_text(response)
    assert "Several contacts match “smith”" in html
    assert f'type="radio" name="contact" value="{first.pk}"' in html
    assert f'type="radio" name="contact" value="{second.pk}"' in html
    # Choosing one of them (posted after the empty hidden input) saves.
    data = valid_post(first, contact_search="smith")
    data["contact"] = ["", str(second.pk)]
    member_client.post(CREATE, data)
    assert Communication.objects.get().contact == second


def test_a_typed_name_that_matches_nobody_says_so(member_client):
    response = member_client.post(CREATE, valid_post(contact(), contact="", contact_search="Nobody Atall"))
    assert "No contact matches “Nobody Atall”" in page_text(response)


def test_a_typed_attendee_is_added_without_javascript(member_client):
    person, guest = contact(), contact("Vance", first_name="Eleanor")
    member_client.post(CREATE, valid_post(person, contact_attendees_search="eleanor vance"))
    assert list(Communication.objects.get().contact_attendees.all()) == [guest]


# --- The contact picker endpoint -------------------------------------------------------------


def test_picker_searches_as_you_type(member_client):
    atlas = org("Atlas Family Office")
    match = contact("Vance", first_name="Eleanor", organization=atlas, email="eleanor@atlas.example")
    contact("Unrelated")
    url = reverse("contact_picker")
    html = page_text(
        member_client.get(url, {"name": "contact", "id": "id_contact", "contact_search": "atlas"}, headers=HX)
    )
    assert "Eleanor Vance" in html and "Unrelated" not in html
    assert f"pick={match.pk}" in html
    none = page_text(member_client.get(url, {"name": "contact", "contact_search": "zzzz"}, headers=HX))
    assert "No contact matches" in none


def test_picking_renders_the_picker_chosen_and_fires_the_event_after_the_swap(member_client):
    person = contact("Vance")
    url = reverse("contact_picker")
    response = member_client.get(
        url, {"name": "contact", "id": "id_contact", "event": "contactPicked", "pick": person.pk}, headers=HX
    )
    html = page_text(response)
    assert f'type="hidden" name="contact" value="{person.pk}" id="id_contact"' in html
    assert "contactPicked" in response["HX-Trigger-After-Swap"]


def test_multi_picker_keeps_earlier_picks(member_client):
    first, second = contact("First"), contact("Second")
    url = reverse("contact_picker")
    params = {
        "name": "contact_attendees",
        "id": "id_contact_attendees",
        "multiple": "1",
        "contact_attendees": [first.pk],
        "pick": second.pk,
    }
    html = page_text(member_client.get(url, params, headers=HX))
    assert f'name="contact_attendees" value="{first.pk}" checked' in html
    assert f'name="contact_attendees" value="{second.pk}" checked' in html


@pytest.mark.parametrize("params", [{"name": "x<y"}, {"id": '"><script>'}, {"event": "alert(1)"}])
def test_picker_refuses_odd_parameters(member_client, params):
    response = member_client.get(reverse("contact_picker"), {**params, "contact_search": "a"}, headers=HX)
    assert response.status_code == 400


def test_picker_for_a_new_lp_offers_only_contacts_without_a_profile(member_client):
    from lps.models import LPProfile

    investor = contact("Investor")
    contact("Prospect")
    LPProfile.objects.create(contact=investor)
    url = reverse("contact_picker")
    html = page_text(member_client.get(url, {"scope": "no_lp", "contact_search": "ada"}, headers=HX))
    assert "Prospect" in html and "Investor" not in html
    assert "scope=no_lp" in html  # a pick keeps the scope


def test_picker_without_htmx_is_a_find_a_contact_page(member_client):
    person = contact("Vance", first_name="Eleanor")
    response = member_client.get(reverse("contact_picker"), {"q": "eleanor"})
    html = page_text(response)
    assert "<html" in html and "Eleanor Vance" in html
    assert f"{CREATE}?contact={person.pk}" in html


# --- Detail, edit, delete -------------------------------------------------------------------


def test_detail_panel_and_page(member_client, member_user):
    item = comm(contact(), subject="Meeting notes", body="Point one\nPoint two", created_by=member_user)
    url = reverse("communication_detail", args=[item.pk])
    panel = page_text(member_client.get(url, headers=HX))
    assert panel.lstrip().startswith('<article id="communication-panel"') and "<html" not in panel
    assert "Point one<br>Point two" in panel
    page = page_text(member_client.get(url))
    assert "<html" in page and "Meeting notes" in page and "History" in page


def test_member_edits_a_communication_with_history(member_client, member_user):
    person = contact()
    item = comm(person, subject="Old subject")
    url = reverse("communication_edit", args=[item.pk])
    form = page_text(member_client.get(url, headers=HX))
    assert 'value="Old subject"' in form
    response = member_client.post(url, valid_post(person, subject="New subject"))
    assert response.status_code == 302 and response["Location"] == reverse("communication_detail", args=[item.pk])
    item.refresh_from_db()
    assert item.subject == "New subject"
    latest = item.history.first()
    assert latest.history_user == member_user and latest.subject == "New subject"


def test_edit_in_the_dialog_shows_the_saved_record(member_client):
    person = contact()
    item = comm(person, subject="Before")
    url = reverse("communication_edit", args=[item.pk])
    response = member_client.post(url, {**valid_post(person, subject="After"), "_dialog": "1"}, headers=HX)
    assert "communicationsChanged" in response["HX-Trigger"]
    html = page_text(response)
    assert '<article id="communication-panel"' in html and "After" in html


def test_edit_with_bad_input_keeps_the_record(member_client):
    person = contact()
    item = comm(person, subject="Unchanged")
    response = member_client.post(
        reverse("communication_edit", args=[item.pk]), valid_post(person, communication_date="yesterday"), headers=HX
    )
    assert response.status_code == 200 and "Enter a date and time like" in page_text(response)
    item.refresh_from_db()
    assert item.subject == "Unchanged"


def test_changing_the_next_action_of_a_done_one_reopens_it(member_client, member_user):
    person = contact()
    item = comm(
        person,
        next_action="Old action",
        next_action_done=True,
        next_action_done_at=timezone.now(),
        next_action_done_by=member_user,
    )
    member_client.post(reverse("communication_edit", args=[item.pk]), valid_post(person, next_action="New action"))
    item.refresh_from_db()
    assert item.next_action == "New action" and not item.next_action_done and item.next_action_done_by is None


def test_member_cannot_delete(member_client):
    item = comm(contact())
    url = reverse("communication_delete", args=[item.pk])
    assert member_client.get(url).status_code == 403
    assert member_client.post(url).status_code == 403
    assert Communication.objects.filter(pk=item.pk).exists()


@pytest.mark.parametrize("htmx", [True, False])
def test_manager_deletes_after_confirming(manager_client, htmx):
    item = comm(contact(), subject="To remove")
    url = reverse("communication_delete", args=[item.pk])
    confirm = manager_client.get(url, headers=HX if htmx else {})
    assert "Delete “To remove”?" in page_text(confirm)
    response = manager_client.post(url, headers=HX if htmx else {})
    assert not Communication.objects.filter(pk=item.pk).exists()
    if htmx:
        assert "closeDialog" in response["HX-Trigger"] and "communicationsChanged" in response["HX-Trigger"]
    else:
        assert response.status_code == 302 and response["Location"] == LIST


def test_detail_of_a_missing_communication_is_404(member_client):
    assert member_client.get(reverse("communication_detail", args=[987654])).status_code == 404


def test_delete_sits_behind_the_more_menu_only_for_managers(client, member_user, manager_user):
    item = comm(contact())
    url = reverse("communication_detail", args=[item.pk])
    delete_url = reverse("communication_delete", args=[item.pk])
    client.force_login(member_user)
    text = page_text(client.get(url, headers=HX))
    assert delete_url not in text and "more-menu" not in text
    client.force_login(manager_user)
    text = page_text(client.get(url, headers=HX))
    menu = text[text.index('<details class="more-menu">') : text.index("</details>")]
    assert f'href="{delete_url}"' in menu


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.MEMBER])
def test_every_role_logs_communications(client, request, role):
    user = request.getfixturevalue(f"{role}_user")
    client.force_login(user)
    client.post(CREATE, valid_post(contact()))
    assert Communication.objects.get().created_by == user
