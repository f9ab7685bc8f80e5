"""The import wizard in Chromium: upload → kind → mapping (htmx refresh) → dry run → import → summary."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from contacts.models import Contact, ContactType
from crm.models import ImportRun, ImportStatus

pytestmark = pytest.mark.browser

PEOPLE = (
    "\ufeffFull Name,Company,E-mail,Relationship,Labels\n"
    '"Dr. Sarah O\'Neil-Smith, CFA","""Quire Holdings, LLC""",Sarah@Quire.example ,Current LP,'
    '"LPAC,""Fintech, Insurtech"""\n'
    "Tom Baker,,tom@baker.example,Former colleague,\n"
    "Ines Duarte,Atlas Partners,ines@atlas.example,Prospective LP,Co-invest\n"
    ",,,,\n"
    "Vera Ives,Atlas Partners,vera@atlas.example,prospective lp,"
)


def test_a_manager_imports_a_file_from_upload_to_summary(page, live_server, browser_problems, manager_user, tmp_path):
    source = tmp_path / "People-All people.csv"
    source.write_text(PEOPLE, encoding="utf-8")
    sign_in(page, live_server, manager_user)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Upload a CSV file")).to_be_visible()
    page.get_by_label("CSV file", exact=True).set_input_files(str(source))
    page.get_by_role("button", name="Continue").click()

    # What the rows are: recognised from the columns.
    expect(page.get_by_role("heading", name="What are the rows?")).to_be_visible()
    expect(page.get_by_role("radio", name="Contacts")).to_be_checked()
    page.get_by_role("button", name="Continue to mapping").click()

    # Mapping: suggestions, and a value with no equal among ours.
    expect(page.get_by_label("E-mail")).to_have_value("email")
    expect(page.get_by_label("Full Name")).to_have_value("full_name")
    values = page.get_by_role("heading", name="Relationship → Contact type")
    expect(values).to_be_visible()
    # A value with no equal here gets a suggested decision too, which the person can change.
    expect(page.get_by_label("Former colleague")).not_to_have_value("")
    expect(page.get_by_text("not mapped")).to_have_count(0)
    # Leaving the Relationship column out removes its values (an htmx refresh under the CSP)…
    page.get_by_label("Relationship", exact=True).select_option("")
    expect(values).to_have_count(0)
    # …and taking it back brings them back.
    page.get_by_label("Relationship", exact=True).select_option("contact_type")
    expect(page.get_by_role("heading", name="Relationship → Contact type")).to_be_visible()
    page.get_by_label("Former colleague").select_option("=other")
    page.get_by_role("button", name="Run the dry run").click()

    # Dry run: per-row results, nothing written yet.
    expect(page.get_by_role("heading", name="Dry run: what the import would do")).to_be_visible()
    expect(page.locator(".import-total--create .import-total-value")).to_have_text("4")
    expect(page.get_by_text("will create").first).to_be_visible()
    assert not Contact.objects.exists()
    # While the server works, the page says what it is doing. To see it, the first submit
    # is stopped in the page (after import.js has run); the second goes through.
    page.evaluate("() => document.addEventListener('submit', e => { if (!window.__sent) e.preventDefault(); })")
    button = page.get_by_role("button", name="Import 4 rows")
    button.click()
    expect(page.get_by_role("status").filter(has_text="Importing 4 rows…")).to_be_visible()
    expect(button).to_be_disabled()
    page.evaluate(
        """() => { window.__sent = true; const form = document.querySelector('form[action$="/run/"]');
        form.dataset.busy = ''; form.querySelectorAll('button').forEach(b => { b.disabled = false; }); }"""
    )
    button.click()

    # Summary.
    expect(page.get_by_role("heading", name="Import summary")).to_be_visible()
    expect(page.get_by_text("Imported People-All people.csv: 4 created")).to_be_visible()
    expect(page.get_by_role("link", name="Undo this import")).to_be_visible()
    run = ImportRun.objects.get()
    assert run.status == ImportStatus.IMPORTED and run.user == manager_user
    sarah = Contact.objects.get(email="sarah@quire.example")
    assert (sarah.name_prefix, sarah.first_name, sarah.last_name, sarah.name_suffix) == (
        "Dr.",
        "Sarah",
        "O'Neil-Smith",
        "CFA",
    )
    assert sarah.organization.name == "Quire Holdings, LLC"
    assert sorted(sarah.tags.values_list("name", flat=True)) == ["Fintech, Insurtech", "LPAC"]
    assert Contact.objects.get(email="tom@baker.example").contact_type == ContactType.OTHER
    assert Contact.objects.get(email="vera@atlas.example").contact_type == ContactType.PROSPECT
    browser_problems.assert_clean()


def test_the_undo_confirmation_and_history_work_in_the_browser(
    page, live_server, browser_problems, manager_user, tmp_path
):
    source = tmp_path / "people.csv"
    source.write_text("Full Name,E-mail\nAda Okafor,ada@atlas.example\n", encoding="utf-8")
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/import/")
    page.get_by_label("CSV file", exact=True).set_input_files(str(source))
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Continue to mapping").click()
    page.get_by_role("button", name="Run the dry run").click()
    page.get_by_role("button", name="Import 1 row").click()
    expect(page.get_by_role("heading", name="Import summary")).to_be_visible()
    page.get_by_role("link", name="All imports").click()
    expect(page.get_by_role("cell", name="people.csv")).to_be_visible()
    page.get_by_role("link", name="Undo").click()
    page.get_by_role("button", name="Undo the import").click()
    expect(page.get_by_text("1 record removed, 0 restored")).to_be_visible()
    assert not Contact.objects.exists()
    browser_problems.assert_clean()


def test_the_progress_page_polls_under_the_csp_and_moves_on_when_the_worker_is_done(
    page, live_server, browser_problems, manager_user, tmp_path, settings
):
    from django.core.management import call_command

    # Queued for a worker that is not running yet: the page waits, polling every second.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    source = tmp_path / "people.csv"
    source.write_text("Full Name,E-mail\nAda Okafor,ada@atlas.example\n", encoding="utf-8")
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/import/")
    page.get_by_label("CSV file", exact=True).set_input_files(str(source))
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Continue to mapping").click()
    page.get_by_role("button", name="Run the dry run").click()
    expect(page.get_by_role("heading", name="Dry run waiting for the background worker")).to_be_visible()
    run = ImportRun.objects.get()
    with page.expect_request(lambda r: r.url.endswith(f"/import/{run.pk}/progress/") and r.headers.get("hx-request")):
        pass  # htmx polls the fragment (no inline script: the CSP would have stopped it)
    # The test database is SQLite in memory with a shared cache, whose table locks do not
    # wait as a file database's busy timeout does. So the polls are held in the browser
    # while the worker writes, from one that has not reached the server yet until the
    # worker is done, and then let through.
    held: list = []
    page.route(f"**/import/{run.pk}/progress/", lambda route: held.append(route))
    with page.expect_request(lambda r: r.url.endswith(f"/import/{run.pk}/progress/")):
        pass
    call_command("db_worker", "--batch", "--no-reload", "--no-startup-delay", "--interval", "0", verbosity=0)
    page.unroute(f"**/import/{run.pk}/progress/")
    for route in held:
        route.continue_()
    expect(page.get_by_role("heading", name="Dry run: what the import would do")).to_be_visible(timeout=10_000)
    browser_problems.assert_clean()
