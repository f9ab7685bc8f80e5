"""The interactive docs: signed-in people only, every file from our own static, no inline script."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders


def test_the_docs_page_is_for_signed_in_people_only(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.get("/api/v1/").status_code == 302


def test_the_docs_load_only_our_static_files_and_run_no_inline_script(member_client):
    response = member_client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, "the page names its files"
    assert all(source.startswith("/static/") for source in sources), sources
    for source in sources:
        assert finders.find(source.removeprefix("/static/")), f"{source} is not in our static files"
    # The only <script> without src is the settings' JSON data block, which the CSP does not run.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline == [' type="application/json" id="swagger-settings"']
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_the_root_of_the_api_leads_to_the_docs(member_client):
    response = member_client.get("/api/v1/")
    assert response.status_code == 302
    assert response["Location"] == "/api/v1/docs"
