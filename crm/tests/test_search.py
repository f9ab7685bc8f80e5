"""Global search: the header dropdown (htmx), the /search/ page and the search service."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from conftest import HX, make_user, sign_in
from contacts.models import Communication, Contact, Organization, ScopedQuerySet
from crm.models import Role
from crm.search import DROPDOWN_LIMIT, MAX_QUERY_LENGTH, MAX_TERMS, highlight, parse_query, search, snippet
from crm.testing import factories
from lps.models import Fund
from pipeline.models import Opportunity, Stage

URL = "/search/"


@pytest.fixture
def fund(db) -> Fund:
    return factories.fund("Fund II", vintage_year=2025, target_size=Decimal("150000000"))


@pytest.fixture
def book(db, fund) -> dict:
    """One record in each group, all reachable through the word "Halberd"."""
    halberd = Organization.objects.create(
        name="Halberd Foundation", city="Zurich", website="https://halberd-foundation.example"
    )
    other = Organization.objects.create(name="Atlas Family Office", city="Boston", website="https://atlas.example")
    ada = Contact.objects.create(
        first_name="Ada",
        last_name="Okafor",
        email="ada@halberd.example",
        title="Chief Investment Officer",
        organization=halberd,
    )
    ben = Contact.objects.create(first_name="Ben", last_name="Marsh", title="Analyst", organization=other)
    opportunity = Opportunity.objects.create(
        name="Fund II re-up", contact=ada, organization=halberd, fund=fund, stage=Stage.objects.get(name="Meeting")
    )
    communication = Communication.objects.create(
        contact=ben,
        subject="Quarterly letter",
        body="Ben asked how the Halberd co-investment compares with the rest of the portfolio.",
        communication_date=timezone.now() - datetime.timedelta(days=2),
    )
    return {
        "halberd": halberd,
        "atlas": other,
        "ada": ada,
        "ben": ben,
        "opportunity": opportunity,
        "communication": communication,
    }


def group(results, key):
    return next(g for g in results.groups if g.key == key)


def titles(results, key) -> list[str]:
    return [str(hit.title).replace("<mark>", "").replace("</mark>", "") for hit in group(results, key).hits]


# --- The service ------------------------------------------------------------------------


def test_one_word_finds_a_record_in_every_group(book, member_user):
    results = search(member_user, "halberd")
    assert titles(results, "contacts") == ["Ada Okafor"]  # through her organization's name
    assert titles(results, "organizations") == ["Halberd Foundation"]
    assert titles(results, "opportunities") == ["Fund II re-up"]  # through its organization
    assert titles(results, "communications") == ["Quarterly letter"]  # through its body
    assert results.total == 4


@pytest.mark.parametrize(
    ("query", "key", "expected"),
    [
        ("okafor", "contacts", "Ada Okafor"),  # last name
        ("ada@halberd", "contacts", "Ada Okafor"),  # email
        ("investment officer", "contacts", "Ada Okafor"),  # title
        ("atlas family", "contacts", "Ben Marsh"),  # organization name
        ("zurich", "organizations", "Halberd Foundation"),  # city
        ("atlas.example", "organizations", "Atlas Family Office"),  # website
        ("re-up", "opportunities", "Fund II re-up"),  # name
        ("okafor", "opportunities", "Fund II re-up"),  # contact's name
        ("quarterly", "communications", "Quarterly letter"),  # subject
        ("co-investment", "communications", "Quarterly letter"),  # body
    ],
)
def test_each_searched_field_finds_its_record(book, member_user, query, key, expected):
    assert expected in titles(search(member_user, query), key)


def test_a_communication_is_found_by_its_outcome_and_next_step_and_shows_what_matched(book, member_user):
    call = Communication.objects.create(
        contact=book["ada"],
        subject="Call with Ada",
        body="Walked through the track record.",
        outcome="Keen, wants the data room",
        next_action="Send the DDQ and the side letter",
        communication_date=timezone.now(),
    )
    hit = group(search(member_user, "ddq"), "communications").hits
    assert [str(h.title) for h in hit] == ["Call with Ada"]
    assert str(hit[0].excerpt) == "Next step: Send the <mark>DDQ</mark> and the side letter"
    assert str(group(search(member_user, "data room"), "communications").hits[0].excerpt).startswith("Outcome: ")
    # Edited later (the update trigger reads the new columns too): the old step is no longer found.
    call.next_action = "Book the site visit"
    call.save()
    assert titles(search(member_user, "ddq"), "communications") == []
    assert titles(search(member_user, "site visit"), "communications") == ["Call with Ada"]
    # A match in the notes still shows the notes.
    assert "<mark>track</mark>" in str(group(search(member_user, "track record"), "communications").hits[0].excerpt)


def test_every_word_must_match_somewhere_in_the_record(book, member_user):
    results = search(member_user, "ada halberd")
    assert titles(results, "contacts") == ["Ada Okafor"]
    assert titles(results, "organizations") == []  # "ada" is in no organization's name, city or website
    assert search(member_user, "ada atlas").total == 0


def test_search_ignores_case_and_surrounding_space(book, member_user):
    assert titles(search(member_user, "   OKAFOR  "), "contacts") == ["Ada Okafor"]
    assert search(member_user, "  oKaFoR ").query == "oKaFoR"


def test_names_starting_with_the_word_come_first(book, member_user):
    # Abbott sorts before Okafor: only the rank puts the names starting "ada" first.
    Contact.objects.create(first_name="Zed", last_name="Abbott", email="ada.abbott@example.com")
    Contact.objects.create(first_name="Adam", last_name="Zimmer")
    assert titles(search(member_user, "ada"), "contacts") == ["Ada Okafor", "Adam Zimmer", "Zed Abbott"]


@pytest.mark.parametrize("query", ["", "   ", "\t\n", None])
def test_an_empty_query_finds_nothing_and_asks_the_database_nothing(db, member_user, query, django_assert_num_queries):
    with django_assert_num_queries(0):
        results = search(member_user, query)
    assert results.groups == []
    assert results.total == 0


def test_like_wildcards_in_the_query_are_taken_literally(book, member_user):
    assert search(member_user, "%").total == 0
    assert search(member_user, "_").total == 0


def test_each_group_is_limited_and_says_when_there_is_more(db, member_user):
    for n in range(DROPDOWN_LIMIT + 2):
        Contact.objects.create(first_name="Ada", last_name=f"Lovelace {n:02d}")
    results = search(member_user, "lovelace")
    assert len(group(results, "contacts").hits) == DROPDOWN_LIMIT
    assert group(results, "contacts").has_more
    assert not group(results, "organizations").has_more
    assert len(group(search(member_user, "lovelace", limit=25), "contacts").hits) == DROPDOWN_LIMIT + 2


def test_a_huge_query_is_cut_to_its_first_words(db, member_user):
    query, terms = parse_query("word " * 5000)
    assert len(query) <= MAX_QUERY_LENGTH
    assert terms == ["word"]
    _, terms = parse_query("a b c d e f g h A")
    assert terms == ["a", "b", "c", "d", "e"][:MAX_TERMS]


@pytest.mark.parametrize(
    ("model", "hidden"),
    [
        (Contact, "contacts"),
        (Organization, "organizations"),
        (Opportunity, "opportunities"),
        (Communication, "communications"),
    ],
)
def test_every_group_is_scoped_with_visible_to(book, member_user, monkeypatch, model, hidden):
    """Hide one model from the user: only its group goes empty, so no group bypasses the scope."""
    original = ScopedQuerySet.visible_to

    def hiding(self, user):
        return self.none() if self.model is model else original(self, user)

    monkeypatch.setattr(ScopedQuerySet, "visible_to", hiding)
    results = search(member_user, "halberd")
    assert {g.key: len(g.hits) == 0 for g in results.groups} == {
        key: key == hidden for key in ("contacts", "organizations", "opportunities", "communications")
    }


def test_an_inactive_user_finds_nothing(book, member_user):
    member_user.is_active = False
    assert search(member_user, "halberd").total == 0


def test_the_service_runs_one_query_per_group(book, member_user, django_assert_num_queries):
    with django_assert_num_queries(4):
        results = search(member_user, "halberd")
        # Reading every shown attribute must not query again (select_related did the joins).
        for g in results.groups:
            for hit in g.hits:
                str(hit.title), [str(m) for m in hit.meta], hit.url, hit.badge


def test_highlight_escapes_first_and_then_marks_matches():
    assert highlight("Ada Okafor", ["oka"]) == "Ada <mark>Oka</mark>for"
    assert highlight("AT&T <b>bold</b>", ["t"]) == "A<mark>T</mark>&amp;<mark>T</mark> &lt;b&gt;bold&lt;/b&gt;"
    # A term that is part of an entity must not break the escaping.
    assert highlight("Fish & chips", ["amp"]) == "Fish &amp; chips"
    assert highlight("<script>alert(1)</script>", ["script"]) == (
        "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;"
    )
    assert highlight("Okafor", []) == "Okafor"


def test_snippet_shows_the_words_around_the_first_match():
    body = "Lorem ipsum dolor sit amet. " * 20 + "The Halberd co-investment is ready. " + "Etiam porta. " * 20
    text = snippet(body, ["halberd"])
    assert "Halberd co-investment" in text
    assert text.startswith("…") and text.endswith("…")
    assert len(text) <= 150
    assert snippet("Short body", ["x"]) == "Short body"


# --- The view ---------------------------------------------------------------------------


def test_dropdown_fragment_lists_the_groups_with_links_into_the_dialog(book, member_client):
    response = member_client.get(URL, {"q": "halberd"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="search-results"')
    assert 'role="listbox"' in html
    for label in ("Contacts", "Organizations", "Opportunities", "Communications"):
        assert f">{label}</div>" in html
    org_url = reverse("organization_detail", args=[book["halberd"].pk])
    assert f'hx-get="{org_url}" hx-target="#dialog-body" data-dialog="panel"' in html
    assert "<mark>Halberd</mark> Foundation" in html
    assert f'href="{URL}?q=halberd"' in html  # "show every result" opens the full page
    assert "HX-Request" in response["Vary"]


def test_full_page_without_htmx_shows_the_same_results_as_a_page(book, member_client):
    response = member_client.get(URL, {"q": "halberd"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert "4 results for" in html
    for label in ("Contacts", "Organizations", "Opportunities", "Communications"):
        assert f'id="search-page-{label.lower()}"' in html
    assert "Ada <mark>Okafor</mark>" not in html  # the query was "halberd"
    assert "<mark>Halberd</mark> Foundation" in html
    # The header's box keeps the query, so it can be refined.
    assert 'name="q" value="halberd"' in html
    assert "HX-Request" in response["Vary"]


def test_each_result_opens_the_nearest_existing_panel(book, member_client):
    response = member_client.get(URL, {"q": "halberd"}, headers=HX)
    html = response.content.decode()
    org_url = book["halberd"].get_absolute_url()
    contact_url = book["ada"].get_absolute_url() or org_url
    opportunity_url = book["opportunity"].get_absolute_url() or contact_url
    communication_url = book["ben"].get_absolute_url() or book["atlas"].get_absolute_url()
    for url in (contact_url, org_url, opportunity_url, communication_url):
        assert f'href="{url}" hx-get="{url}"' in html


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_an_empty_query_renders_nothing(db, member_client, headers):
    response = member_client.get(URL, {"q": "   "}, headers=headers)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="option"' not in html
    if headers:
        assert (
            '<div id="search-results" class="search-results" role="listbox" aria-label="Search results" hidden' in html
        )
    else:
        assert "Search everything" in html


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_no_match_says_so(book, member_client, headers):
    html = member_client.get(URL, {"q": "zzyzx"}, headers=headers).content.decode()
    # The dropdown (htmx) says it plainly; the page sets the query in bold.
    assert ("Nothing matches “zzyzx”" if headers else "Nothing matches “<strong>zzyzx</strong>”") in html


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_script_tags_in_records_and_queries_are_shown_escaped(db, member_client, headers):
    Contact.objects.create(first_name="<script>alert('x')</script>", last_name="Mallory")
    # The first query finds Mallory (the matched word marked); the second finds nothing and is echoed.
    for query, shown in (
        ("<script>", "<mark>&lt;script&gt;</mark>alert"),
        ("<script>alert(1)</script> nothing-matches-this", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ):
        html = member_client.get(URL, {"q": query}, headers=headers).content.decode()
        assert "<script>alert" not in html
        assert shown in html
    html = member_client.get(URL, {"q": "mallory"}, headers=headers).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; <mark>Mallory</mark>" in html


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_odd_parameters_do_not_break_the_page(book, member_client, headers):
    assert member_client.get(URL, headers=headers).status_code == 200  # no q at all
    assert member_client.get(URL + "?q=a&q=halberd", headers=headers).status_code == 200
    assert member_client.get(URL, {"q": "x" * 20000}, headers=headers).status_code == 200
    assert member_client.get(URL, {"q": "\x00 okafor"}, headers=headers).status_code == 200


def test_post_is_refused(member_client):
    assert member_client.post(URL, {"q": "x"}).status_code == 405


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(URL, {"q": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_every_role_can_search(book, any_role_client):
    html = any_role_client.get(URL, {"q": "halberd"}, headers=HX).content.decode()
    assert "<mark>Halberd</mark> Foundation" in html


def test_header_search_box_is_on_every_signed_in_page(member_client):
    html = member_client.get("/").content.decode()
    assert 'role="search"' in html
    assert 'hx-trigger="input changed delay:250ms, search"' in html
    assert 'hx-target="#search-results"' in html
    assert 'aria-controls="search-results"' in html
    assert "js/search.js" in html


def build_book(fund: Fund, start: int, stop: int) -> None:
    stage = Stage.objects.get(name="Lead")
    for n in range(start, stop):
        org = Organization.objects.create(name=f"Granite {n} Partners", city="Granite Falls")
        contact = Contact.objects.create(first_name="Gale", last_name=f"Granite {n}", organization=org)
        Opportunity.objects.create(name=f"Granite {n} into Fund II", contact=contact, fund=fund, stage=stage)
        Communication.objects.create(contact=contact, subject=f"Granite call {n}", communication_date=timezone.now())


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_query_count_does_not_grow_with_the_data(db, fund, member_client, headers):
    def queries_for(query: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = member_client.get(URL, {"q": query}, headers=headers)
        assert response.status_code == 200
        return len(queries)

    member_client.get("/")  # settle the session's first-request queries
    counts = []
    for start, stop in ((0, 2), (2, 30)):
        build_book(fund, start, stop)
        assert member_client.get(URL, {"q": "granite"}, headers=headers).content.decode().count("Granite") >= 4
        counts.append(queries_for("granite"))
    assert counts[0] == counts[1], counts
    # Exactly one query per group on top of what any signed-in page costs (an empty query).
    assert counts[0] - queries_for("") == 4


# --- In the browser ---------------------------------------------------------------------


@pytest.mark.browser
def test_slash_focuses_search_and_a_result_opens_its_panel(page, live_server, browser_problems, fund):
    user = make_user("sam", Role.MEMBER, full_name="Sam Searcher", email="sam@fund.example")
    halberd = Organization.objects.create(name="Halberd Foundation", city="Zurich")
    ada = Contact.objects.create(first_name="Ada", last_name="Okafor", organization=halberd, title="CIO")
    # With an organization, so each contact result has a panel to open even before contact_detail exists.
    marsh = Organization.objects.create(name="Marsh Partners")
    Contact.objects.create(first_name="Ben", last_name="Okaforth", organization=marsh)
    Opportunity.objects.create(
        name="Okafor family re-up", contact=ada, organization=halberd, fund=fund, stage=Stage.objects.get(name="Lead")
    )
    sign_in(page, live_server, user)

    page.keyboard.press("/")
    box = page.get_by_role("combobox", name="Search contacts, organizations, opportunities and communications")
    expect(box).to_be_focused()
    box.press_sequentially("okaf", delay=40)

    listbox = page.get_by_role("listbox", name="Search results")
    expect(listbox).to_be_visible()
    expect(listbox.get_by_role("group", name="Contacts")).to_be_visible()
    expect(listbox.get_by_role("group", name="Opportunities")).to_be_visible()
    contacts = listbox.get_by_role("group", name="Contacts").get_by_role("option")
    expect(contacts).to_have_count(2)
    expect(contacts.first).to_contain_text("Ada Okafor")
    expect(contacts.first.locator("mark")).to_have_text("Okaf")
    # The first result is preselected; the arrow keys move the selection and Escape closes.
    expect(contacts.first).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    expect(contacts.nth(1)).to_have_attribute("aria-selected", "true")
    box.press("ArrowUp")
    expect(contacts.first).to_have_attribute("aria-selected", "true")
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("okaf")

    # Arrow down reopens the list; Enter opens the selected contact in the slide-over panel
    # (its organization's panel while the contact panel is not built).
    box.press("ArrowDown")
    expect(listbox).to_be_visible()
    expect(contacts.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    dialog = page.locator("#dialog-host")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_class("dialog dialog--panel")
    expected_heading = "Ada Okafor" if ada.get_absolute_url() else "Halberd Foundation"
    expect(dialog.get_by_role("heading", name=expected_heading, exact=True)).to_be_visible()
    expect(listbox).to_be_hidden()
    # The slide-over shows the record's own address, beside the page it opened over.
    expect(page).to_have_url(f"{live_server.url}{ada.get_absolute_url()}")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    # Ctrl-K from inside the panel returns to the search box and leaves the panel open beside it.
    page.keyboard.press("Control+k")
    expect(box).to_be_focused()
    expect(dialog).to_be_visible()
    browser_problems.assert_clean()


@pytest.mark.browser
def test_enter_without_a_result_opens_the_full_results_page(page, live_server, browser_problems, fund):
    user = make_user("sam", Role.MEMBER, full_name="Sam Searcher", email="sam@fund.example")
    sign_in(page, live_server, user)
    page.keyboard.press("Control+k")
    box = page.get_by_role("combobox", name="Search contacts, organizations, opportunities and communications")
    expect(box).to_be_focused()
    box.press_sequentially("zzyzx", delay=30)
    expect(page.get_by_role("listbox", name="Search results")).to_contain_text("Nothing matches")
    box.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/search/?q=zzyzx")
    expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible()
    # Typing "/" into a field types it rather than jumping to search.
    box.fill("")
    box.press_sequentially("a/b")
    expect(box).to_have_value("a/b")
    browser_problems.assert_clean()
