"""A whole base in Chromium: a zip of the sample's downloads → the combined mapping, refreshed by htmx under the CSP."""

from __future__ import annotations

import re
import zipfile

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from contacts.models import Organization
from crm.tests.importing import needs_sample, sample_files

pytestmark = [pytest.mark.browser, needs_sample]


def test_a_manager_uploads_a_zipped_base_and_changes_a_table_s_kind_on_the_one_mapping_screen(
    page, live_server, browser_problems, manager_user, tmp_path
):
    archive = tmp_path / "marram-base.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sample_files():
            zipped.write(path, f"Marram base/{path.name}")
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/import/")
    page.get_by_label("CSV file", exact=True).set_input_files(str(archive))
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="A whole base: 5 tables")).to_be_visible()

    def refreshed(response) -> bool:
        return response.url.endswith("/mapping/") and response.request.method == "POST"

    def kind():
        return page.get_by_role("region", name=re.compile(r"^Touchpoints")).get_by_label("The rows are")

    expect(kind()).to_have_value("communications")
    # Another kind re-suggests that table's columns (an htmx refresh of the form, no inline script)…
    with page.expect_response(refreshed):
        kind().select_option("organizations")
    expect(kind()).to_have_value("organizations")
    # …and back.
    with page.expect_response(refreshed):
        kind().select_option("communications")
    expect(kind()).to_have_value("communications")
    expect(page.get_by_role("heading", name="Team members not found here")).to_have_count(1)
    expect(page.get_by_role("link", name="Download this mapping")).to_be_visible()
    # The dry run itself is left to the test-client tests (crm/tests/test_import_base_wizard.py): run in
    # the live server's request, its progress heartbeat meets the in-memory test database's table lock.
    assert not Organization.objects.exists()
