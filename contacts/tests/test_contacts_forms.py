"""Adding, editing and deleting contacts: validation, duplicates, custom fields, roles."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import HX
from contacts.models import Contact, Organization
from crm.models import CustomField, CustomFieldEntity, CustomFieldType
from crm.testing.factories import comm as make_comm
from crm.testing.factories import contact as make_contact
from crm.testing.factories import lp as make_lp
from crm.testing.factories import opportunity as make_opportunity
from crm.testing.factories import org as make_org

CREATE = reverse("contact_create")


def form_data(**overrides) -> dict:
    data = {"first_name": "Ada", "last_name": "Okafor", "contact_type": "prospect", "status": "active"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- Create ---------------------------------------------------------------------------------


def test_new_contact_form_is_a_fragment_for_htmx_and_a_page_otherwise(member_client):
    fragment = member_client.get(CREATE, headers=HX).content.decode()
    assert fragment.lstrip().startswith('<div id="contact-form"') and "<html" not in fragment
    page = member_client.get(CREATE).content.decode()
    assert "<html" in page and 'id="contact-form"' in page


def test_member_adds_a_contact_without_htmx_and_lands_on_its_page(member_client, member_user, tags):
    response = member_client.post(
        CREATE, form_data(email=" Ada@Atlas.Example ", tags=[tags["Warm intro"].pk], owner=member_user.pk)
    )
    contact = Contact.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("contact_detail", args=[contact.pk])
    assert contact.email == "ada@atlas.example"
    assert contact.created_by == member_user and contact.owner == member_user
    assert list(contact.tags.all()) == [tags["Warm intro"]]
    record = contact.history.earliest()
    assert record.history_type == "+" and record.history_user == member_user


def test_htmx_add_shows_the_new_contacts_panel_and_tells_the_list_to_refresh(member_client):
    response = member_client.post(CREATE, form_data(), headers=HX)
    assert response.status_code == 200
    assert 'id="contact-panel"' in response.content.decode()
    assert "contactsChanged" in response["HX-Trigger"]


def test_new_contact_form_offers_the_signed_in_user_as_owner(member_client, member_user):
    form = member_client.get(CREATE).context["form"]
    assert form["owner"].value() == member_user.pk


def test_errors_are_shown_beside_the_fields_with_status_200(member_client):
    response = member_client.post(
        CREATE, form_data(last_name="  ", email="not-an-email", linkedin_url="ht!tp://"), headers=HX
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) >= {"last_name", "email", "linkedin_url"}
    body = response.content.decode()
    assert 'class="field-error" id="id_last_name_error"' in body
    assert Contact.objects.count() == 0


def test_linkedin_url_without_a_scheme_gets_https(member_client):
    member_client.post(CREATE, form_data(linkedin_url="linkedin.com/in/ada"))
    assert Contact.objects.get().linkedin_url == "https://linkedin.com/in/ada"


def test_huge_values_are_refused_not_truncated(member_client):
    response = member_client.post(CREATE, form_data(last_name="x" * 5000, phone="1" * 500))
    assert response.status_code == 200
    assert {"last_name", "phone"} <= set(response.context["form"].errors)
    assert Contact.objects.count() == 0


def test_unknown_choice_values_are_refused(member_client):
    response = member_client.post(CREATE, form_data(status="vip", contact_type="alien", owner="99999"))
    assert {"status", "contact_type", "owner"} <= set(response.context["form"].errors)


# --- Duplicate email ------------------------------------------------------------------------------


def test_duplicate_email_ignoring_case_and_spaces_is_refused_with_a_link(member_client):
    existing = make_contact("Okafor", first_name="Ada", email="ada@atlas.example")
    response = member_client.post(CREATE, form_data(last_name="Other", email="  ADA@Atlas.example "), headers=HX)
    assert response.status_code == 200
    errors = response.context["form"].errors["email"]
    link = reverse("contact_detail", args=[existing.pk])
    assert any(link in str(error) for error in errors)
    assert f'<a href="{link}"' in response.content.decode()  # a real link, not escaped text
    assert Contact.objects.count() == 1


def test_duplicate_email_cannot_be_saved_even_with_save_anyway(member_client):
    make_contact(email="ada@atlas.example")
    member_client.post(CREATE, form_data(email="ada@atlas.example", save_anyway="on"))
    assert Contact.objects.count() == 1


def test_editing_keeps_the_contacts_own_email(member_client):
    contact = make_contact("Okafor", email="ada@atlas.example")
    response = member_client.post(reverse("contact_edit", args=[contact.pk]), form_data(email="ADA@atlas.example"))
    assert response.status_code == 302


# --- Likely duplicates ------------------------------------------------------------------------


def test_same_name_at_the_same_organization_is_shown_before_saving(member_client):
    atlas = make_org("Atlas Family Office")
    existing = make_contact("Okafor", first_name="Ada", organization=atlas)
    response = member_client.post(
        CREATE, form_data(first_name="ada", organization_name="atlas family office"), headers=HX
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Possible duplicate" in body and "same name at Atlas Family Office" in body
    assert reverse("contact_detail", args=[existing.pk]) in body
    assert 'name="save_anyway"' in body
    assert Contact.objects.count() == 1

    saved = member_client.post(
        CREATE, form_data(first_name="ada", organization_name="atlas family office", save_anyway="on"), headers=HX
    )
    assert saved.status_code == 200 and 'id="contact-panel"' in saved.content.decode()
    assert Contact.objects.count() == 2


def test_same_name_and_phone_in_any_format_is_shown_before_saving(member_client):
    make_contact("Okafor", first_name="Ada", phone="+1 (212) 555-0100")
    response = member_client.post(CREATE, form_data(mobile="1 212 555 0100"))
    assert response.status_code == 200
    assert "same name and phone" in response.content.decode()


def test_same_name_elsewhere_without_a_shared_phone_is_not_a_duplicate(member_client):
    make_contact("Okafor", first_name="Ada", organization=make_org("Atlas"), phone="111111111")
    response = member_client.post(CREATE, form_data(organization_name="", phone="2222222222"))
    assert response.status_code == 302
    assert Contact.objects.count() == 2


# --- Organization by name --------------------------------------------------------------------


def test_organization_is_matched_by_name_ignoring_case_and_spacing(member_client):
    atlas = make_org("Atlas Family Office")
    member_client.post(CREATE, form_data(organization_name="  atlas   FAMILY office "))
    assert Contact.objects.get().organization == atlas


def test_unknown_organization_is_refused_unless_creating_it_is_ticked(member_client, member_user):
    response = member_client.post(CREATE, form_data(organization_name="Nova Partners"))
    assert response.status_code == 200
    assert "There is no organization called “Nova Partners”" in str(response.context["form"].errors)
    assert 'name="create_organization"' in response.content.decode()
    assert not Organization.objects.exists()

    member_client.post(CREATE, form_data(organization_name="Nova Partners", create_organization="on"))
    contact = Contact.objects.get()
    assert contact.organization.name == "Nova Partners"
    assert contact.organization.created_by == member_user


def test_organization_suggestions_list_names_starting_with_the_text_first(member_client):
    for name in ["Zeta Atlas Trust", "Atlas Family Office", "Beacon", "Atlantic Partners"]:
        make_org(name)
    response = member_client.get(reverse("contact_organization_options"), {"organization_name": "atl"}, headers=HX)
    body = response.content.decode()
    assert body.index("Atlantic Partners") < body.index("Atlas Family Office") < body.index("Zeta Atlas Trust")
    assert "Beacon" not in body
    assert member_client.get(reverse("contact_organization_options")).content.strip() == b""


def test_an_organization_created_while_editing_is_created_by_the_editor(client, manager_user, member_user):
    contact = make_contact(created_by=manager_user)
    client.force_login(member_user)
    client.post(
        reverse("contact_edit", args=[contact.pk]), form_data(organization_name="Nova", create_organization="on")
    )
    assert Organization.objects.get(name="Nova").created_by == member_user


def test_editing_shows_the_current_organization_name(member_client):
    contact = make_contact(organization=make_org("Atlas"))
    form = member_client.get(reverse("contact_edit", args=[contact.pk])).context["form"]
    assert form["organization_name"].value() == "Atlas"


def test_clearing_the_organization_name_unlinks_the_organization(member_client):
    contact = make_contact(organization=make_org("Atlas"))
    member_client.post(reverse("contact_edit", args=[contact.pk]), form_data(organization_name=""))
    contact.refresh_from_db()
    assert contact.organization is None


# --- Custom fields --------------------------------------------------------------------------------


@pytest.fixture
def custom_fields(db):
    CustomField.objects.create(
        name="Check size", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.CURRENCY, required=True
    )
    CustomField.objects.create(
        name="Sectors",
        entity=CustomFieldEntity.CONTACT,
        field_type=CustomFieldType.MULTI_SELECT,
        options="Fintech\nHealth\nClimate",
    )
    CustomField.objects.create(name="Birthday", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.DATE)


def test_custom_fields_appear_with_widgets_for_their_type(member_client, custom_fields):
    body = member_client.get(CREATE, headers=HX).content.decode()
    assert 'name="cf_check_size"' in body and 'type="number"' in body
    assert 'type="checkbox" name="cf_sectors" value="Health"' in body
    assert 'type="date" name="cf_birthday"' in body


def test_required_custom_field_is_enforced_and_values_are_stored_and_shown(member_client, custom_fields):
    missing = member_client.post(CREATE, form_data())
    assert missing.status_code == 200 and "cf_check_size" in missing.context["form"].errors

    member_client.post(
        CREATE, form_data(cf_check_size="2500000", cf_sectors=["Climate", "Fintech"], cf_birthday="1970-05-01")
    )
    contact = Contact.objects.get()
    assert contact.custom_fields == {
        "check_size": "2500000.00",
        "sectors": ["Fintech", "Climate"],
        "birthday": "1970-05-01",
    }
    panel = member_client.get(reverse("contact_detail", args=[contact.pk]), headers=HX).content.decode()
    assert "$2,500,000" in panel and "Fintech, Climate" in panel and "May 1, 1970" in panel


# --- Edit ---------------------------------------------------------------------------------------------


def test_edit_form_fragment_and_page(member_client):
    contact = make_contact("Okafor")
    url = reverse("contact_edit", args=[contact.pk])
    assert member_client.get(url, headers=HX).content.decode().lstrip().startswith('<div id="contact-form"')
    assert "<html" in member_client.get(url).content.decode()


def test_member_edits_a_contact_and_history_records_who(member_client, member_user):
    contact = make_contact("Okafor", first_name="Ada")
    response = member_client.post(
        reverse("contact_edit", args=[contact.pk]), form_data(title="Chief Investment Officer"), headers=HX
    )
    assert response.status_code == 200 and "contactsChanged" in response["HX-Trigger"]
    contact.refresh_from_db()
    assert contact.title == "Chief Investment Officer"
    latest = contact.history.latest()
    assert latest.history_type == "~" and latest.history_user == member_user


def test_editing_a_missing_contact_is_404(member_client):
    assert member_client.get(reverse("contact_edit", args=[999])).status_code == 404


# --- Delete -------------------------------------------------------------------------------------------


def test_member_cannot_delete(member_client):
    contact = make_contact()
    url = reverse("contact_delete", args=[contact.pk])
    assert member_client.get(url).status_code == 403
    assert member_client.post(url).status_code == 403
    assert member_client.post(url, headers=HX).status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_delete_after_confirming(client, request, role):
    client.force_login(request.getfixturevalue(f"{role}_user"))
    contact = make_contact("Okafor")
    make_comm(contact, subject="Intro")
    url = reverse("contact_delete", args=[contact.pk])
    confirm = client.get(url, headers=HX)
    assert confirm.status_code == 200 and "1 communication" in confirm.content.decode()
    assert Contact.objects.filter(pk=contact.pk).exists()

    response = client.post(url, headers=HX)
    assert response.status_code == 200 and "closeDialog" in response["HX-Trigger"]
    assert "contactsChanged" in response["HX-Trigger"]
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert Contact.history.filter(id=contact.pk, history_type="-").exists()  # the audit trail stays


def test_delete_without_htmx_redirects_to_the_list(manager_client):
    contact = make_contact()
    response = manager_client.post(reverse("contact_delete", args=[contact.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("contact_list")


def test_contact_with_opportunities_cannot_be_deleted_and_says_why(manager_client, fund, stage):
    contact = make_contact("Okafor")
    make_opportunity(contact, fund, stage)
    url = reverse("contact_delete", args=[contact.pk])
    page = manager_client.get(url).content.decode()
    assert "cannot be deleted" in page and "merge" in page
    manager_client.post(url)
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_delete_confirmation_warns_about_an_lp_profile(manager_client, fund):
    contact = make_contact("Okafor")
    make_lp(contact, (fund, "1000000"))
    page = manager_client.get(reverse("contact_delete", args=[contact.pk])).content.decode()
    assert "their LP profile and 1 commitment" in page and "merge them instead" in page


def test_a_contact_is_marked_never_capture_on_its_form_with_history(member_client, member_user):
    contact = make_contact("Okafor", email="ada@atlas.example")

    member_client.post(reverse("contact_edit", args=[contact.pk]), form_data(never_capture="on"))

    contact.refresh_from_db()
    assert contact.never_capture
    assert contact.history.first().history_user == member_user
