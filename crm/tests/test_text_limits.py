"""Every free-text input has a limit (issue 9): one over it is refused beside the field, one at it is saved.

The limits live in crm.lib.text. Each model family is walked through its own form, as a
signed-in user posts it; imports have their own tests in test_import_limits.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import HX
from contacts.models import Communication, CommunicationType, Contact, Organization, Tag
from crm.lib.filters import every_word_matches
from crm.lib.text import (
    CUSTOM_LONG_TEXT_MAX,
    CUSTOM_TEXT_MAX,
    LABEL_MAX,
    NAME_MAX,
    NOTE_MAX,
    OPTIONS_MAX,
    SEARCH_MAX,
    too_long_message,
)
from crm.models import CustomField, CustomFieldEntity, CustomFieldType
from crm.testing.factories import contact, fund, stage
from lps.models import Commitment, CommitmentStatus, LPProfile
from pipeline.models import Opportunity


@dataclass
class Case:
    """One form: where it posts, valid data with the long value in ``field``, and what it saved."""

    url: Callable[[], str]
    data: Callable[[str], dict[str, Any]]
    field: str
    limit: int
    saved: Callable[[], list[str]]


def _communication_data(value: str) -> dict[str, Any]:
    person = Contact.objects.get_or_create(last_name="Okafor")[0]
    return {
        "contact": person.pk,
        "type": CommunicationType.CALL,
        "communication_date": "2025-03-14T15:30",
        "body": value,
    }


def _lp_edit_url() -> str:
    return reverse("lp_edit", args=[LPProfile.objects.get_or_create(contact=contact("Gillespie"))[0].pk])


def _commitment_url() -> str:
    return reverse("commitment_create", args=[LPProfile.objects.get_or_create(contact=contact("Vance"))[0].pk])


def _commitment_data(value: str) -> dict[str, Any]:
    return {
        "fund": fund("Fund II").pk,
        "status": CommitmentStatus.SIGNED,
        "commitment_amount": "250000",
        "funded_amount": "0",
        "notes": value,
    }


def _opportunity_data(value: str) -> dict[str, Any]:
    return {
        "contact": contact("Marchetti").pk,
        "fund": fund("Fund III").pk,
        "stage": stage().pk,
        "priority": "medium",
        "expected_amount": "1000000",
        "description": value,
    }


CASES = {
    "contact notes": Case(
        lambda: reverse("contact_create"),
        lambda v: {"last_name": "Okafor", "contact_type": "prospect", "status": "active", "notes": v},
        "notes",
        NOTE_MAX,
        lambda: list(Contact.objects.values_list("notes", flat=True)),
    ),
    "organization description": Case(
        lambda: reverse("organization_create"),
        lambda v: {"name": "Zeta Capital", "type": "bank", "description": v},
        "description",
        NOTE_MAX,
        lambda: list(Organization.objects.values_list("description", flat=True)),
    ),
    "organization name": Case(
        lambda: reverse("organization_create"),
        lambda v: {"name": v, "type": "bank"},
        "name",
        NAME_MAX,
        lambda: list(Organization.objects.values_list("name", flat=True)),
    ),
    "communication body": Case(
        lambda: reverse("communication_create"),
        _communication_data,
        "body",
        NOTE_MAX,
        lambda: list(Communication.objects.values_list("body", flat=True)),
    ),
    "tag name": Case(
        lambda: reverse("tag_create"),
        lambda v: {"name": v, "colour": "red"},
        "name",
        LABEL_MAX,
        lambda: list(Tag.objects.values_list("name", flat=True)),
    ),
    "LP profile notes": Case(
        _lp_edit_url,
        lambda v: {"investor_type": "pension", "notes": v},
        "notes",
        NOTE_MAX,
        lambda: [n for n in LPProfile.objects.values_list("notes", flat=True) if n],
    ),
    "commitment notes": Case(
        _commitment_url,
        _commitment_data,
        "notes",
        NOTE_MAX,
        lambda: list(Commitment.objects.values_list("notes", flat=True)),
    ),
    "opportunity description": Case(
        lambda: reverse("opportunity_create"),
        _opportunity_data,
        "description",
        NOTE_MAX,
        lambda: list(Opportunity.objects.values_list("description", flat=True)),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_one_character_over_the_limit_is_refused_beside_the_field_and_nothing_is_saved(admin_client, case):
    url = case.url()
    before = case.saved()
    response = admin_client.post(url, case.data("x" * (case.limit + 1)), headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert too_long_message(case.limit, case.limit + 1) in html
    assert f'name="{case.field}"' in html and f'maxlength="{case.limit}"' in html  # the browser stops typing there too
    assert case.saved() == before


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_value_exactly_at_the_limit_is_saved_whole(admin_client, case):
    url = case.url()
    response = admin_client.post(url, case.data("x" * case.limit))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert "x" * case.limit in case.saved()


def test_ten_megabytes_of_notes_are_refused_with_the_field_error_not_a_server_error(admin_client):
    huge = "word " * 2_000_000  # 10 MB, under DATA_UPLOAD_MAX_MEMORY_SIZE (20 MB)
    data = {"last_name": "Okafor", "contact_type": "prospect", "status": "active", "notes": huge}
    response = admin_client.post(reverse("contact_create"), data, headers=HX)
    assert response.status_code == 200
    # Django strips the trailing space before counting.
    assert too_long_message(NOTE_MAX, len(huge.strip())) in response.content.decode()
    assert "Keep this to at most 100,000 characters (it has 9,999,999)." in response.content.decode()
    assert not Contact.objects.exists()


def test_full_clean_holds_notes_to_the_limit_outside_forms_too(db):
    person = Contact(last_name="Okafor", notes="x" * (NOTE_MAX + 1))
    with pytest.raises(ValidationError) as refused:
        person.full_clean()
    assert refused.value.message_dict == {"notes": [too_long_message(NOTE_MAX, NOTE_MAX + 1)]}
    person.notes = "x" * NOTE_MAX
    person.full_clean()


# --- Custom fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "limit"), [(CustomFieldType.TEXT, CUSTOM_TEXT_MAX), (CustomFieldType.LONG_TEXT, CUSTOM_LONG_TEXT_MAX)]
)
def test_a_custom_text_value_over_its_limit_is_refused_and_one_at_it_is_stored(db, kind, limit):
    field = CustomField.objects.create(name="Thesis", entity=CustomFieldEntity.CONTACT, field_type=kind)
    with pytest.raises(ValidationError) as refused:
        field.to_storage("x" * (limit + 1))
    assert refused.value.messages == [too_long_message(limit, limit + 1)]
    assert field.to_storage("x" * limit) == "x" * limit


@pytest.mark.parametrize(
    ("kind", "limit"), [(CustomFieldType.TEXT, CUSTOM_TEXT_MAX), (CustomFieldType.LONG_TEXT, CUSTOM_LONG_TEXT_MAX)]
)
def test_the_contact_form_refuses_a_custom_text_value_over_its_limit(admin_client, kind, limit):
    CustomField.objects.create(name="Thesis", key="thesis", entity=CustomFieldEntity.CONTACT, field_type=kind)
    data = {"last_name": "Okafor", "contact_type": "prospect", "status": "active"}
    response = admin_client.post(reverse("contact_create"), {**data, "cf_thesis": "x" * (limit + 1)}, headers=HX)
    assert response.status_code == 200
    assert too_long_message(limit, limit + 1) in response.content.decode()
    assert not Contact.objects.exists()
    saved = admin_client.post(reverse("contact_create"), {**data, "cf_thesis": "x" * limit})
    assert saved.status_code == 302
    assert Contact.objects.get().custom_fields == {"thesis": "x" * limit}


def test_custom_url_and_email_values_are_bounded_too(db):
    url = CustomField.objects.create(name="Deck", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.URL)
    with pytest.raises(ValidationError, match="at most 500 characters"):
        url.to_storage("https://example.com/" + "a" * 500)
    email = CustomField.objects.create(name="EA", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.EMAIL)
    with pytest.raises(ValidationError, match="at most 254 characters"):
        email.to_storage("a" * 250 + "@example.com")


# --- Search boxes -------------------------------------------------------------------------------


def test_a_search_reads_only_its_first_characters_so_a_megabyte_query_stays_a_small_one(db):
    query = every_word_matches(Contact.objects.all(), "z" * 1_000_000, ("notes",)).query
    _sql, params = query.sql_with_params()
    assert [len(p) for p in params] == [SEARCH_MAX + 2]  # the word, between LIKE's two %


def test_the_admin_refuses_select_options_over_their_limit(admin_client):
    options = "\n".join(f"Option {n}" for n in range(2000))  # ~ 19,000 characters
    assert len(options) > OPTIONS_MAX
    data = {"name": "Sector", "entity": CustomFieldEntity.CONTACT, "field_type": CustomFieldType.MULTI_SELECT}
    form = {**data, "key": "", "display_order": "0", "help_text": "", "_save": "Save"}
    response = admin_client.post("/admin/crm/customfield/add/", {**form, "options": options})
    assert response.status_code == 200
    assert f"at most {OPTIONS_MAX} characters" in response.content.decode()  # the admin keeps Django's wording
    assert not CustomField.objects.exists()
    short = admin_client.post("/admin/crm/customfield/add/", {**form, "options": options[:OPTIONS_MAX]})
    assert short.status_code == 302
    assert CustomField.objects.get().options == options[:OPTIONS_MAX].strip()
