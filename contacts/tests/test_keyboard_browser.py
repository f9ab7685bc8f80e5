"""The keyboard in a browser: j/k and the arrows move through list rows, Enter opens, e edits,
? lists the shortcuts, keys typed into a field stay there, and the pickers take arrows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from crm.testing.factories import contact as make_contact
from crm.testing.factories import org as make_org

pytestmark = pytest.mark.browser


@pytest.fixture
def people(db):
    # The list sorts by name: Brooks, Chen, Okafor.
    return [
        make_contact("Brooks", first_name="Naomi"),
        make_contact("Chen", first_name="Marcus"),
        make_contact("Okafor", first_name="Ada", organization=make_org("Atlas Family Office")),
    ]


def current_row_text(page) -> str:
    return page.locator("#main tr[data-key-current]").inner_text()


def test_j_k_and_arrows_move_through_rows_and_enter_opens_one(page, live_server, browser_problems, member_user, people):
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    rows = page.locator("#contact-table tbody tr")
    expect(rows).to_have_count(3)
    first, second = rows.nth(0).inner_text(), rows.nth(1).inner_text()

    page.keyboard.press("j")
    assert current_row_text(page) == first
    page.keyboard.press("j")
    assert current_row_text(page) == second
    page.keyboard.press("k")
    assert current_row_text(page) == first
    page.keyboard.press("ArrowDown")
    assert current_row_text(page) == second
    # The row the keyboard is on is visibly marked.
    outline = page.locator("#main tr[data-key-current]").evaluate("row => getComputedStyle(row).outlineStyle")
    assert outline == "solid"

    page.keyboard.press("Enter")
    dialog = page.locator("#dialog-host")
    expect(dialog.get_by_role("heading", level=2).first).to_be_visible()
    heading = dialog.locator("#dialog-title").inner_text()
    assert heading in second

    # e edits the open record; Escape closes the form; the keyboard is back on the list.
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(dialog.locator("#contact-panel")).to_be_visible()
    # Focus moves into the panel once htmx has settled it; only then is it the open record.
    page.wait_for_function("document.activeElement && document.activeElement.closest('#contact-panel') !== null")
    page.keyboard.press("e")
    expect(dialog.locator("#contact-form form")).to_be_visible()
    browser_problems.assert_clean()


def test_question_mark_shows_the_shortcuts_and_keys_in_a_field_are_typed(
    page, live_server, browser_problems, member_user, people
):
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    page.keyboard.press("?")
    dialog = page.locator("#dialog-host")
    expect(dialog.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    expect(dialog).to_contain_text("Edit the open record")
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()

    box = page.get_by_placeholder("Search name, email")
    box.focus()
    box.press_sequentially("jk?", delay=20)
    expect(box).to_have_value("jk?")
    expect(page.locator("#main [data-key-current]")).to_have_count(0)
    expect(dialog).not_to_be_visible()

    # "/" focuses the header search, also while a panel is open beside the list.
    box.fill("")  # the typed "jk?" filtered the list; show every row again
    page.locator("#main").focus()
    page.get_by_role("link", name="Ada Okafor").click()
    expect(dialog.locator("#contact-panel")).to_be_visible()
    page.keyboard.press("/")
    expect(page.locator("#global-search-input")).to_be_focused()
    expect(dialog).to_be_visible()
    browser_problems.assert_clean()


def test_arrow_keys_and_enter_pick_a_contact_in_the_picker(page, live_server, browser_problems, member_user, people):
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/communications/")
    page.get_by_role("link", name="Log a communication").click()
    form = page.locator("#dialog-host #communication-form")
    search = form.locator("#id_contact_search")
    expect(search).to_be_focused()  # the dialog's first field
    make_contact("Okafor", first_name="Obi")
    with page.expect_response(lambda r: "search=okafor" in r.url):
        search.press_sequentially("okafor", delay=30)
    options = form.locator(".picker-option")
    expect(options).to_have_count(2)
    search.press("ArrowDown")
    expect(options.nth(0)).to_have_class("picker-option is-active")
    search.press("ArrowDown")
    expect(options.nth(1)).to_have_class("picker-option is-active")
    chosen_name = options.nth(1).locator(".picker-option-name").inner_text()
    search.press("Enter")
    expect(form.locator(".picker-chosen")).to_contain_text(chosen_name)
    expect(page.locator("#dialog-host")).to_be_visible()  # Enter picked; it did not submit
    browser_problems.assert_clean()
