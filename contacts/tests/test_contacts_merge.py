"""Merging two contacts: every related record survives, fields are picked, history notes it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from conftest import HX
from contacts.models import Communication, Contact, ContactType
from contacts.services import MergeRefused, merge_contacts
from crm.models import CustomField, CustomFieldEntity, CustomFieldType
from crm.testing.factories import comm as make_comm
from crm.testing.factories import contact as make_contact
from crm.testing.factories import lp as make_lp
from crm.testing.factories import opportunity as make_opportunity
from crm.testing.factories import org as make_org
from lps.models import Commitment, LPProfile
from pipeline.models import Opportunity

URL = reverse("contact_merge")


@pytest.fixture
def pair(db, tags, fund, stage, member_user):
    """Two records of one person, each with its own linked records."""
    atlas = make_org("Atlas Family Office")
    keep = make_contact(
        "Okafor",
        first_name="Ada",
        email="ada@atlas.example",
        organization=atlas,
        title="",
        notes="Prefers mornings.",
        custom_fields={"check_size": "1000000.00"},
    )
    dupe = make_contact(
        "Okafor",
        first_name="Adaeze",
        email="adaeze.okafor@gmail.example",
        phone="+1 212 555 0100",
        title="CIO",
        notes="Met at SuperReturn.",
        owner=member_user,
        custom_fields={"check_size": "2000000.00", "met_at": "SuperReturn"},
    )
    keep.tags.add(tags["Warm intro"])
    dupe.tags.add(tags["Warm intro"], tags["Fund I LP"])
    other_person = make_contact("Brooks")
    records = {
        "keep_comm": make_comm(keep, subject="Keep's call"),
        "dupe_comm": make_comm(dupe, subject="Dupe's call"),
        "dupe_comm_2": make_comm(dupe, subject="Dupe's email"),
        "group": make_comm(other_person, subject="Group dinner"),
        "opportunity": make_opportunity(dupe, fund, stage, name="Dupe into Fund II"),
        "lp": make_lp(dupe, (fund, "2500000"), notes="Wires from Chase."),
    }
    records["group"].contact_attendees.add(dupe)
    records["dupe_comm"].contact_attendees.add(keep)  # keep attended dupe's call
    return keep, dupe, records


def test_merge_moves_every_related_record_to_the_survivor(pair, manager_client, manager_user, tags):
    keep, dupe, records = pair
    response = manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a", "pick_email": "a"})
    assert response.status_code == 302 and response["Location"] == reverse("contact_detail", args=[keep.pk])

    assert not Contact.objects.filter(pk=dupe.pk).exists()
    keep.refresh_from_db()
    # Communications as primary contact, all of them, still there.
    assert set(Communication.objects.filter(contact=keep).values_list("subject", flat=True)) == {
        "Keep's call",
        "Dupe's call",
        "Dupe's email",
    }
    # Attendee links: the group dinner now lists the survivor; the survivor no longer
    # "attends" a call it is now the primary contact of.
    assert list(records["group"].contact_attendees.all()) == [keep]
    assert not records["dupe_comm"].contact_attendees.exists()
    # Opportunities, the LP profile and its commitments.
    assert Opportunity.objects.get(pk=records["opportunity"].pk).contact == keep
    lp = LPProfile.objects.get(pk=records["lp"].pk)
    assert lp.contact == keep and lp.commitments.get().commitment_amount == Decimal("2500000")
    assert keep.contact_type == ContactType.INVESTOR  # an LP profile makes the survivor an investor
    # Tags: the union.
    assert set(keep.tags.values_list("name", flat=True)) == {"Warm intro", "Fund I LP"}
    # Custom fields: the survivor's value by default, the other's where only it had one.
    assert keep.custom_fields == {"check_size": "1000000.00", "met_at": "SuperReturn"}
    assert Communication.objects.count() == 4 and Commitment.objects.count() == 1


def test_fields_are_picked_per_field_from_either_record(pair, manager_client, member_user):
    keep, dupe, _ = pair
    CustomField.objects.create(name="Check size", entity=CustomFieldEntity.CONTACT, field_type=CustomFieldType.CURRENCY)
    manager_client.post(
        URL,
        {
            "a": keep.pk,
            "b": dupe.pk,
            "survivor": "a",
            "pick_first_name": "b",
            "pick_email": "b",  # the survivor takes the deleted record's unique email
            "pick_title": "b",
            "pick_owner": "b",
            "pick_notes": "both",
            "cf_check_size": "b",
        },
    )
    keep.refresh_from_db()
    assert keep.first_name == "Adaeze" and keep.email == "adaeze.okafor@gmail.example"
    assert keep.title == "CIO" and keep.owner == member_user
    assert keep.notes == "Prefers mornings.\n\nMet at SuperReturn."
    assert keep.custom_fields["check_size"] == "2000000.00"
    assert keep.phone == "+1 212 555 0100"  # blank on the survivor: taken by default


def test_choosing_the_second_record_as_survivor_keeps_its_id(pair, manager_client):
    keep, dupe, _ = pair
    manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "b", "pick_first_name": "a", "pick_email": "a"})
    assert not Contact.objects.filter(pk=keep.pk).exists()
    dupe.refresh_from_db()
    assert dupe.first_name == "Ada" and dupe.email == "ada@atlas.example"
    assert dupe.communications.count() == 3


def test_the_merge_is_in_the_history_of_both(pair, manager_client, manager_user):
    keep, dupe, _ = pair
    manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a"})
    gone = Contact.history.filter(id=dupe.pk).latest()
    assert gone.history_type == "-" and gone.history_change_reason == f"Merged into #{keep.pk}"
    assert gone.history_user == manager_user
    assert Contact.history.filter(id=dupe.pk).count() >= 2  # its earlier history remains
    survivor_rows = keep.history.filter(history_change_reason=f"Merged from #{dupe.pk}")
    assert survivor_rows.exists() and {r.history_user for r in survivor_rows} == {manager_user}
    panel = manager_client.get(reverse("contact_detail", args=[keep.pk]), headers=HX).content.decode()
    assert f"Merged from #{dupe.pk}" in panel
    moved = Communication.history.filter(history_change_reason=f"Merged from #{dupe.pk}")
    assert moved.count() >= 2 and {r.history_user for r in moved} == {manager_user}


def test_merge_shows_in_history_even_when_no_field_of_the_survivor_changed(manager_client, manager_user):
    keep = make_contact("Okafor", first_name="Ada")
    dupe = make_contact("Okafor", first_name="Ada")
    make_comm(dupe, subject="Only this moves")
    manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a"})
    panel = manager_client.get(reverse("contact_detail", args=[keep.pk]), headers=HX).content.decode()
    assert f"Merged from #{dupe.pk}" in panel


def test_both_lp_profiles_fold_into_the_survivors_keeping_every_commitment(manager_client, fund, other_fund):
    keep, dupe = make_contact("Okafor"), make_contact("Okafor")
    keep_lp = make_lp(keep, (fund, "1000000"), investor_type="individual")
    dupe_lp = make_lp(dupe, (other_fund, "500000"), investor_type="family_office", accredited=True, notes="Old notes")
    manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a"})
    keep_lp.refresh_from_db()
    assert sorted(keep_lp.commitments.values_list("fund__name", flat=True)) == ["Fund I", "Fund II"]
    assert keep_lp.accredited is True
    assert "Family office" in keep_lp.notes and "Old notes" in keep_lp.notes
    assert not LPProfile.objects.filter(pk=dupe_lp.pk).exists()
    assert LPProfile.history.filter(id=dupe_lp.pk, history_type="-").exists()
    assert Commitment.objects.count() == 2


def test_two_commitments_to_the_same_fund_are_refused_and_nothing_changes(manager_client, fund):
    keep, dupe = make_contact("Okafor"), make_contact("Okafor")
    make_lp(keep, (fund, "1000000"))
    make_lp(dupe, (fund, "500000"))
    make_comm(dupe, subject="Stays put")
    form = manager_client.get(URL, {"a": keep.pk, "b": dupe.pk})
    assert "Both contacts have a commitment to Fund II" in form.content.decode()
    assert b"disabled" in form.content

    response = manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a"}, headers=HX)
    assert response.status_code == 200
    assert "give one of them an investing entity" in response.content.decode()
    assert Contact.objects.filter(pk=dupe.pk).exists()
    assert dupe.communications.count() == 1 and Commitment.objects.count() == 2


def test_commitments_to_one_fund_through_different_entities_merge(manager_client, fund):
    keep, dupe = make_contact("Gillespie"), make_contact("Gillespie")
    keep_lp = make_lp(keep, (fund, "250000"))
    make_lp(dupe, (fund, "150000"))
    dupe.lp_profile.commitments.update(investing_entity="Trust / IRA")
    response = manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a"})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=dupe.pk).exists()
    assert sorted(keep_lp.commitments.values_list("investing_entity", "commitment_amount")) == [
        ("", 250000),
        ("Trust / IRA", 150000),
    ]


def test_commitments_through_the_same_entity_are_refused_whatever_its_case(manager_client, fund):
    keep, dupe = make_contact("Gillespie"), make_contact("Gillespie")
    make_lp(keep, (fund, "250000")).commitments.update(investing_entity="Trust / IRA")
    make_lp(dupe, (fund, "150000")).commitments.update(investing_entity="trust / ira")
    form = manager_client.get(URL, {"a": keep.pk, "b": dupe.pk}).content.decode()
    assert "Both contacts have a commitment to Fund II (trust / ira)" in form
    response = manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a"})
    assert response.status_code == 200 and Contact.objects.filter(pk=dupe.pk).exists()
    assert Commitment.objects.count() == 2


def test_service_refuses_merging_a_contact_with_itself(member_user):
    contact = make_contact()
    with pytest.raises(MergeRefused):
        merge_contacts(contact, contact, picks={}, user=member_user)


def test_merge_form_shows_the_two_records_side_by_side(pair, manager_client):
    keep, dupe, _ = pair
    fragment = manager_client.get(URL, {"a": keep.pk, "b": dupe.pk}, headers=HX)
    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="contact-merge"') and "<html" not in body
    assert "ada@atlas.example" in body and "adaeze.okafor@gmail.example" in body
    assert 'name="pick_email"' in body and 'name="pick_notes"' in body and 'value="both"' in body
    assert 'name="pick_last_name"' not in body  # equal on both: nothing to pick
    assert "2 communications" in body and "LP, 1 commitment" in body
    page = manager_client.get(URL, {"a": keep.pk, "b": dupe.pk})
    assert "<html" in page.content.decode()


def test_htmx_merge_answers_with_the_survivors_panel(pair, manager_client):
    keep, dupe, _ = pair
    response = manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a"}, headers=HX)
    assert response.status_code == 200 and 'id="contact-panel"' in response.content.decode()
    assert "contactsChanged" in response["HX-Trigger"]
    assert f"Merged #{dupe.pk} into" in response.content.decode()


def test_member_cannot_merge(pair, member_client):
    keep, dupe, _ = pair
    assert member_client.get(URL, {"a": keep.pk, "b": dupe.pk}).status_code == 403
    assert member_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "a"}).status_code == 403
    assert Contact.objects.filter(pk=dupe.pk).exists()


def test_merge_without_two_contacts_goes_back_to_the_list(manager_client):
    contact = make_contact()
    assert manager_client.get(URL).status_code == 302
    assert manager_client.get(URL, {"a": contact.pk, "b": contact.pk}).status_code == 302
    assert manager_client.get(URL, {"a": contact.pk, "b": 99999}).status_code == 404
    assert manager_client.get(URL, {"a": "x", "b": "<script>"}).status_code == 302


def test_invalid_picks_rerender_the_form(pair, manager_client):
    keep, dupe, _ = pair
    response = manager_client.post(URL, {"a": keep.pk, "b": dupe.pk, "survivor": "c", "pick_email": "z"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"survivor", "pick_email"}
    assert "Select a valid choice" in response.content.decode()
    assert Contact.objects.filter(pk=dupe.pk).exists()
