"""The full-text search helper (crm/lib/fulltext.py): matching, folding, triggers, rebuild, plans."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts import search_index
from contacts.filters import CommunicationFilter, ContactFilter, OrganizationFilter
from contacts.models import Communication, Contact, Organization
from crm import search as global_search
from crm.lib import fulltext
from crm.search import highlight, search
from lps.models import Fund
from pipeline.filters import OpportunityFilter
from pipeline.models import Opportunity, Stage
from pipeline.search_index import OPPORTUNITIES

HOSTILE = [
    '"',
    '""',
    "'",
    "*",
    "-",
    "- ada",
    "ada*",
    "NEAR",
    "NEAR(ada okafor)",
    "ada OR ben",
    "ada AND",
    "NOT ada",
    "(",
    ")",
    "((ada)",
    "ada)",
    "a:b",
    "first_name:ada",
    "{first_name}: ada",
    "^ada",
    "ada + ben",
    "\x00",
    "ada\x00okafor",
    "\\",
    "%",
    "_",
    "ada & | ! <-> :*",
    "'ada':*",
    "⑴ ½ ﬁ ß",
    "x" * 100,
    ("ada " * 30),
    "(" * 100,
    '"' * 100,
]


@pytest.fixture
def atlas(db) -> Organization:
    return Organization.objects.create(name="Atlas Family Office", city="Boston", country="US")


@pytest.fixture
def ada(atlas) -> Contact:
    return Contact.objects.create(first_name="Ada", last_name="Okafor", email="ada@atlas.example", organization=atlas)


@pytest.fixture
def elodie(db) -> Contact:
    return Contact.objects.create(first_name="Élodie", last_name="Müller-Lévêque", title="Partner")


def contacts(value: str) -> list[str]:
    return sorted(c.full_name for c in fulltext.matching(Contact.objects.all(), search_index.CONTACTS, value))


# --- Matching ---------------------------------------------------------------------------


def test_every_word_must_match_a_field_of_the_contact_or_its_organization(ada):
    Contact.objects.create(first_name="Ada", last_name="Lovelace")
    assert contacts("ada atlas") == ["Ada Okafor"]
    assert contacts("ada") == ["Ada Lovelace", "Ada Okafor"]
    assert contacts("ada boston") == []  # the organization's city is not the contact's


def test_a_word_matches_the_start_of_a_word_not_its_middle(ada):
    assert contacts("oka") == ["Ada Okafor"]
    assert contacts("OKAF") == ["Ada Okafor"]
    assert contacts("kafor") == []


def test_punctuation_separates_words_in_records_and_queries(ada, elodie):
    assert contacts("atlas.example") == ["Ada Okafor"]  # within the email
    assert contacts("ada@atlas") == ["Ada Okafor"]
    assert contacts("leveque") == ["Élodie Müller-Lévêque"]
    assert contacts("müller-lév") == ["Élodie Müller-Lévêque"]


@pytest.mark.parametrize("query", ["elodie", "ÉLODIE", "Elodie", "élodie", "muller", "MÜLLER", "lévêque"])
def test_accents_and_case_are_folded(elodie, query):
    assert contacts(query) == ["Élodie Müller-Lévêque"]


def test_the_contact_list_global_search_and_highlight_fold_accents(elodie, member_client, member_user):
    page = member_client.get(reverse("contact_list"), {"q": "ELODIE"})
    assert "Müller-Lévêque" in page.content.decode()
    results = search(member_user, "elodie")
    hits = next(g for g in results.groups if g.key == "contacts").hits
    assert [str(hit.title) for hit in hits] == ["<mark>Élodie</mark> Müller-Lévêque"]


def test_highlight_marks_the_original_letters_of_a_folded_match():
    assert highlight("Straße in Köln", ["strasse", "koln"]) == "<mark>Straße</mark> in <mark>Köln</mark>"
    assert highlight("<b>Zoë</b>", ["zoe"]) == "&lt;b&gt;<mark>Zoë</mark>&lt;/b&gt;"


@pytest.mark.parametrize("query", HOSTILE)
def test_a_hostile_query_never_raises_in_any_search(ada, member_user, member_client, query):
    search(member_user, query)
    for filterset in (ContactFilter, OrganizationFilter, CommunicationFilter, OpportunityFilter):
        model = filterset._meta.model
        list(filterset({"q": query}, queryset=model.objects.all(), request=as_user(member_user)).qs)
    for name in ("contact_list", "organization_list", "communication_list", "opportunity_list", "pipeline_board"):
        assert member_client.get(reverse(name), {"q": query}).status_code == 200
    assert member_client.get(reverse("global_search"), {"q": query}).status_code == 200


def test_query_syntax_in_records_is_found_as_words(db):
    Contact.objects.create(first_name="Near", last_name="O'Brien", title="AND OR NOT")
    assert contacts("near") == ["Near O'Brien"]
    assert contacts("o'brien") == ["Near O'Brien"]
    assert contacts("or not") == ["Near O'Brien"]
    assert contacts("obrien") == []


def test_a_query_of_punctuation_only_matches_nothing(ada):
    assert contacts("-- **") == []
    assert contacts("") == ["Ada Okafor"]  # no query: the list as it is


# --- Triggers keep the index current ----------------------------------------------------


def test_a_new_contact_is_found_at_once(db):
    Contact.objects.create(first_name="Zoë", last_name="Quist")
    assert contacts("zoe") == ["Zoë Quist"]


def test_an_edited_contact_is_found_by_its_new_words_only(ada):
    ada.last_name = "Adeyemi"
    ada.save()
    assert contacts("adeyemi") == ["Ada Adeyemi"]
    assert contacts("okafor") == []


def test_a_deleted_contact_leaves_the_index(ada):
    ada.delete()
    assert contacts("ada") == []
    assert index_rows(search_index.CONTACTS) == 0


def test_an_organization_rename_renames_what_its_contacts_are_found_by(ada, atlas):
    atlas.name = "Meridian Partners"
    atlas.save()
    assert contacts("meridian") == ["Ada Okafor"]
    assert contacts("atlas family") == []


def test_a_queryset_update_of_an_organization_reaches_its_contacts_and_deals(ada, atlas, opportunity):
    Organization.objects.filter(pk=atlas.pk).update(name="Borealis Trust")
    assert contacts("borealis") == ["Ada Okafor"]
    assert opportunities("borealis") == ["Atlas re-up"]


def test_moving_a_contact_to_another_organization_follows(ada, atlas):
    other = Organization.objects.create(name="Halberd Foundation")
    Contact.objects.filter(pk=ada.pk).update(organization=other)
    assert contacts("halberd") == ["Ada Okafor"]
    assert contacts("family office") == []


def test_bulk_create_and_queryset_update_bypass_signals_but_not_the_triggers(db):
    Contact.objects.bulk_create([Contact(first_name="Bea", last_name=f"Bulk{i}") for i in range(3)])
    assert contacts("bea") == ["Bea Bulk0", "Bea Bulk1", "Bea Bulk2"]
    Contact.objects.filter(last_name="Bulk1").update(first_name="Cyd")
    assert contacts("bea") == ["Bea Bulk0", "Bea Bulk2"]
    assert contacts("cyd") == ["Cyd Bulk1"]


def test_an_update_of_other_columns_leaves_the_document_alone(ada):
    before = document(search_index.CONTACTS, ada.pk)
    Contact.objects.filter(pk=ada.pk).update(do_not_email=True)
    assert document(search_index.CONTACTS, ada.pk) == before


def test_communications_follow_their_subject_and_body(ada):
    note = Communication.objects.create(
        contact=ada, subject="Intro", body="Talked about the Zurich fund", communication_date=timezone.now()
    )
    assert communications("zurich") == ["Intro"]
    Communication.objects.filter(pk=note.pk).update(body="Talked about Geneva")
    assert communications("zurich") == []
    assert communications("geneva") == ["Intro"]
    note.delete()
    assert communications("geneva") == []


def test_an_opportunity_is_found_by_its_contact_whose_rename_follows(ada, opportunity):
    assert opportunities("okafor") == ["Atlas re-up"]
    Contact.objects.filter(pk=ada.pk).update(last_name="Nwosu")
    assert opportunities("nwosu") == ["Atlas re-up"]
    assert opportunities("okafor") == []


def test_organizations_follow_their_own_fields(atlas):
    Organization.objects.filter(pk=atlas.pk).update(city="Zürich")
    names = [o.name for o in fulltext.matching(Organization.objects.all(), search_index.ORGANIZATIONS, "zurich")]
    assert names == ["Atlas Family Office"]


# --- Rebuild ----------------------------------------------------------------------------


def test_rebuild_command_restores_an_emptied_index(ada, opportunity):
    with connection.cursor() as cursor:
        for index in global_search.INDEXES:
            cursor.execute(f"DELETE FROM {index.name}")  # noqa: S608
    assert contacts("ada") == []
    out = StringIO()
    call_command("rebuild_search_index", stdout=out)
    assert contacts("ada") == ["Ada Okafor"]
    assert opportunities("okafor") == ["Atlas re-up"]
    assert out.getvalue().strip() == (
        "Rebuilt the search index: 1 contacts, 1 organizations, 0 communications, 1 opportunities."
    )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite drops a table's triggers with the table")
def test_lost_triggers_are_recreated_by_the_repair_after_migrations(ada):
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER contacts_contact_search__contacts_contact_update")
    assert fulltext.missing_triggers(connection, global_search.INDEXES) == [search_index.CONTACTS]
    assert global_search.repair_indexes(connection) == [search_index.CONTACTS]
    Contact.objects.filter(pk=ada.pk).update(last_name="Adeyemi")
    assert contacts("adeyemi") == ["Ada Adeyemi"]
    assert fulltext.missing_triggers(connection, global_search.INDEXES) == []


# --- Query plans (SQLite) ---------------------------------------------------------------


def plan(queryset) -> list[str]:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return [row[-1] for row in cursor.fetchall()]


def full_scans(steps: list[str], *tables: str) -> list[str]:
    """Steps reading a whole table ("SCAN t" or "SCAN t USING INDEX …"), not the FTS ones."""
    return [step for step in steps if any(step.split(" ")[:2] == ["SCAN", table] for table in tables)]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="EXPLAIN QUERY PLAN is SQLite's")
def test_list_searches_read_the_index_and_scan_no_table(ada, opportunity, member_user):
    for filterset, index in (
        (ContactFilter, search_index.CONTACTS),
        (OrganizationFilter, search_index.ORGANIZATIONS),
        (CommunicationFilter, search_index.COMMUNICATIONS),
        (OpportunityFilter, OPPORTUNITIES),
    ):
        model = filterset._meta.model
        queryset = model.objects.visible_to(member_user)
        steps = plan(filterset({"q": "ada atlas"}, queryset=queryset, request=as_user(member_user)).qs)
        assert f"SCAN {index.name} VIRTUAL TABLE INDEX 0:M1" in steps
        assert full_scans(steps, model._meta.db_table) == [], steps


@pytest.mark.skipif(connection.vendor != "sqlite", reason="EXPLAIN QUERY PLAN is SQLite's")
def test_global_search_reads_each_index_and_scans_no_table(ada, opportunity, member_user):
    with CaptureQueriesContext(connection) as captured:
        search(member_user, "ada atlas")
    assert len(captured.captured_queries) == 4
    tables = ("contacts_contact", "contacts_organization", "contacts_communication", "pipeline_opportunity")
    for query in captured.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {query['sql']}")
            steps = [row[-1] for row in cursor.fetchall()]
        assert any(step.endswith("VIRTUAL TABLE INDEX 0:M1") for step in steps), steps
        assert full_scans(steps, *tables) == [], steps


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def opportunity(ada, atlas) -> Opportunity:
    fund = Fund.objects.create(name="Fund II", vintage_year=2025, target_size=Decimal("150000000"))
    return Opportunity.objects.create(
        name="Atlas re-up", contact=ada, fund=fund, stage=Stage.objects.get(name="Meeting")
    )


def as_user(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def opportunities(value: str) -> list[str]:
    return sorted(o.name for o in fulltext.matching(Opportunity.objects.all(), OPPORTUNITIES, value))


def communications(value: str) -> list[str]:
    return sorted(c.subject for c in fulltext.matching(Communication.objects.all(), search_index.COMMUNICATIONS, value))


def index_rows(index) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {index.name}")  # noqa: S608
        return cursor.fetchone()[0]


def document(index, pk: int) -> str:
    column = "rowid" if connection.vendor == "sqlite" else "id"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT document FROM {index.name} WHERE {column} = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])
