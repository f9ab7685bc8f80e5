"""The contact panel and page: details, custom fields, timeline, opportunities, LP, history."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.urls import path, reverse

from conftest import HX
from contacts.models import ContactType
from contacts.tests import urls_without_communications
from crm.models import CustomField, CustomFieldEntity, CustomFieldType
from crm.testing.factories import comm as make_comm
from crm.testing.factories import contact as make_contact
from crm.testing.factories import lp as make_lp
from crm.testing.factories import opportunity as make_opportunity
from crm.testing.factories import org as make_org


def detail(pk: int) -> str:
    return reverse("contact_detail", args=[pk])


def test_panel_is_a_fragment_for_htmx_and_a_full_page_otherwise(member_client):
    contact = make_contact("Okafor", first_name="Ada")
    fragment = member_client.get(detail(contact.pk), headers=HX)
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert body.lstrip().startswith('<article id="contact-panel"') and "<html" not in body
    page = member_client.get(detail(contact.pk))
    assert page.status_code == 200 and "<html" in page.content.decode()
    assert 'id="contact-panel"' in page.content.decode()


def test_missing_contact_is_404(member_client):
    assert member_client.get(detail(999999)).status_code == 404
    assert member_client.get(detail(999999), headers=HX).status_code == 404


def test_panel_shows_details_custom_fields_tags_organization_and_owner(member_client, tags, manager_user):
    CustomField.objects.create(name="Check size", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.CURRENCY)
    CustomField.objects.create(name="Met at", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.TEXT)
    atlas = make_org("Atlas Family Office")
    contact = make_contact(
        "Okafor",
        first_name="Ada",
        email="ada@atlas.example",
        organization=atlas,
        owner=manager_user,
        title="CIO",
        custom_fields={"check_size": "2500000.00", "met_at": "SuperReturn"},
    )
    contact.tags.add(tags["Warm intro"])
    body = member_client.get(detail(contact.pk), headers=HX).content.decode()
    assert "ada@atlas.example" in body and "CIO" in body
    assert "Check size" in body and "$2,500,000" in body and "SuperReturn" in body
    assert 'class="tag tag--green">Warm intro<' in body
    assert reverse("organization_detail", args=[atlas.pk]) in body
    assert "Mona Manager" in body


def test_timeline_lists_communications_newest_first_including_ones_attended(member_client):
    contact = make_contact("Okafor")
    other = make_contact("Brooks")
    make_comm(contact, days_ago=10, subject="Old intro")
    make_comm(contact, days_ago=1, subject="Recent call")
    group = make_comm(other, days_ago=5, subject="Group dinner")
    group.contact_attendees.add(contact)
    make_comm(other, days_ago=2, subject="Not about Ada")
    body = member_client.get(detail(contact.pk), headers=HX).content.decode()
    assert body.index("Recent call") < body.index("Group dinner") < body.index("Old intro")
    assert "Not about Ada" not in body


def test_timeline_fragment_reloads_on_its_own(member_client):
    contact = make_contact("Okafor")
    make_comm(contact, subject="Intro call")
    response = member_client.get(reverse("contact_timeline", args=[contact.pk]), headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="contact-timeline"') and "Intro call" in body
    assert 'hx-trigger="communicationsChanged from:body"' in body
    # The facts at the top of the panel (last touch, next action) follow out of band.
    assert f'<dl id="contact-facts-{contact.pk}" class="contact-facts" hx-swap-oob="true">' in body
    # Without htmx, the address leads to the contact's page.
    plain = member_client.get(reverse("contact_timeline", args=[contact.pk]))
    assert plain.status_code == 302 and plain["Location"] == detail(contact.pk)


def test_panel_shows_opportunities_with_stage_and_amount_and_lp_commitments(member_client, fund, other_fund, stage):
    contact = make_contact("Okafor")
    make_opportunity(contact, fund, stage, name="Okafor into Fund II", expected_amount="3000000")
    make_lp(contact, (other_fund, "1500000"), investor_type="family_office")
    body = member_client.get(detail(contact.pk), headers=HX).content.decode()
    assert "Okafor into Fund II" in body and stage.name in body and "$3,000,000" in body
    assert "Family office" in body and "Fund I" in body and "$1,500,000" in body


def test_history_tab_lists_who_changed_what(client, manager_user):
    contact = make_contact("Okafor", first_name="Ada")
    client.force_login(manager_user)
    client.post(
        reverse("contact_edit", args=[contact.pk]),
        {"first_name": "Ada", "last_name": "Okafor-Smith", "contact_type": "prospect", "status": "nurture"},
    )
    body = client.get(detail(contact.pk), headers=HX).content.decode()
    history = body[body.index("panel-tab-panel--history") :]
    assert "Mona Manager" in history
    assert "Last name:" in history and "Okafor</span> → <span" in history and "Okafor-Smith" in history
    assert "Status:" in history and "Active" in history and "Nurture" in history


def test_likely_duplicates_are_offered_for_merging_to_managers_only(client, member_user, manager_user):
    atlas = make_org("Atlas")
    a = make_contact("Okafor", first_name="Ada", organization=atlas)
    b = make_contact("okafor", first_name="ADA", organization=atlas)
    merge_link = f"{reverse('contact_merge')}?a={a.pk}&amp;b={b.pk}"
    client.force_login(manager_user)
    manager_body = client.get(detail(a.pk), headers=HX).content.decode()
    assert "Possible duplicates" in manager_body and merge_link in manager_body
    client.force_login(member_user)
    member_body = client.get(detail(a.pk), headers=HX).content.decode()
    assert "Possible duplicates" in member_body and merge_link not in member_body


def test_delete_button_shows_only_for_roles_allowed_to_delete(client, member_user, manager_user):
    contact = make_contact()
    url = reverse("contact_delete", args=[contact.pk])
    client.force_login(member_user)
    assert url not in client.get(detail(contact.pk)).content.decode()
    client.force_login(manager_user)
    assert url in client.get(detail(contact.pk)).content.decode()


@pytest.mark.urls("contacts.tests.urls_without_communications")
def test_log_a_touch_shows_nothing_while_the_communication_form_does_not_exist(member_client):
    contact = make_contact()
    body = member_client.get(detail(contact.pk), headers=HX).content.decode()
    assert 'id="contact-panel"' in body
    assert "Log a touch" not in body and "contact-log-slot" not in body


def _fake_log(request):
    return HttpResponse("<form>log</form>")


urlpatterns = [*urls_without_communications.urlpatterns, path("log/", _fake_log, name="communication_create")]


@pytest.mark.urls(__name__)
def test_log_a_touch_loads_the_communication_form_into_the_panel_once_it_exists(member_client):
    contact = make_contact()
    body = member_client.get(detail(contact.pk), headers=HX).content.decode()
    assert f'hx-get="/log/?contact={contact.pk}"' in body
    assert f'hx-target="#contact-log-slot-{contact.pk}"' in body and f'id="contact-log-slot-{contact.pk}"' in body


def test_contact_type_investor_is_shown(member_client):
    contact = make_contact("Okafor", contact_type=ContactType.INVESTOR)
    assert "Investor" in member_client.get(detail(contact.pk), headers=HX).content.decode()


def test_hostile_values_are_escaped_in_the_panel(member_client):
    contact = make_contact('<img src=x onerror="alert(1)">', notes="<script>alert(2)</script>")
    body = member_client.get(detail(contact.pk), headers=HX).content.decode()
    assert "<img src=x" not in body and "<script>alert(2)" not in body
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in body
