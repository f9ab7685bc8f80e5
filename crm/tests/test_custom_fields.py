"""Custom fields: what each field type accepts, how values are stored, and the admin that defines them."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from contacts.models import Contact
from crm.models import CustomField, CustomFieldEntity, CustomFieldType

TYPE = CustomFieldType


def field(field_type: str = TYPE.TEXT, name: str = "Field", **extra) -> CustomField:
    """An unsaved definition: to_storage/from_storage need no database."""
    return CustomField(name=name, entity=CustomFieldEntity.CONTACT, field_type=field_type, **extra)


def rejects(definition: CustomField, value) -> str:
    with pytest.raises(ValidationError) as caught:
        definition.to_storage(value)
    return " ".join(caught.value.messages)


# --- Text -------------------------------------------------------------------------------


def test_text_is_stored_trimmed():
    assert field(TYPE.TEXT).to_storage("  Boston  ") == "Boston"


def test_text_is_limited_to_1000_characters():
    assert field(TYPE.TEXT).to_storage("x" * 1000) == "x" * 1000
    assert "at most 1,000 characters (it has 1,001)" in rejects(field(TYPE.TEXT), "x" * 1001)


def test_long_text_takes_more_than_1000_characters_up_to_its_limit():
    assert len(field(TYPE.LONG_TEXT).to_storage("x" * 5000)) == 5000
    assert "at most 100,000 characters" in rejects(field(TYPE.LONG_TEXT), "x" * 100_001)


# --- Numbers and currency ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("42", "42"), ("1,250", "1250"), ("-3.75", "-3.75"), (Decimal("0.1"), "0.1"), (7, "7"), (0.1, "0.1")],
)
def test_number_is_stored_as_a_decimal_string(raw, stored):
    value = field(TYPE.NUMBER).to_storage(raw)
    assert type(value) is str
    assert value == stored


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("$1,250.50", "1250.50"), ("12", "12.00"), ("€ 3 000", "3000.00"), ("0.005", "0.00"), ("£19.99", "19.99")],
)
def test_currency_is_stored_as_a_string_with_cents(raw, stored):
    assert field(TYPE.CURRENCY).to_storage(raw) == stored


@pytest.mark.parametrize("raw", ["abc", "12abc", "1.2.3", "NaN", "Infinity", "1e15", "--5"])
def test_bad_numbers_are_refused(raw):
    assert "number" in rejects(field(TYPE.NUMBER), raw)


def test_numbers_come_back_as_decimals_never_floats():
    number = field(TYPE.NUMBER)
    currency = field(TYPE.CURRENCY)
    assert number.from_storage(number.to_storage("0.1")) == Decimal("0.1")
    assert type(currency.from_storage(currency.to_storage("$1,250.50"))) is Decimal
    assert currency.from_storage("1250.50") == Decimal("1250.50")


# --- Dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["2025-03-05", " 2025-03-05 ", datetime.date(2025, 3, 5), datetime.datetime(2025, 3, 5, 14, 30)]
)
def test_dates_are_stored_as_iso_strings(raw):
    assert field(TYPE.DATE).to_storage(raw) == "2025-03-05"


@pytest.mark.parametrize("raw", ["2025-02-30", "05/03/2025", "next tuesday", "2025-13-01"])
def test_invalid_dates_are_refused(raw):
    assert "is not a date (use YYYY-MM-DD)" in rejects(field(TYPE.DATE), raw)


def test_dates_come_back_as_dates():
    assert field(TYPE.DATE).from_storage("2025-03-05") == datetime.date(2025, 3, 5)


# --- Checkboxes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("checked", True),
        ("yes", True),
        ("Yes", True),
        ("x", True),
        ("1", True),
        (True, True),
        ("", False),
        ("no", False),
        ("unchecked", False),
        (None, False),
        (False, False),
    ],
)
def test_checkbox_understands_yes_and_no_words(raw, stored):
    assert field(TYPE.CHECKBOX).to_storage(raw) is stored


def test_checkbox_refuses_words_that_are_not_yes_or_no():
    assert "not a yes/no value" in rejects(field(TYPE.CHECKBOX), "maybe")


# --- Selects ----------------------------------------------------------------------------

SECTORS = "Fintech\nClimate\nHealth"


def test_single_select_accepts_one_of_its_options():
    assert field(TYPE.SINGLE_SELECT, options=SECTORS).to_storage(" Climate ") == "Climate"


def test_single_select_refuses_a_value_that_is_not_an_option():
    message = rejects(field(TYPE.SINGLE_SELECT, name="Sector", options=SECTORS), "Crypto")
    assert message == "“Crypto” is not one of the options for Sector."


def test_multi_select_keeps_the_defined_order():
    assert field(TYPE.MULTI_SELECT, options=SECTORS).to_storage(["Health", "Fintech"]) == ["Fintech", "Health"]


def test_multi_select_takes_a_single_string_as_one_choice():
    assert field(TYPE.MULTI_SELECT, options=SECTORS).to_storage("Climate") == ["Climate"]


def test_multi_select_refuses_unknown_options_and_names_them():
    message = rejects(field(TYPE.MULTI_SELECT, name="Sectors", options=SECTORS), ["Fintech", "Crypto", "AI"])
    assert message == "Not options for Sectors: Crypto, AI."


def test_option_list_ignores_blank_lines_and_spaces():
    assert field(TYPE.SINGLE_SELECT, options="  Fintech \n\n Climate\n").option_list == ["Fintech", "Climate"]


# --- URL and email ----------------------------------------------------------------------


def test_url_accepts_http_and_https_addresses():
    assert field(TYPE.URL).to_storage("https://atlas.example/team") == "https://atlas.example/team"
    assert field(TYPE.URL).to_storage("http://atlas.example") == "http://atlas.example"


@pytest.mark.parametrize("raw", ["atlas.example", "ftp://atlas.example", "javascript:alert(1)", "not a url"])
def test_url_refuses_other_values(raw):
    assert "valid URL" in rejects(field(TYPE.URL), raw)


def test_email_is_stored_lower_case():
    assert field(TYPE.EMAIL).to_storage(" Ada@Atlas.Example ") == "ada@atlas.example"


@pytest.mark.parametrize("raw", ["ada@", "ada.atlas.example", "ada@@atlas.example"])
def test_email_refuses_invalid_addresses(raw):
    assert "valid email" in rejects(field(TYPE.EMAIL), raw)


# --- Required and empty -----------------------------------------------------------------


@pytest.mark.parametrize("field_type", [TYPE.TEXT, TYPE.NUMBER, TYPE.DATE, TYPE.SINGLE_SELECT, TYPE.MULTI_SELECT])
@pytest.mark.parametrize("empty", [None, "", "   ", []])
def test_required_field_refuses_an_empty_value(field_type, empty):
    definition = field(field_type, name="Check size", required=True, options=SECTORS if "select" in field_type else "")
    assert rejects(definition, empty) == "Check size is required."


@pytest.mark.parametrize("field_type", [TYPE.TEXT, TYPE.CURRENCY, TYPE.DATE, TYPE.URL, TYPE.MULTI_SELECT])
def test_optional_field_stores_an_empty_value_as_nothing(field_type):
    definition = field(field_type, options=SECTORS if "select" in field_type else "")
    assert definition.to_storage("") is None
    assert definition.from_storage(None) is None


# --- On a record ------------------------------------------------------------------------


@pytest.fixture
def contact_fields(db) -> list[CustomField]:
    return [
        CustomField.objects.create(
            name="Check size", entity=CustomFieldEntity.CONTACT, field_type=TYPE.CURRENCY, display_order=1
        ),
        CustomField.objects.create(name="First met", entity=CustomFieldEntity.CONTACT, field_type=TYPE.DATE),
        CustomField.objects.create(
            name="Sectors", entity=CustomFieldEntity.CONTACT, field_type=TYPE.MULTI_SELECT, options=SECTORS
        ),
        CustomField.objects.create(
            name="Region", entity=CustomFieldEntity.CONTACT, field_type=TYPE.TEXT, required=True, display_order=2
        ),
    ]


def test_contact_custom_field_errors_name_each_field(contact_fields):
    contact = Contact(
        last_name="Okafor", custom_fields={"check_size": "lots", "first_met": "2025-02-30", "region": "EMEA"}
    )
    with pytest.raises(ValidationError) as caught:
        contact.clean_custom_fields()
    messages = caught.value.message_dict["custom_fields"]
    # In display order: First met (0) before Check size (1).
    assert messages == [
        "First met: “2025-02-30” is not a date (use YYYY-MM-DD).",
        "Check size: “lots” is not a number.",
    ]


def test_contact_custom_fields_report_a_missing_required_field(contact_fields):
    contact = Contact(last_name="Okafor", custom_fields={})
    with pytest.raises(ValidationError) as caught:
        contact.clean_custom_fields()
    assert caught.value.message_dict["custom_fields"] == ["Region: Region is required."]


def test_contact_custom_fields_are_normalised_and_values_of_deleted_fields_kept(contact_fields):
    contact = Contact.objects.create(
        last_name="Okafor",
        custom_fields={
            "check_size": "$1,250.50",
            "first_met": "2025-03-05",
            "sectors": ["Health", "Fintech"],
            "region": " EMEA ",
            "old_crm_id": "rec123",  # its definition was deleted in the admin
        },
    )
    contact.clean_custom_fields()
    contact.save()
    contact.refresh_from_db()
    assert contact.custom_fields == {
        "check_size": "1250.50",
        "first_met": "2025-03-05",
        "sectors": ["Fintech", "Health"],
        "region": "EMEA",
        "old_crm_id": "rec123",
    }
    shown = {definition.key: value for definition, value in contact.custom_field_display()}
    assert shown == {
        "check_size": Decimal("1250.50"),
        "first_met": datetime.date(2025, 3, 5),
        "sectors": ["Fintech", "Health"],
        "region": "EMEA",
    }


def test_contact_ignores_custom_fields_defined_for_other_records(contact_fields):
    CustomField.objects.create(name="Region", entity=CustomFieldEntity.ORGANIZATION, field_type=TYPE.DATE)
    contact = Contact(last_name="Okafor", custom_fields={"region": "EMEA"})
    contact.clean_custom_fields()
    assert contact.custom_fields == {"region": "EMEA"}


def test_empty_optional_values_are_dropped_from_storage(contact_fields):
    contact = Contact(last_name="Okafor", custom_fields={"region": "EMEA", "check_size": "", "first_met": None})
    contact.clean_custom_fields()
    assert contact.custom_fields == {"region": "EMEA"}


# --- Definitions ------------------------------------------------------------------------


@pytest.mark.django_db
def test_key_is_generated_from_the_name():
    definition = CustomField.objects.create(
        name="Check Size (USD) – Target", entity=CustomFieldEntity.CONTACT, field_type=TYPE.CURRENCY
    )
    assert definition.key == "check_size_usd_target"


@pytest.mark.django_db
def test_a_key_given_by_hand_is_kept():
    definition = CustomField.objects.create(name="Check size", key="ticket", entity=CustomFieldEntity.CONTACT)
    assert definition.key == "ticket"


def test_clean_generates_the_key_and_refuses_a_name_without_letters():
    definition = field(TYPE.TEXT, name="  Investment thesis ")
    definition.clean()
    assert (definition.name, definition.key) == ("Investment thesis", "investment_thesis")
    with pytest.raises(ValidationError) as caught:
        field(TYPE.TEXT, name="!!!").clean()
    assert "name" in caught.value.message_dict


@pytest.mark.parametrize("field_type", [TYPE.SINGLE_SELECT, TYPE.MULTI_SELECT])
def test_select_field_without_options_is_refused(field_type):
    with pytest.raises(ValidationError) as caught:
        field(field_type, options=" \n \n").clean()
    assert caught.value.message_dict == {"options": ["A select field needs at least one option."]}


def test_options_on_a_field_that_is_not_a_select_are_refused():
    with pytest.raises(ValidationError) as caught:
        field(TYPE.TEXT, options="Fintech").clean()
    assert caught.value.message_dict == {"options": ["Only select fields take options."]}


# --- Admin ------------------------------------------------------------------------------


def test_admin_lists_custom_fields(admin_client, contact_fields):
    response = admin_client.get("/admin/crm/customfield/")
    assert response.status_code == 200
    for definition in contact_fields:
        assert definition.name in response.content.decode()


def test_admin_shows_the_add_form(admin_client):
    response = admin_client.get("/admin/crm/customfield/add/")
    assert response.status_code == 200
    assert b'name="options"' in response.content


def admin_add(client, **data):
    form = {
        "name": "",
        "key": "",
        "entity": CustomFieldEntity.CONTACT,
        "field_type": TYPE.TEXT,
        "options": "",
        "display_order": "0",
        "help_text": "",
        "_save": "Save",
    }
    return client.post("/admin/crm/customfield/add/", {**form, **data})


def test_admin_creates_a_custom_field_with_a_generated_key(admin_client, admin_user):
    response = admin_add(
        admin_client, name="Investor sectors", field_type=TYPE.MULTI_SELECT, options=SECTORS, required="on"
    )
    assert response.status_code == 302
    definition = CustomField.objects.get(name="Investor sectors")
    assert definition.key == "investor_sectors"
    assert definition.required
    assert definition.option_list == ["Fintech", "Climate", "Health"]
    assert definition.history.first().history_user == admin_user


def test_admin_refuses_a_select_field_without_options(admin_client):
    response = admin_add(admin_client, name="Sector", field_type=TYPE.SINGLE_SELECT)
    assert response.status_code == 200
    assert "A select field needs at least one option." in response.content.decode()
    assert not CustomField.objects.exists()


def test_admin_refuses_a_second_field_with_the_same_key_for_the_same_record(admin_client):
    CustomField.objects.create(name="Region", entity=CustomFieldEntity.CONTACT)
    response = admin_add(admin_client, name="Region")
    assert response.status_code == 200
    assert CustomField.objects.filter(key="region").count() == 1
    response = admin_add(admin_client, name="Region", entity=CustomFieldEntity.ORGANIZATION)
    assert response.status_code == 302
    assert CustomField.objects.filter(key="region").count() == 2


def test_members_cannot_open_the_custom_field_admin(member_client):
    response = member_client.get("/admin/crm/customfield/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
