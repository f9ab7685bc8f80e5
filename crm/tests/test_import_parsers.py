"""The value parsers and the suggestions: every Airtable quirk, and other funds' naming."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from contacts.models import OrganizationType
from crm.imports import parsers
from crm.imports.parsers import ParseError
from crm.imports.schema import ENTITIES, NOTES, choice_spec
from crm.imports.source import SourceError, parse_text, read_bytes
from crm.imports.suggest import recognise, suggest_columns, suggest_value

LA = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("$2,500,000.00", "2500000.00"),
        ("$2500000.00", "2500000.00"),
        ('"$1,500,000"', None),  # quotes left in a cell are not an amount
        ("2.5M", "2500000.00"),
        ("750K", "750000.00"),
        ("$1.5mm", "1500000.00"),
        ("USD 900,000", "900000.00"),
        ("~$500k", "500000.00"),
        ("~10M", "10000000.00"),
        ("2750K", "2750000.00"),
        (" 1,000,000 ", "1000000.00"),
        ("1.234.567,89", "1234567.89"),
        ("", None),
    ],
)
def test_money_in_every_shape(text, amount):
    if amount is None and text:
        with pytest.raises(ParseError):
            parsers.parse_money(text)
    else:
        assert parsers.parse_money(text) == (Decimal(amount) if amount else None)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("$1–2M", "range"),
        ("1M-3M", "range"),
        ("TBD", "not an amount"),
        ("?", "not an amount"),
        ("NaN", "formula error"),
        ("#ERROR!", "formula error"),
    ],
)
def test_what_is_not_an_amount_says_why_and_names_the_value(text, why):
    with pytest.raises(ParseError) as raised:
        parsers.parse_money(text)
    assert why in str(raised.value) and text in str(raised.value)


def test_percentages_and_formula_errors():
    assert parsers.parse_percent("25%") == 25
    assert parsers.parse_percent("85.0%") == Decimal("85.0")
    assert parsers.parse_percent("0.4") == 40
    assert parsers.parse_percent("") is None
    for bad in ("NaN", "#ERROR!", "150%", "lots"):
        with pytest.raises(ParseError):
            parsers.parse_percent(bad)


def test_checkboxes():
    assert parsers.parse_bool("checked") is True
    assert parsers.parse_bool("") is False
    assert parsers.parse_bool(" Yes ") is True
    with pytest.raises(ParseError, match="maybe"):
        parsers.parse_bool("maybe")


@pytest.mark.parametrize(
    "text", ["3/14/2021", "2021-03-14", "March 14, 2021", "Mar 14, 2021", "3/14/2021 10:04am", "14 March 2021"]
)
def test_the_four_date_forms(text):
    assert parsers.parse_date(text) == datetime.date(2021, 3, 14)


def test_day_month_order_is_a_choice_but_unambiguous_dates_need_none():
    assert parsers.parse_date("4/3/2021", "dmy") == datetime.date(2021, 3, 4)
    assert parsers.parse_date("4/3/2021", "mdy") == datetime.date(2021, 4, 3)
    assert parsers.parse_date("14/3/2021", "mdy") == datetime.date(2021, 3, 14)
    with pytest.raises(ParseError, match="quarter"):
        parsers.parse_date("Q1 2026")
    with pytest.raises(ParseError, match="not a real date"):
        parsers.parse_date("2/30/2021")


def test_times_are_read_in_the_chosen_time_zone():
    moment = parsers.parse_datetime("3/14/2021 10:04pm", LA)
    assert moment == datetime.datetime(2021, 3, 14, 22, 4, tzinfo=LA)
    assert moment.astimezone(datetime.UTC).hour == 5  # PDT is UTC−7
    other = parsers.parse_datetime("3/14/2021 10:04pm", ZoneInfo("Europe/Berlin"))
    assert other != moment
    assert parsers.parse_datetime("2025-04-09 09:30", LA).hour == 9
    assert parsers.parse_datetime("2021-03-14T10:00:00Z", LA).utcoffset() == datetime.timedelta(0)
    assert parsers.parse_datetime("March 14, 2021", LA).hour == 12  # a day without a time is noon


def test_linked_records_are_decoded_as_csv_not_split_on_commas():
    assert parsers.split_list('Alma Vandermeer,"Vandermeer, Alma"') == ["Alma Vandermeer", "Vandermeer, Alma"]
    assert parsers.split_list('"Cornelius Abara, Jr."') == ["Cornelius Abara, Jr."]
    assert parsers.split_list('Co-invest,"Top 20 ""must-win"""') == ["Co-invest", 'Top 20 "must-win"']
    assert parsers.split_list("a; b") == ["a", "b"]
    assert parsers.split_lookup("a@x.com, B@Y.com") == ["a@x.com", "B@Y.com"]


