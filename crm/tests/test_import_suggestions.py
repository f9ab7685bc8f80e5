"""Suggestions from what the values are, not only what the headers say (issue 12)."""

from __future__ import annotations

import pytest

from crm.imports.context import ImportContext
from crm.imports.forms import decode_choice, encode_choice
from crm.imports.mapping import MappingError, TableMapping, detect_date_order, primary_names, table_from_json
from crm.imports.schema import ENTITIES, NOTES, choice_spec
from crm.imports.source import parse_text
from crm.imports.suggest import suggest_columns, suggest_value
from lps.models import Fund, FundStatus
from pipeline.models import Stage, StageOutcome

pytestmark = pytest.mark.django_db


def _columns(text: str) -> tuple[list[str], dict[str, list[str]]]:
    source = parse_text(text, "t.csv")
    return source.headers, {h: source.column_values(i) for i, h in enumerate(source.headers)}


def test_the_column_holding_money_is_the_amount_not_the_text_column_named_like_it():
    headers, samples = _columns(
        "Commitment,Investor,Amount ($)\n"
        'Ada Byron – Fund II,Ada Byron,"$1,250,000"\n'
        "Bo Chen – Fund I,Bo Chen,1250000\n"
        'Cy Dahl – Fund II,Cy Dahl,"$500,000"\n'
    )
    suggestions = suggest_columns(ENTITIES["commitments"], headers, samples)
    assert suggestions["Amount ($)"].target == "commitment_amount"
    assert suggestions["Amount ($)"].reason == "100% of values are amounts; header like “amount”"
    assert suggestions["Commitment"].target != "commitment_amount"
    assert "only 0% of values are amounts" in suggestions["Commitment"].reason


def test_without_values_the_header_alone_still_decides():
    suggestions = suggest_columns(ENTITIES["commitments"], ["Commitment", "Investor", "Amount ($)"])
    assert suggestions["Commitment"].target == "commitment_amount"
    assert suggestions["Commitment"].reason == "header like “commitment”"


def test_a_column_whose_values_mostly_do_not_fit_is_never_suggested_for_the_field():
    headers, samples = _columns(
        "Name,Email,Mobile\nAda Byron,ada@example.com,see notes\nBo Chen,wrote to him,n/a\nCy Dahl,by post,ask Ada\n"
    )
    suggestions = suggest_columns(ENTITIES["contacts"], headers, samples)
    assert suggestions["Email"].target == NOTES  # one value in three is an address
    assert suggestions["Email"].reason.startswith("header like “Email”, but only 33% of values are e-mail addresses")
    assert suggestions["Mobile"].target == NOTES
    headers, samples = _columns("Name,Email\nAda Byron,ada@example.com\nBo Chen,bo@example.com\nCy Dahl,x\n")
    assert suggest_columns(ENTITIES["contacts"], headers, samples)["Email"].target == "email"


@pytest.mark.parametrize(
    ("entity", "header", "target", "fitting", "other", "noun"),
    [
        ("organizations", "Website", "website", ["orrery.example", "https://salt.example"], "ask", "web addresses"),
        ("contacts", "Mobile", "mobile", ["+44 20 7946 0001", "(415) 555-0100"], "by post", "phone numbers"),
        ("commitments", "Wire received", "wire_received", ["checked", ""], "maybe next week", "checkboxes"),
        ("communications", "Duration", "duration_minutes", ["30", "45"], "half an hour", "whole numbers"),
        ("opportunities", "Probability", "probability", ["60%", "10%"], "likely", "percentages"),
        ("communications", "Date", "communication_date", ["14/03/2025 10:30", "3/4/2025"], "soon", "dates"),
    ],
)
def test_each_kind_of_value_is_evidence_for_or_against_its_field(entity, header, target, fitting, other, noun):
    others = [f"{other} {i}" for i in range(len(fitting))]
    fit = suggest_columns(ENTITIES[entity], ["Name", header], {"Name": ["A", "B"], header: fitting})[header]
    assert fit.target == target
    share = round(100 * sum(1 for v in fitting if v) / len([v for v in fitting if v]))
    assert fit.reason.startswith(f"{share}% of values are {noun}")
    misfit = suggest_columns(ENTITIES[entity], ["Name", header], {"Name": ["A", "B"], header: others})[header]
    assert misfit.target != target
    assert f"but only 0% of values are {noun}" in misfit.reason


def test_of_two_columns_that_compete_for_a_field_the_one_whose_values_fit_wins():
    headers, samples = _columns(
        'Investor,Paid in,Paid in (USD)\nAda Byron,soon,"$100,000"\nBo Chen,next quarter,$250000.00\n'
    )
    suggestions = suggest_columns(ENTITIES["commitments"], headers, samples)
    assert suggestions["Paid in (USD)"].target == "funded_amount"
    assert suggestions["Paid in"].target == NOTES


def test_a_link_column_is_known_by_the_names_the_other_table_holds():
    firms = parse_text("Institution,Kind\nOrrery Family Office,FO\nSaltash College,Endowment\n", "Institutions.csv")
    people = "Person,Firm,Employer\nAda Byron,Orrery Family Office,Self\nBo Chen,Saltash College,Retired\n"
    headers, samples = _columns(people)
    links = primary_names([("organizations", firms)])
    suggestions = suggest_columns(ENTITIES["contacts"], headers, samples, links)
    assert suggestions["Firm"].target == "organization"
    assert suggestions["Firm"].reason == "100% of values are names in the organizations table; header like “firm”"
    # Named like the link too, but holds none of its names: the column that does wins the field.
    assert suggestions["Employer"].target == NOTES
    alone = suggest_columns(ENTITIES["contacts"], ["Person", "Employer"], {**samples, "Employer": ["Self"]}, links)
    assert alone["Employer"].target == "organization"  # a firm not in the table yet is made, not refused
    assert alone["Employer"].reason == "0% of values are names in the organizations table; header like “employer”"


