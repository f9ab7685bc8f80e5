"""What only a browser shows: the panel, editing in it, bulk tagging and filtering with history."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from contacts.models import Contact
from crm.testing.factories import contact as make_contact
from crm.testing.factories import org as make_org

pytestmark = pytest.mark.browser


@pytest.fixture
def people(db, tags):
    atlas = make_org("Atlas Family Office")
    return {
        "ada": make_contact("Okafor", first_name="Ada", organization=atlas, title="Partner"),
        "naomi": make_contact("Brooks", first_name="Naomi", status="nurture"),
        "marcus": make_contact("Chen", first_name="Marcus"),
    }


def test_open_a_panel_edit_the_contact_and_tag_two_rows_in_bulk(
    page, live_server, browser_problems, manager_user, people, tags
):
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/contacts/")
    table = page.locator("#contact-table")
    expect(table.get_by_role("link", name="Ada Okafor")).to_be_visible()

    # A click on the row (not on the link) opens the slide-over panel beside the list, at the
    # contact's own address.
    page.locator("tr[data-row]", has_text="Ada Okafor").locator("td").nth(3).click()
    dialog = page.locator("#dialog-host")
    expect(dialog).to_have_class(re.compile("dialog--panel"))
    expect(dialog.get_by_role("heading", name="Ada Okafor")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/contacts/{people['ada'].pk}/")

    # Edit inside the panel; saving shows the updated panel and refreshes the list behind it.
    dialog.get_by_role("link", name="Edit").click()
    title = dialog.get_by_label("Title")
    expect(title).to_have_value("Partner")
    title.fill("Chief Investment Officer")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#contact-panel")).to_contain_text("Chief Investment Officer")
    expect(page.locator("#messages")).to_contain_text("Saved Ada Okafor.")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).not_to_be_visible()
    expect(table.locator("tr", has_text="Ada Okafor")).to_contain_text("Chief Investment Officer")

    # Select two rows: the bulk bar appears; tag them.
    bar = page.locator(".bulk-bar")
    expect(bar).to_be_hidden()
    page.get_by_label("Select Ada Okafor").check()
    page.get_by_label("Select Naomi Brooks").check()
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("2 contacts selected")
    bar.get_by_label("Tag to add or remove").select_option(label="Warm intro")
    bar.get_by_role("button", name="Add tag").click()
    expect(page.locator("#messages")).to_contain_text("Tagged 2 contacts “Warm intro”.")
    expect(table.locator("tr", has_text="Ada Okafor").locator(".tag")).to_have_text(["Warm intro"])
    expect(table.locator("tr", has_text="Naomi Brooks").locator(".tag")).to_have_text(["Warm intro"])
    expect(table.locator("tr", has_text="Marcus Chen").locator(".tag")).to_have_count(0)
    expect(bar).to_be_hidden()  # the refreshed table starts with nothing selected

    for key in ("ada", "naomi"):
        assert set(people[key].tags.values_list("name", flat=True)) == {"Warm intro"}
        assert people[key].history.latest().history_user == manager_user
    assert Contact.objects.get(pk=people["ada"].pk).title == "Chief Investment Officer"
    browser_problems.assert_clean()


def test_filters_push_the_url_and_back_restores_the_previous_list(
    page, live_server, browser_problems, member_user, people
):
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    rows = page.locator("#contact-table tbody tr")
    expect(rows).to_have_count(3)

    # Typing in the header's global search leaves the list alone (no refresh of the table).
    list_requests = []
    page.on("request", lambda r: r.url.startswith(f"{live_server.url}/contacts/") and list_requests.append(r.url))
    with page.expect_response(lambda r: "/search" in r.url, timeout=5000):
        page.locator("#global-search-input").press_sequentially("chen", delay=30)
    page.wait_for_timeout(700)  # past the list's own debounce
    assert list_requests == []
    expect(page).to_have_url(f"{live_server.url}/contacts/")
    page.keyboard.press("Escape")

    page.get_by_placeholder("Search name, email").fill("okafor")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/contacts/\?q=okafor$"))  # empty filters stay out of the URL

    page.get_by_label("Status", exact=True).select_option("nurture")
    expect(page).to_have_url(re.compile(r"status=nurture"))
    expect(page.locator("#contact-table")).to_contain_text("No contacts match")
    expect(page.locator("#contact-tab-count-all")).to_have_text("0")

    page.go_back()
    expect(rows).to_have_count(1)
    expect(page.get_by_placeholder("Search name, email")).to_have_value("okafor")

    # Sorting by a column header, then filtering again, keeps the sort.
    page.goto(f"{live_server.url}/contacts/")
    page.locator("#contact-table").get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"o=name"))
    page.locator("#contact-table").get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"o=-name"))
    expect(rows.first).to_contain_text("Ada Okafor")
    page.get_by_placeholder("Search name, email").fill("a")
    expect(page).to_have_url(re.compile(r"q=a.*o=-name|o=-name.*q=a"))
    expect(rows.first).to_contain_text("Ada Okafor")

    # The type tabs are part of the same form.
    page.goto(f"{live_server.url}/contacts/")
    page.locator("label[for='contact-tab-prospect']").click()
    expect(page).to_have_url(re.compile(r"type=prospect"))
    expect(rows).to_have_count(3)  # every contact made here is a prospect
    browser_problems.assert_clean()


def test_select_all_on_the_page_then_all_matching_the_filter(page, live_server, browser_problems, manager_user, db):
    Contact.objects.bulk_create([Contact(last_name=f"Bulk{i:02}", status="nurture") for i in range(55)])
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/contacts/?status=nurture")
    page.get_by_label("Select all contacts on this page").check()
    bar = page.locator(".bulk-bar")
    expect(bar).to_contain_text("50 contacts selected")
    bar.get_by_role("button", name="Select all 55 matching").click()
    expect(bar).to_contain_text("55 contacts selected")
    expect(bar).to_contain_text("All 55 matching contacts are selected.")
    bar.get_by_label("New status").select_option("inactive")
    bar.get_by_role("button", name="Set status").click()
    expect(page.locator("#messages")).to_contain_text("Set 55 contacts to Inactive.")
    assert Contact.objects.filter(status="inactive").count() == 55
    browser_problems.assert_clean()


def test_logging_a_touch_from_the_panel_refreshes_its_timeline(
    page, live_server, browser_problems, member_user, people
):
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    page.locator("#contact-table").get_by_role("link", name="Naomi Brooks").click()
    dialog = page.locator("#dialog-host")
    expect(dialog.locator("#contact-timeline")).to_contain_text("No communications logged yet.")
    expect(dialog.locator(".contact-facts")).to_contain_text("Never")

    dialog.get_by_role("link", name="Log a touch").click()
    slot = dialog.locator(".contact-log-slot")
    slot.get_by_label("Subject").fill("Intro call with Naomi")
    slot.locator("button[type=submit]").click()

    expect(dialog.locator("#contact-timeline")).to_contain_text("Intro call with Naomi")
    expect(dialog.locator(".contact-facts")).not_to_contain_text("Never")
    expect(dialog.get_by_role("heading", name="Naomi Brooks")).to_be_visible()  # still the panel
    assert people["naomi"].communications.get().subject == "Intro call with Naomi"
    browser_problems.assert_clean()