def test_attachments_keep_the_names_and_drop_the_expiring_urls():
    cell = (
        "Side letter (MFN) – executed.pdf (https://v5.airtableusercontent.com/v3/u/1/2/abc),"
        "Screen Shot 2025-02-11 at 4.07.33\u202fPM.png (https://v5.airtableusercontent.com/v3/u/3/4/def)"
    )
    assert parsers.parse_attachments(cell) == [
        "Side letter (MFN) – executed.pdf",
        "Screen Shot 2025-02-11 at 4.07.33\u202fPM.png",
    ]


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Dr. Sarah O'Neil-Smith, CFA", ("Dr.", "Sarah", "O'Neil-Smith", "CFA")),
        ("Cornelius Abara, Jr.", ("", "Cornelius", "Abara", "Jr.")),
        ("Vandermeer, Alma", ("", "Alma", "Vandermeer", "")),
        ("Sinéad Ní Bhriain", ("", "Sinéad", "Ní Bhriain", "")),
        ("Ludwig van Beethoven", ("", "Ludwig", "van Beethoven", "")),
        ("Prof. Dr. Hans Weber, PhD, CFA", ("Prof. Dr.", "Hans", "Weber", "PhD, CFA")),
        ("John Smith III", ("", "John", "Smith", "III")),
        ("林志强", ("", "", "林志强", "")),
        ("  Vaughn   Yeoman  ", ("", "Vaughn", "Yeoman", "")),
    ],
)
def test_a_person_name_splits_into_prefix_first_last_suffix(name, parts):
    assert parsers.split_person_name(name) == parts


def test_names_match_across_accents_order_and_case():
    key = parsers.person_key_from_text
    assert key("Kasimir Dvořák") == key("kasimir dvorak") == key("Dvorak, Kasimir")
    assert key("Łukasz Wróbel") == key("Lukasz Wrobel")


def test_urls_get_a_scheme():
    assert parsers.normalize_url("www.fund.com") == "https://www.fund.com"
    assert parsers.normalize_url("http://shinonome-cap.jp") == "http://shinonome-cap.jp"
    assert parsers.normalize_url("linkedin.com/in/x") == "https://linkedin.com/in/x"


def test_markup_is_spotted():
    assert parsers.has_markup("<script>alert(1)</script>")
    assert parsers.has_markup("<img src=x onerror=alert(1)>")
    assert not parsers.has_markup("Kelpie & Co. <3 Wealth")


# --- Suggestions for other funds' names ---------------------------------------------------------


@pytest.mark.django_db
def test_other_funds_column_names_map_by_synonym_and_similarity():
    headers = ["Organisation", "Email Address", "Contact Name", "Cell", "Position", "Tags", "Relationship Owner"]
    suggestions = suggest_columns(ENTITIES["contacts"], headers)
    assert {h: s.target for h, s in suggestions.items()} == {
        "Organisation": "organization",
        "Email Address": "email",
        "Contact Name": "full_name",
        "Cell": "mobile",
        "Position": "title",
        "Tags": "tags",
        "Relationship Owner": "owner",
    }
    commitments = suggest_columns(ENTITIES["commitments"], ["LP", "Fund", "Commitment ($)", "Called", "Stage"])
    assert commitments["Commitment ($)"].target == "commitment_amount"
    assert commitments["Called"].target == "funded_amount"
    firms = suggest_columns(ENTITIES["organizations"], ["Company", "Website", "Sector", "Favourite colour"])
    assert [s.target for s in firms.values()] == ["name", "website", "industry", NOTES]


@pytest.mark.django_db
def test_tables_are_recognised_by_their_columns_not_their_file_names():
    assert recognise(["Company", "Website", "Sector", "HQ"], "export.csv").entity == "organizations"
    assert recognise(["Name", "Email", "Phone", "Company", "Title"], "sheet1.csv").entity == "contacts"
    assert recognise(["Investor", "Commitment ($)", "Paid In", "Status"], "x.csv").entity == "commitments"
    assert recognise(["Deal", "Stage", "Amount", "Probability", "Close Date"], "y.csv").entity == "opportunities"
    assert recognise(["Date", "Type", "Subject", "Notes", "Contact"], "z.csv").entity == "communications"


