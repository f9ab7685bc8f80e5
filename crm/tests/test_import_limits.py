"""Imports hold to the same text limits as the forms (issue 9).

An over-long cell is a row error naming the column and the limit, checked once in the
import engine for every model field; imports are all or nothing, so the run reports the
rows and writes nothing.
"""

from __future__ import annotations

import pytest

from contacts.models import Contact, Organization, Tag
from crm.imports.mapping import ImportOptions, complete
from crm.imports.runner import RunOutcome, TableInput, run_import
from crm.imports.source import SourceError, parse_text
from crm.lib.text import CUSTOM_TEXT_MAX, NAME_MAX, NOTE_MAX
from crm.models import CustomField, CustomFieldEntity, CustomFieldType

pytestmark = pytest.mark.django_db


def run(text: str, entity: str, user, **columns: str) -> RunOutcome:
    source = parse_text(text, f"{entity}.csv")
    table = complete(source, entity)
    for header, target in columns.items():
        table.columns[header] = target
    return run_import([TableInput(source, table)], user=user, options=ImportOptions("UTC"), dry_run=False)


def errors(outcome: RunOutcome) -> list[tuple[int, str, str]]:
    """(row, column, text) of every error the run reported."""
    return [
        (row.number, m.column, m.text)
        for t in outcome.tables
        for row in t.rows
        for m in row.messages
        if m.level == "error"
    ]


def test_a_cell_longer_than_any_field_holds_refuses_the_file_naming_row_column_and_limit(manager_user):
    # Longer than notes take: no field could hold it (most likely a quote left open).
    text = f"Full Name,Company,Notes\nAda Okafor,Atlas Partners,fine\nBo Chen,Beacon,{'x' * (NOTE_MAX + 1)}\n"
    with pytest.raises(SourceError) as refused:
        parse_text(text, "contacts.csv")
    assert "row 3, “Notes” holds 100,001 characters; the largest value the CRM accepts is 100,000" in str(refused.value)


def test_a_cell_too_long_for_its_field_is_a_row_error_naming_the_column_and_nothing_is_written(manager_user):
    text = f"Full Name,Company,Job Title\nAda Okafor,Atlas Partners,CIO\nBo Chen,Beacon,{'x' * 151}\n"
    outcome = run(text, "contacts", manager_user)
    assert outcome.status == "blocked"
    assert errors(outcome) == [(3, "Job Title", "longer than the 150 characters allowed (it has 151)")]
    # All or nothing: not Ada, not the firms the rows named.
    assert not Contact.objects.exists() and not Organization.objects.exists()


def test_a_notes_cell_exactly_at_the_limit_is_imported_whole(manager_user):
    text = f"Full Name,Notes\nAda Okafor,{'x' * NOTE_MAX}\n"
    outcome = run(text, "contacts", manager_user)
    assert outcome.status == "imported", errors(outcome)
    assert Contact.objects.get().notes == "x" * NOTE_MAX


def test_notes_composed_from_several_columns_are_held_to_the_limit_and_named(manager_user):
    half = "y" * (NOTE_MAX // 2)
    text = f"Full Name,Notes,Background\nAda Okafor,{half},{half}\n"
    outcome = run(text, "contacts", manager_user, Background="__notes__")
    assert outcome.status == "blocked"
    [(row, column, message)] = errors(outcome)
    assert row == 2 and column == "Notes"
    assert message.startswith("longer than the 100,000 characters allowed")
    assert not Contact.objects.exists()


def test_an_over_long_name_is_a_row_error_not_cut_short(manager_user):
    text = f"Firm Name,Category\nAtlas Partners,Bank\n{'B' * (NAME_MAX + 1)},Bank\n"
    outcome = run(text, "organizations", manager_user)
    assert outcome.status == "blocked"
    assert errors(outcome) == [(3, "Firm Name", "longer than the 200 characters allowed (it has 201)")]
    assert not Organization.objects.exists()


def test_a_linked_firm_or_tag_name_over_its_limit_is_a_row_error_and_creates_nothing(manager_user):
    text = f"Full Name,Company,Labels\nAda Okafor,{'A' * (NAME_MAX + 1)},\nBo Chen,,{'t' * 51}\n"
    outcome = run(text, "contacts", manager_user)
    assert outcome.status == "blocked"
    found = errors(outcome)
    assert [(row, column) for row, column, _ in found] == [(2, "Company"), (3, "Labels")]
    assert "longer than the 200 characters allowed (it has 201)" in found[0][2]
    assert "longer than the 50 characters allowed (it has 51)" in found[1][2]
    assert not Organization.objects.exists() and not Tag.objects.exists() and not Contact.objects.exists()


def test_a_custom_text_value_over_its_limit_is_a_row_error(manager_user):
    CustomField.objects.create(name="Thesis", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.TEXT)
    text = f"Full Name,Thesis\nAda Okafor,{'z' * (CUSTOM_TEXT_MAX + 1)}\n"
    outcome = run(text, "contacts", manager_user, Thesis="custom:thesis")
    assert outcome.status == "blocked"
    [(row, column, message)] = errors(outcome)
    assert row == 2 and "Keep this to at most 1,000 characters (it has 1,001)." in message
    assert not Contact.objects.exists()
