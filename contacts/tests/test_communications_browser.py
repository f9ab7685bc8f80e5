"""What only a browser shows: logging from the contact panel, the picker, in-place ticks and actions."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conftest import sign_in
from contacts.models import Communication
from crm.testing.factories import action, commitment, contact, fund, lp, opportunity, org, stage

pytestmark = pytest.mark.browser


def test_log_a_communication_from_the_contact_panel_and_see_it_on_the_dashboard(
    page, live_server, browser_problems, member_user
):
    person = contact("Haddad", first_name="Amira", organization=org("Sovereign Wealth Holdings"))
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    page.locator("#contact-table").get_by_role("link", name="Amira Haddad").click()
    dialog = page.locator("#dialog-host")
    expect(dialog.get_by_role("heading", name="Amira Haddad")).to_be_visible()

    # The panel loads the log form inline, with Amira fixed as the contact.
    dialog.get_by_role("link", name="Log a touch").click()
    form = dialog.locator("#communication-form")
    expect(form).to_contain_text("Log a communication with Amira Haddad")
    form.get_by_text("Meeting", exact=True).click()
    form.get_by_label("Subject").fill("Fund II <b>diligence</b> session")
    form.get_by_label("Notes").fill("Walked through the marks.\nShe asked for references.")
    form.get_by_label("Next action").fill("Send the reference list")
    form.get_by_label("Due").fill((timezone.localdate() + datetime.timedelta(days=3)).isoformat())
    form.get_by_role("button", name="Log communication").click()

    # The form folds away and the panel's timeline shows the entry.
    expect(form).to_have_count(0)
    expect(dialog.locator("#contact-timeline")).to_contain_text("Fund II <b>diligence</b> session")
    expect(page.locator("#messages")).to_contain_text("Logged")
    item = Communication.objects.get()
    assert item.contact == person and item.created_by == member_user and item.type == "meeting"
    assert item.body == "Walked through the marks.\nShe asked for references."

    page.goto(f"{live_server.url}/")
    recent = page.locator("#dash-recent")
    expect(recent.get_by_role("link", name="Fund II <b>diligence</b> session")).to_be_visible()
    expect(page.locator("#dash-actions")).to_contain_text("Send the reference list")

    # Its panel keeps the line break and shows the markup as text.
    recent.get_by_role("link", name="Fund II <b>diligence</b> session").click()
    body = page.locator("#dialog-host .log-body")
    expect(body).to_contain_text("Walked through the marks.")
    assert body.locator("br").count() == 1
    assert page.locator("#dialog-host b").count() == 0
    browser_problems.assert_clean()


def test_pick_a_contact_as_you_type_and_log_from_the_communications_page(
    page, live_server, browser_problems, member_user
):
    person = contact("Whitfield", first_name="James", organization=org("Blue Harbor Foundation"))
    contact("Brooks", first_name="Naomi")
    deal = opportunity(person, fund("Fund II"), stage("Meeting"), name="Blue Harbor — Fund II")
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/communications/")
    page.get_by_role("link", name="Log a communication").click()
    dialog = page.locator("#dialog-host")
    form = dialog.locator("#communication-form")
    expect(form).to_be_visible()
    opportunities = form.get_by_label("Linked opportunity")
    expect(opportunities).to_contain_text("Choose a contact first")

    form.locator("#id_contact_search").press_sequentially("blue har", delay=30)
    option = form.locator(".picker-option", has_text="James Whitfield")
    expect(option).to_be_visible()
    expect(form.locator(".picker-option")).to_have_count(1)
    option.click()
    expect(form.locator(".picker-chosen")).to_contain_text("James Whitfield")
    # The opportunity list follows the picked contact.
    expect(form.get_by_label("Linked opportunity")).to_contain_text("Blue Harbor — Fund II")
    form.get_by_label("Linked opportunity").select_option(str(deal.pk))
    form.get_by_label("Subject").fill("Intro call")
    form.get_by_role("button", name="Log communication").click()

    expect(dialog).not_to_be_visible()
    expect(page.locator("#communication-table")).to_contain_text("Intro call")
    expect(page).to_have_url(f"{live_server.url}/communications/")
    item = Communication.objects.get()
    assert item.contact == person and item.opportunity == deal

    # Filtering by contact with the same picker refreshes the table and the address.
    page.locator("#filter-contact_search").press_sequentially("naomi", delay=30)
    page.locator("#filter-contact-picker .picker-option").click()
    expect(page.locator("#communication-table")).to_contain_text("No communications match")
    expect(page).to_have_url(re.compile(r"contact=\d+"))
    browser_problems.assert_clean()


def test_manager_ticks_the_wire_in_place(page, live_server, browser_problems, manager_user):
    item = commitment(lp(contact("Okafor", first_name="Daniel")), fund("Fund I"), "20000000")
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/lps/")
    mark = page.get_by_role("button", name=re.compile("Wire received for Daniel Okafor"))
    expect(mark).to_have_attribute("aria-pressed", "false")
    mark.click()
    expect(page.get_by_role("button", name=re.compile("Wire received for Daniel Okafor"))).to_have_attribute(
        "aria-pressed", "true"
    )
    item.refresh_from_db()
    assert item.wire_received
    assert item.history.first().history_user == manager_user
    page.reload()
    expect(page.get_by_role("button", name=re.compile("Wire received for Daniel Okafor"))).to_have_attribute(
        "aria-pressed", "true"
    )
    assert Decimal(item.commitment_amount) == Decimal("20000000")
    browser_problems.assert_clean()


def test_marking_an_overdue_action_done_updates_the_item_and_the_sidebar(
    page, live_server, browser_problems, member_user
):
    action(contact("Vance", first_name="Eleanor"), -2, by=member_user, next_action="Send the Q3 letter")
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/actions/")
    badge = page.locator("#overdue-badge")
    expect(badge).to_have_text("1")
    item = page.locator(".action-item", has_text="Send the Q3 letter")
    item.get_by_role("button", name=re.compile("Mark .* done")).click()
    expect(item.get_by_role("button", name="Undo")).to_be_visible()
    expect(item).to_contain_text("Done by Max Member")
    expect(page.locator("#overdue-badge")).to_be_hidden()
    item.get_by_role("button", name="Undo").click()
    expect(page.locator("#overdue-badge")).to_have_text("1")

    # Reschedule in the modal: the action moves out of the overdue group.
    item.get_by_role("link", name=re.compile("Reschedule")).click()
    page.locator("#dialog-host").get_by_label("New date").fill("2031-03-01")
    page.locator("#dialog-host").get_by_role("button", name="Reschedule").click()
    expect(page.locator(".action-group--later")).to_contain_text("Send the Q3 letter")
    expect(page.locator(".action-group--overdue")).not_to_contain_text("Send the Q3 letter")
    expect(page.locator("#overdue-badge")).to_be_hidden()
    browser_problems.assert_clean()


def test_filter_the_log_by_an_organization_picked_as_you_type(page, live_server, browser_problems, member_user):
    atlas = org("Atlas Family Office")
    comm_with = contact("Okafor", first_name="Ada", organization=atlas)
    other = contact("Brown", first_name="Bob", organization=org("Blue Harbor"))
    Communication.objects.create(contact=comm_with, subject="With Ada", communication_date=timezone.now())
    Communication.objects.create(contact=other, subject="With Bob", communication_date=timezone.now())
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/communications/")
    table = page.locator("#communication-table")
    expect(table).to_contain_text("With Bob")

    page.locator("#filter-organization_search").press_sequentially("atlas", delay=30)
    page.locator(".picker-option", has_text="Atlas Family Office").click()

    expect(table).not_to_contain_text("With Bob")
    expect(table).to_contain_text("With Ada")
    expect(page.locator("#filter-organization-picker")).to_contain_text("Atlas Family Office")
    assert f"organization={atlas.pk}" in page.url
    browser_problems.assert_clean()