def test_choice_columns_say_how_many_values_are_known():
    headers, samples = _columns("Firm,Category\nA,Family Office\nB,Endowment\nC,Pension\nD,Space agency\n")
    suggestions = suggest_columns(ENTITIES["organizations"], headers, samples)
    assert suggestions["Category"].target == "type"
    assert suggestions["Category"].reason == "75% of values are known choices; header like “category”"


def _dated(text: str, header: str, target: str) -> list:
    source = parse_text(text, "t.csv")
    return [(source, TableMapping("communications", columns={header: target}))]


def test_dates_are_read_day_first_only_when_some_cannot_be_month_first_and_none_cannot_be_day_first():
    order, why = detect_date_order(_dated("When\n3/4/2025\n14/03/2025 10:00\n", "When", "communication_date"))
    assert order == "dmy"
    assert why == "“14/03/2025 10:00” in “When”"
    assert detect_date_order(_dated("When\n3/4/2025\n3/14/2025\n", "When", "communication_date")) == ("mdy", "")
    mixed = "When\n14/3/2025\n3/14/2025\n"  # both unambiguous: the file is not one order; the US one, as before
    assert detect_date_order(_dated(mixed, "When", "communication_date")) == ("mdy", "")
    # Only columns that are dates count: a ratio of 14/3 in a text column decides nothing.
    assert detect_date_order(_dated("When\n14/3/2025\n", "When", "subject")) == ("mdy", "")


# --- Every value gets a decision ------------------------------------------------------------------


def test_a_category_with_no_equal_maps_to_the_nearest_by_meaning_or_spelling_else_to_other():
    types = choice_spec("organizations", "type")
    assert suggest_value("Family Investment Office", types) == ("family_office", "similar meaning (“family office”)")
    assert suggest_value("Endowmnet", types)[0] == "endowment"
    assert suggest_value("Outsourced CIO", types)[0] == "wealth_manager"
    assert suggest_value("Space agency", types) == ("other", "nothing like it here, so Other")
    assert suggest_value("Space agency", types, fallback=False) == (None, "")
    # A field without an “Other” still never guesses: the row stays an error until someone decides.
    assert suggest_value("Someday", choice_spec("contacts", "status")) == (None, "")


def test_a_stage_we_lack_becomes_a_new_stage_open_before_the_won_ones_or_lost_when_it_says_so():
    stages = choice_spec("opportunities", "stage")
    assert suggest_value("Soft Circled", stages) == (
        {"create": "Soft Circled"},
        "no stage like it here: a new stage, open, before the won stages",
    )
    assert suggest_value("Not a fit", stages)[0] == {"create": "Not a fit", "outcome": "lost"}
    assert suggest_value("Declined", stages)[0] == "Passed"  # a synonym of the lost stage we have
    assert suggest_value("Reached out", stages)[0] == "Outreach"


def test_new_stages_are_placed_open_before_the_won_stages_and_lost_after_all(admin_user):
    ctx = ImportContext(user=admin_user, time_zone="UTC")
    soft = ctx.stage({"create": "Soft circle", "outcome": "open"})
    gone = ctx.stage({"create": "Went cold", "outcome": "lost"})
    orders = {stage.name: stage.order for stage in Stage.objects.all()}
    assert orders["Due diligence"] < soft.order < orders["Committed"]
    assert soft.outcome == StageOutcome.OPEN
    assert gone.order > max(orders.values()) and gone.outcome == StageOutcome.LOST


def test_a_mapping_file_can_say_a_new_stage_is_lost_and_the_editor_keeps_it():
    mapping = table_from_json(
        {"entity": "opportunities", "values": {"stage": {"Nope": {"create": "Nope", "outcome": "lost"}}}}
    )
    assert mapping.values["stage"]["Nope"] == {"create": "Nope", "outcome": "lost"}
    with pytest.raises(MappingError, match="outcome"):
        table_from_json({"entity": "opportunities", "values": {"stage": {"Nope": {"create": "Nope", "outcome": "x"}}}})
    choice = {"create": "Nope", "outcome": "lost"}
    assert decode_choice(encode_choice(choice)) == choice
    assert decode_choice(encode_choice({"create": "Soft"})) == {"create": "Soft"}


# --- The fund from the row's text ---------------------------------------------------------------


def test_a_fund_is_found_in_the_primary_field_then_the_other_text_then_is_the_one_being_raised(admin_user):
    Fund.objects.create(name="Fund I", status=FundStatus.CLOSED, vintage_year=2020)
    raising = Fund.objects.create(name="Fund II", status=FundStatus.RAISING, vintage_year=2025)
    ctx = ImportContext(user=admin_user, time_zone="UTC")
    assert [f.name for f in ctx.funds_named_in("Ada Byron – Fund II")] == ["Fund II"]
    assert [f.name for f in ctx.funds_named_in("ada byron - fund i")] == ["Fund I"]
    assert ctx.funds_named_in("Ada Byron – Fundraising") == []
    assert ctx.fund_from_text("Ada Byron – Fund I", "")[1] == "a fund name in the primary field"
    assert ctx.fund_from_text("Ada Byron", "Notes: re-up from Fund I")[0].name == "Fund I"
    # Both funds named: the text decides nothing, the fund being raised does.
    assert ctx.fund_from_text("Ada Byron", "Fund I LP, now Fund II") == (raising, "the fund being raised (Fund II)")
