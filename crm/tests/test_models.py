"""Model rules the database and the models enforce, whatever screen or import writes the data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from contacts.models import Contact, ContactType, Organization, Tag
from crm.models import Role, User
from crm.testing import factories
from lps.models import Commitment, CommitmentStatus, Fund, LPProfile
from pipeline.models import Opportunity, Stage, StageOutcome

pytestmark = pytest.mark.django_db


@pytest.fixture
def fund() -> Fund:
    return factories.fund("Fund III", vintage_year=2025, target_size=Decimal("150000000.00"))


@pytest.fixture
def contact() -> Contact:
    return factories.contact("Okafor", first_name="Ada", email="ada@atlas.example")


@pytest.fixture
def stages() -> dict[str, Stage]:
    return {
        # Names of our own: a migration seeds the standard stages ("Lead" … "Passed").
        "intro": Stage.objects.create(name="Test intro", order=1, default_probability=10),
        "diligence": Stage.objects.create(name="Test diligence", order=2, default_probability=40),
        "passed": Stage.objects.create(name="Test passed", order=9, default_probability=0, outcome=StageOutcome.LOST),
    }


def make_lp(last_name: str) -> LPProfile:
    return factories.lp(factories.contact(last_name, first_name=""))


# --- Uniqueness -------------------------------------------------------------------------


def test_organization_name_is_stored_with_spaces_collapsed():
    organization = Organization.objects.create(name="  Atlas   Family Office ")
    organization.refresh_from_db()
    assert organization.name == "Atlas Family Office"


def test_organization_names_are_unique_ignoring_case_and_spaces():
    Organization.objects.create(name=" Atlas  Family Office ")
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(name="atlas family office")
    assert Organization.objects.count() == 1


def test_contact_email_is_stored_trimmed_and_lower_case():
    contact = Contact.objects.create(last_name="Okafor", email="  Ada.Okafor@Atlas.Example ")
    contact.refresh_from_db()
    assert contact.email == "ada.okafor@atlas.example"


def test_contact_emails_are_unique_ignoring_case(contact):
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(last_name="Other", email="ADA@atlas.example")


def test_two_contacts_may_both_have_no_email():
    Contact.objects.create(last_name="Lee", email="")
    Contact.objects.create(last_name="Kim", email="")
    assert Contact.objects.filter(email="").count() == 2


def test_tag_names_are_unique_ignoring_case():
    Tag.objects.create(name="Warm intro")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tag.objects.create(name="WARM INTRO")


def test_commitment_is_unique_per_lp_and_fund(fund):
    lp = make_lp("Okafor")
    Commitment.objects.create(lp=lp, fund=fund, commitment_amount=Decimal("1000000"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Commitment.objects.create(lp=lp, fund=fund, commitment_amount=Decimal("2000000"))
    other_fund = Fund.objects.create(name="Fund IV")
    Commitment.objects.create(lp=lp, fund=other_fund, commitment_amount=Decimal("2000000"))
    assert lp.commitments.count() == 2


# --- Money ------------------------------------------------------------------------------


def test_money_fields_come_back_as_exact_decimals_with_cents(fund, contact, stages):
    lp = LPProfile.objects.create(contact=contact)
    commitment = Commitment.objects.create(
        lp=lp, fund=fund, commitment_amount=Decimal("1234567.89"), funded_amount=Decimal("0.10")
    )
    opportunity = Opportunity.objects.create(
        name="Atlas", contact=contact, fund=fund, stage=stages["intro"], expected_amount=Decimal("9999999999999.99")
    )
    commitment.refresh_from_db()
    fund.refresh_from_db()
    opportunity.refresh_from_db()
    for value, expected in (
        (commitment.commitment_amount, Decimal("1234567.89")),
        (commitment.funded_amount, Decimal("0.10")),
        (fund.target_size, Decimal("150000000.00")),
        (opportunity.expected_amount, Decimal("9999999999999.99")),
    ):
        assert type(value) is Decimal
        assert value == expected


def test_summed_cents_stay_exact(fund):
    # 0.1 + 0.2 is 0.30000000000000004 in floating point.
    Commitment.objects.create(lp=make_lp("A"), fund=fund, status="signed", commitment_amount=Decimal("0.10"))
    Commitment.objects.create(lp=make_lp("B"), fund=fund, status="signed", commitment_amount=Decimal("0.20"))
    committed = Commitment.objects.totals()["committed"]
    assert type(committed) is Decimal
    assert committed == Decimal("0.30")


# --- LP profiles and commitments --------------------------------------------------------


def test_creating_an_lp_profile_makes_the_contact_an_investor(contact):
    assert contact.contact_type == ContactType.PROSPECT
    LPProfile.objects.create(contact=contact)
    contact.refresh_from_db()
    assert contact.contact_type == ContactType.INVESTOR


def test_creating_an_lp_profile_records_the_change_in_the_contacts_history(contact, manager_user):
    profile = LPProfile(contact=contact)
    profile._history_user = manager_user
    profile.save()
    latest = contact.history.order_by("-history_id").first()
    assert contact.history.count() == 2
    assert latest.contact_type == ContactType.INVESTOR
    assert latest.history_type == "~"
    assert latest.history_user == manager_user


def test_soft_circles_are_never_counted_as_committed(fund):
    rows = [  # status, committed, funded
        (CommitmentStatus.SOFT_CIRCLE, "5000000.00", "2500000.00"),
        (CommitmentStatus.HARD_CIRCLE, "1000000.00", "0.00"),
        (CommitmentStatus.SIGNED, "2000000.50", "1000000.25"),
        (CommitmentStatus.CLOSED, "3000000.25", "3000000.25"),
    ]
    for index, (status, amount, funded) in enumerate(rows):
        Commitment.objects.create(
            lp=make_lp(f"LP{index}"),
            fund=fund,
            status=status,
            commitment_amount=Decimal(amount),
            funded_amount=Decimal(funded),
        )
    totals = Commitment.objects.totals()
    assert totals["committed"] == Decimal("6000000.75")
    assert totals["soft_circled"] == Decimal("5000000.00")
    # Money wired against a soft circle is not counted as funded either.
    assert totals["funded"] == Decimal("4000000.50")
    assert Commitment.objects.committed().count() == 3


def test_commitment_totals_are_zero_not_none_without_commitments():
    assert Commitment.objects.totals() == {
        "committed": Decimal("0"),
        "soft_circled": Decimal("0"),
        "funded": Decimal("0"),
        "withdrawn": Decimal("0"),
    }


# --- Opportunities ----------------------------------------------------------------------


def test_opportunity_probability_defaults_from_its_stage(fund, contact, stages):
    opportunity = Opportunity.objects.create(name="Atlas", contact=contact, fund=fund, stage=stages["diligence"])
    assert opportunity.probability == 40


def test_opportunity_keeps_a_probability_set_by_hand(fund, contact, stages):
    opportunity = Opportunity.objects.create(
        name="Atlas", contact=contact, fund=fund, stage=stages["diligence"], probability=75
    )
    opportunity.refresh_from_db()
    assert opportunity.probability == 75


def test_stage_changed_at_moves_only_when_the_stage_changes(fund, contact, stages):
    opportunity = Opportunity.objects.create(name="Atlas", contact=contact, fund=fund, stage=stages["intro"])
    first = opportunity.stage_changed_at

    opportunity.next_step = "Send the deck"
    opportunity.save()
    opportunity.refresh_from_db()
    assert opportunity.stage_changed_at == first

    opportunity.stage = stages["diligence"]
    opportunity.save()
    opportunity.refresh_from_db()
    assert opportunity.stage_changed_at > first


def test_pipeline_weighted_amount_is_expected_times_probability(fund, contact, stages):
    Opportunity.objects.create(
        name="A", contact=contact, fund=fund, stage=stages["intro"], expected_amount=Decimal("1000000.00")
    )  # 10 %
    Opportunity.objects.create(
        name="B", contact=contact, fund=fund, stage=stages["diligence"], expected_amount=Decimal("2500000.50")
    )  # 40 %
    Opportunity.objects.create(
        name="C", contact=contact, fund=fund, stage=stages["passed"], expected_amount=Decimal("9000000.00")
    )
    totals = Opportunity.objects.active().totals()
    assert totals == {"count": 2, "expected": Decimal("3500000.50"), "weighted": Decimal("1100000.20")}
    assert type(totals["weighted"]) is Decimal
    by_name = {o.name: o.weighted_amount for o in Opportunity.objects.all()}
    assert by_name["B"] == Decimal("1000000.20")


# --- Users and roles --------------------------------------------------------------------


@pytest.mark.parametrize(("role", "staff"), [(Role.ADMIN, True), (Role.MANAGER, False), (Role.MEMBER, False)])
def test_role_decides_admin_site_access(role, staff):
    user = User.objects.create_user("sam", "sam@fund.example", "pw-irrelevant", role=role)
    user.refresh_from_db()
    assert user.is_staff is staff
    assert user.is_superuser is staff


def test_demoting_an_admin_takes_away_admin_site_access(admin_user):
    admin_user.role = Role.MEMBER
    admin_user.save()
    admin_user.refresh_from_db()
    assert not admin_user.is_staff
    assert not admin_user.is_superuser


def test_createsuperuser_makes_an_admin():
    user = User.objects.create_superuser("root", "root@fund.example", "pw-irrelevant")
    assert user.role == Role.ADMIN
    assert user.is_staff and user.is_superuser


def test_user_email_is_stored_lower_case_and_unique_ignoring_case(admin_user):
    assert admin_user.email == "alice@fund.example"
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("alice2", " ALICE@fund.example ", "pw-irrelevant")


def test_roles_rank_admin_over_manager_over_member(admin_user, manager_user, member_user):
    ranks = {
        user.role: [user.has_role(role) for role in (Role.MEMBER, Role.MANAGER, Role.ADMIN)]
        for user in (admin_user, manager_user, member_user)
    }
    assert ranks == {
        Role.ADMIN: [True, True, True],
        Role.MANAGER: [True, True, False],
        Role.MEMBER: [True, False, False],
    }


def test_inactive_user_has_no_role(admin_user):
    admin_user.is_active = False
    assert not admin_user.has_role(Role.MEMBER)


# --- History ----------------------------------------------------------------------------


def test_saving_through_the_admin_records_the_acting_user_in_history(admin_client, admin_user):
    organization = Organization.objects.create(name="Atlas Family Office")
    response = admin_client.post(
        f"/admin/contacts/organization/{organization.pk}/change/",
        {"name": "Atlas Family Office LLC", "type": "family_office", "custom_fields": "{}", "_save": "Save"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    organization.refresh_from_db()
    assert organization.name == "Atlas Family Office LLC"
    latest = organization.history.first()
    assert latest.name == "Atlas Family Office LLC"
    assert latest.history_user == admin_user


def test_setting_history_user_in_code_records_that_user(manager_user):
    organization = Organization.objects.create(name="Atlas Family Office")
    organization.city = "Boston"
    organization._history_user = manager_user
    organization.save()
    latest = organization.history.first()
    assert latest.city == "Boston"
    assert latest.history_user == manager_user
    assert organization.history.last().history_user is None