@pytest.mark.django_db
def test_organization_type_and_investor_type_read_the_same_values_through_one_synonym_table():
    organizations, investors = choice_spec("organizations", "type"), choice_spec("commitments", "investor_type")
    assert organizations == investors
    assert organizations.options == list(OrganizationType.choices)
    assert suggest_value("Trust / IRA", organizations)[0] == OrganizationType.INDIVIDUAL
    assert suggest_value("Single family office", investors)[0] == OrganizationType.FAMILY_OFFICE
    assert suggest_value("Wealth Manager (pooled)", investors)[0] == OrganizationType.WEALTH_MANAGER


@pytest.mark.django_db
def test_stage_and_status_values_that_are_not_ours_are_suggested_or_made_new_stages():
    statuses = choice_spec("commitments", "status")
    assert suggest_value("Hard Commit", statuses)[0] == "hard_circle"
    assert suggest_value("SOFT CIRCLE", statuses)[0] == "soft_circle"
    assert suggest_value("Soft-circled", statuses)[0] == "soft_circle"
    for value in ("Withdrawn", "withdrew", "Declined", "Cancelled"):
        assert suggest_value(value, statuses)[0] == "withdrawn"  # kept, counting toward nothing
    assert suggest_value("On hold", statuses)[0] is None  # never guessed, never dropped
    stages = choice_spec("opportunities", "stage")
    assert suggest_value("Passed", stages)[0] == "Passed"
    assert suggest_value("due diligence ", stages)[0] == "Due diligence"
    # A stage we lack is never left undecided: a new open stage (placed before the won ones).
    assert suggest_value("Soft-circled", stages)[0] == {"create": "Soft-circled"}
    funds = choice_spec("commitments", "fund")
    assert suggest_value("Fund IX", funds)[0] == {"create": "Fund IX"}


# --- Reading files ------------------------------------------------------------------------------


def test_airtable_format_bom_lf_line_breaks_and_no_final_newline():
    data = b'\xef\xbb\xbfName,Notes\nAda,"two\nlines"\nBob,"said ""hi"""'
    table = read_bytes(data, "t.csv")
    assert table.encoding == "utf-8-sig" and table.headers == ["Name", "Notes"]
    assert table.rows == [["Ada", "two\nlines"], ["Bob", 'said "hi"']]


def test_semicolons_tabs_and_windows_1252_are_detected():
    table = read_bytes("Name;Ville\nJürgen Weiß;Köln\n".encode("cp1252"), "t.csv")
    assert table.delimiter == ";" and table.encoding == "windows-1252"
    assert table.rows == [["Jürgen Weiß", "Köln"]]
    assert any("Windows-1252" in notice for notice in table.notices)
    assert read_bytes(b"A\tB\n1\t2\n", "t.tsv").delimiter == "\t"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"Name,Email\n", "no data rows"),
        (b"PK\x03\x04rest-of-a-workbook", "Excel workbook"),
        (b"%PDF-1.7 ...", "PDF"),
        (b'{"name": "Ada"}', "JSON"),
        (b"<html><body>hi</body></html>", "HTML"),
        (b"Name,Email\nAda,a@x.com,extra\nBob,b@x.com\n", "row 2 has 3"),
        (b'Name,Email\n"Ada,a@x.com\n', "not valid CSV"),
        (b"Name\x00Email\x00\n", "binary"),
        (b"Name,Email\n\x81\x8d\x8f,x\n", "neither UTF-8 nor Windows-1252"),
    ],
)
def test_malformed_files_are_refused_with_a_clear_message(data, message):
    with pytest.raises(SourceError, match=message):
        read_bytes(data, "bad.csv")


def test_a_huge_cell_is_refused():
    with pytest.raises(SourceError, match="150,000 characters"):
        parse_text("Name,Notes\nAda," + "x" * 150_000 + "\n", "big.csv")


def test_the_size_limit_is_a_setting(settings):
    settings.CRM_IMPORT_MAX_MB = 1
    with pytest.raises(SourceError, match="limited to 1 MB"):
        read_bytes(b"Name\n" + b"Ada\n" * 300_000, "big.csv")
