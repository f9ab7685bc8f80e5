"""Every fact of the sample's expected.json, as tests any import path can reuse.

A test module that has imported the sample provides an ``imported`` fixture holding
``team`` (the users by name) and ``values`` (the value mapping each entity used), then
pulls these tests in with ``use_sample_facts(globals())``. The command and the wizard
both run them, so both import paths are held to the same ground truth.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import Counter
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q

from contacts.models import Communication, CommunicationType, Contact, Organization, phone_digits
from crm.imports.parsers import person_key_from_text
from crm.tests.importing import expected, sample_rows
from lps.models import Commitment, CommitmentStatus, Fund, LPProfile
from pipeline.models import Opportunity, Stage

LA = ZoneInfo("America/Los_Angeles")


def use_sample_facts(namespace: dict) -> None:
    """Add every ``test_*`` of this module to a test module's namespace, so pytest runs them there."""
    namespace.update({name: value for name, value in globals().items() if name.startswith("test_")})


def contact_for(entry: dict) -> Contact:
    if entry.get("email"):
        return Contact.objects.get(email=entry["email"])
    key = person_key_from_text(entry["name"])
    matches = [c for c in Contact.objects.filter(email="") if person_key_from_text(c.full_name) == key]
    assert len(matches) == 1, entry
    return matches[0]


def touchpoints_of(contact: Contact) -> int:
    return Communication.objects.filter(Q(contact=contact) | Q(contact_attendees=contact)).distinct().count()


def dollars(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


# --- History ----------------------------------------------------------------------------------


def test_every_imported_record_has_a_history_row_naming_the_importer(imported):
    importer = imported["team"]["importer"]
    for model in (Organization, Contact, Commitment, LPProfile, Opportunity, Communication):
        pks = set(model.objects.values_list("pk", flat=True))
        named = set(model.history.filter(history_user=importer).values_list("id", flat=True))
        assert pks and pks <= named, model.__name__
        reasons = set(model.history.values_list("history_change_reason", flat=True))
        assert any(reason and reason.startswith("Import #") for reason in reasons)


# --- Firms ------------------------------------------------------------------------------------


def test_firms_are_deduplicated_by_normalized_name(imported):
    firms = expected()["firms"]
    assert Organization.objects.count() == firms["distinct_after_name_normalization"]
    for near in firms["near_duplicate_records"]:
        assert Organization.objects.filter(name=near["same_firm_as"]).count() == 1
    for name in firms["names_with_comma"] + firms["cjk_names"]:
        assert Organization.objects.filter(name=name).exists(), name
    for name in firms["without_people"]:
        assert not Organization.objects.get(name=name).contacts.exists()


def test_firm_categories_map_to_organization_types(imported):
    mapping = imported["values"]["organizations"]["type"]
    wanted = Counter()
    for category, count in expected()["firms"]["by_category"].items():
        wanted[mapping[category]] += count
    assert Counter(Organization.objects.values_list("type", flat=True)) == wanted


# --- People -----------------------------------------------------------------------------------


def test_people_are_deduplicated_by_email_and_every_person_matches_the_index(imported):
    people = expected()["people"]
    assert Contact.objects.count() == people["distinct_after_email_dedupe"]
    relationship = imported["values"]["contacts"]["contact_type"]
    problems = []
    for entry in people["index"]:
        contact = contact_for(entry)
        org = contact.organization.name if contact.organization else None
        wanted_type = relationship[entry["relationship"]]  # as exported, LP profile or not
        got = (contact.full_name, org, contact.contact_type, touchpoints_of(contact))
        want = (entry["name"], entry["company"], wanted_type, entry["touchpoints"])
        if got != want:
            problems.append(f"{entry['email']}: {got} != {want}")
        if entry.get("phone_e164"):
            digits = phone_digits(contact.mobile)
            if not (digits and phone_digits(entry["phone_e164"]).endswith(digits.lstrip("0"))):
                problems.append(f"{entry['email']}: mobile {contact.mobile!r} is not {entry['phone_e164']}")
    assert not problems, "\n".join(problems[:20])


def test_relationships_count_exactly_as_exported(imported):
    """The Relationship column is explicit: a prospect who soft-circled (or withdrew) gets an LP
    profile for the commitment and stays a prospect."""
    people = expected()["people"]
    relationship = imported["values"]["contacts"]["contact_type"]
    wanted = Counter()
    for label, count in people["by_relationship_after_dedupe"].items():
        wanted[relationship[label]] += count
    assert Counter(Contact.objects.values_list("contact_type", flat=True)) == wanted
    assert wanted[relationship["Prospective LP"]] == people["by_relationship_after_dedupe"]["Prospective LP"]
    prospects_with_profiles = Contact.objects.filter(
        contact_type=relationship["Prospective LP"], lp_profile__isnull=False
    )
    soft = prospects_with_profiles.filter(lp_profile__commitments__status=CommitmentStatus.SOFT_CIRCLE).distinct()
    assert soft.count() == expected()["commitments"]["soft_circled_by_people_still_prospective"]
    withdrew = prospects_with_profiles.filter(lp_profile__commitments__status=CommitmentStatus.WITHDRAWN)
    assert withdrew.count() == 1
    assert prospects_with_profiles.count() == soft.count() + withdrew.count()


def test_duplicate_people_are_one_person_with_both_records_touchpoints(imported):
    index = {entry["email"]: entry for entry in expected()["people"]["index"] if entry.get("email")}
    for group in expected()["people"]["duplicate_groups"]:
        contact = Contact.objects.get(email=group["email"])
        assert contact.full_name == group["canonical_name"]
        assert touchpoints_of(contact) == index[group["email"]]["touchpoints"]


def test_same_named_people_are_told_apart_by_email(imported):
    for person in expected()["people"]["same_name_different_people"]:
        contact = Contact.objects.get(email=person["email"])
        assert contact.full_name == person["name"]
        assert (contact.organization.name if contact.organization else None) == person["company"]


def test_links_to_near_duplicate_firm_records_resolve_to_the_firm(imported):
    for person in expected()["people"]["linked_to_near_duplicate_firm_record"]:
        contact = Contact.objects.get(first_name=person["name"].split()[0], last_name=person["name"].split()[-1])
        assert contact.organization.name == person["canonical_company"]


def test_emails_are_stored_trimmed_and_lower_case_and_companies_are_never_guessed(imported):
    people = expected()["people"]
    emails = list(Contact.objects.exclude(email="").values_list("email", flat=True))
    assert all(email == email.strip().lower() for email in emails)
    assert Contact.objects.filter(email="").count() == people["records_without_email"]
    assert Contact.objects.filter(organization=None).count() == people["without_company_after_dedupe"]


def test_point_people_are_owners_and_the_one_who_left_is_left_empty(imported):
    team = imported["team"]
    for person in sample_rows("People"):
        if not person["E-mail"].strip():
            continue
        contact = Contact.objects.get(email=person["E-mail"].strip().lower())
        if person["Point Person"] == "Dana Pruitt":
            assert contact.owner is None or contact.owner.full_name != "Dana Pruitt"
        elif person["Point Person"]:
            assert contact.owner == team[person["Point Person"]]
    assert not Contact.objects.filter(owner__full_name="Dana Pruitt").exists()


# --- Commitments ------------------------------------------------------------------------------


def _rows_of(email: str, fund: str) -> list[dict]:
    return [
        r
        for r in sample_rows("Commitments")
        if r["E-mail (from Investor)"].strip().lower() == email and r["Vehicle"] == fund
    ]


def test_commitment_totals_per_fund_and_status_match_to_the_cent(imported):
    """Committed = signed + closed (hard circle too, the sample has none); soft circles apart;
    withdrawn keeps its amount and counts toward nothing."""
    statuses = imported["values"]["commitments"]["status"]
    for fund_name, facts in expected()["commitments"]["per_fund"].items():
        fund = Fund.objects.get(name=fund_name)
        for label, wanted in facts["by_status"].items():
            rows = Commitment.objects.filter(fund=fund, status=statuses[label])
            committed = sum(rows.values_list("commitment_amount", flat=True), Decimal("0"))
            funded = sum(rows.values_list("funded_amount", flat=True), Decimal("0"))
            assert rows.count() == wanted["count"], (fund_name, label)
            assert committed * 100 == wanted["committed_cents"], (fund_name, label)
            assert funded * 100 == wanted["paid_in_cents"], (fund_name, label)
        every = Commitment.objects.filter(fund=fund)
        assert every.count() == facts["all_rows"]["count"]
        assert sum(every.values_list("commitment_amount", flat=True)) * 100 == facts["all_rows"]["committed_cents"]
        totals = every.totals()
        assert totals["committed"] * 100 == facts["binding_signed_plus_closed"]["committed_cents"]
        assert totals["funded"] * 100 == facts["binding_signed_plus_closed"]["paid_in_cents"]
        soft = facts["by_status"].get("Soft-circled", {}).get("committed_cents", 0)
        withdrawn = facts["by_status"].get("Withdrawn", {}).get("committed_cents", 0)
        assert (totals["soft_circled"] * 100, totals["withdrawn"] * 100) == (soft, withdrawn)
        assert every.committed().count() == facts["binding_signed_plus_closed"]["count"]
    binding = Commitment.objects.totals()["committed"]
    assert binding == dollars(expected()["commitments"]["binding_total_both_funds"])


def test_every_commitment_row_is_a_commitment(imported):
    facts = expected()["commitments"]
    assert Commitment.objects.count() == facts["records_exported"]
    assert LPProfile.objects.count() == facts["distinct_investors_after_dedupe"]
    both = [lp for lp in LPProfile.objects.all() if len(set(lp.commitments.values_list("fund", flat=True))) == 2]
    assert len(both) == facts["investors_in_both_funds"]
    dup = facts["rows_linked_to_a_duplicate_person_record"][0]
    assert Commitment.objects.filter(lp__contact__email=dup["canonical_email"], fund__name=dup["vehicle"]).exists()
    assert not Commitment.objects.filter(notes__contains="Combines").exists()  # nothing was added together


def test_two_rows_of_one_investor_in_one_fund_are_two_commitments_of_one_person(imported):
    """The rule: an investor's only row for a fund has no investing entity; several rows for
    one fund are told apart by their investor category, which becomes the investing entity."""
    twice = expected()["commitments"]["investor_with_two_rows_in_one_fund"]
    person = Contact.objects.get(email=twice["email"])
    assert Contact.objects.filter(first_name=person.first_name, last_name=person.last_name).count() == 1
    commitments = Commitment.objects.filter(lp__contact=person, fund__name=twice["fund"])
    got = {c.investing_entity: c.commitment_amount for c in commitments}
    rows = _rows_of(twice["email"], twice["fund"])
    assert got == {r["Investor Category"]: dollars(r["Amount Committed"]) for r in rows}
    assert sorted(got) == sorted(twice["categories"])
    # Everyone else has one row per fund, so one commitment per fund without an entity.
    assert set(Commitment.objects.exclude(investing_entity="").values_list("pk", flat=True)) == {
        c.pk for c in commitments
    }


def test_the_withdrawn_row_keeps_its_amount_and_counts_toward_nothing(imported):
    row = next(r for r in sample_rows("Commitments") if r["Commitment Status"] == "Withdrawn")
    commitment = Commitment.objects.get(lp__contact__email=row["E-mail (from Investor)"].strip().lower())
    assert commitment.status == CommitmentStatus.WITHDRAWN
    assert commitment.commitment_amount == dollars(row["Amount Committed"])
    assert commitment.fund.name == row["Vehicle"]
    assert row["Comments"] in commitment.notes
    for queryset in (Commitment.objects.committed(), Commitment.objects.soft_circled()):
        assert not queryset.filter(pk=commitment.pk).exists()
    fund = Commitment.objects.filter(fund=commitment.fund)
    with_it, without_it = fund.totals(), fund.exclude(pk=commitment.pk).totals()
    for key in ("committed", "soft_circled", "funded"):
        assert with_it[key] == without_it[key], key


def test_checkboxes_and_blank_paid_in(imported):
    facts = expected()["commitments"]
    flags = {"Subscription Docs": "legal_docs_signed", "Wire In": "wire_received"}
    for column, attribute in flags.items():
        assert Commitment.objects.filter(**{attribute: True}).count() == facts["checkbox_counts"][column]
    # The K-1 tick is the latest tax year's delivery, sent (lps 0012).
    assert Commitment.objects.for_tracker().filter(k1_sent=True).count() == facts["checkbox_counts"]["K1 Delivered"]
    # Qualified purchaser is kept once per LP (on the LP profile), ticked by any of their rows.
    rows = sample_rows("Commitments")
    assert (
        sum(1 for r in rows if r["Qualified Purchaser"] == "checked") == facts["checkbox_counts"]["Qualified Purchaser"]
    )
    ticked = {r["E-mail (from Investor)"].strip().lower() for r in rows if r["Qualified Purchaser"] == "checked"}
    assert set(LPProfile.objects.filter(qualified_purchaser=True).values_list("contact__email", flat=True)) == ticked
    assert Commitment.objects.filter(funded_amount=0).count() == facts["amount_paid_in_blank"]
    unwired = Commitment.objects.filter(fund__name="Fund I", wire_received=False).count()
    assert unwired == facts["fund_I_wire_in_unchecked"]
    assert Commitment.objects.filter(notes__contains="(files not copied)").count() == facts["with_executed_documents"]


def test_investor_types_come_from_each_investors_first_row(imported):
    types = imported["values"]["commitments"]["investor_type"]
    first: dict[str, str] = {}
    for row in sample_rows("Commitments"):
        email = row["E-mail (from Investor)"].strip().lower()
        if email:
            first.setdefault(email, row["Investor Category"])
    assert len(first) == expected()["commitments"]["distinct_investors_after_dedupe"]
    for email, category in first.items():
        assert LPProfile.objects.get(contact__email=email).investor_type == types[category], email


# --- Pipeline ---------------------------------------------------------------------------------


def test_every_deal_is_imported_with_its_stage_mapped(imported):
    pipeline = expected()["pipeline"]
    stages = imported["values"]["opportunities"]["stage"]
    wanted = Counter()
    for label, count in pipeline["stage_counts_as_exported"].items():
        choice = stages[label]
        wanted[choice["create"] if isinstance(choice, dict) else choice] += count
    got = Counter(Opportunity.objects.values_list("stage__name", flat=True))
    assert got == wanted
    assert sum(got.values()) == pipeline["records_exported"]
    for label, stage in pipeline["suggested_crm_stage_mapping"].items():
        if stage:  # our suggestions agree with the sample's wherever it has one
            assert Stage.objects.get(name=stages[label]).name.casefold().replace(" ", "_") == stage
    created = [choice["create"] for choice in stages.values() if isinstance(choice, dict) and "create" in choice]
    assert [Stage.objects.get(name=name).outcome for name in created] == ["open"] * len(created)


def test_target_checks_and_expected_close_dates(imported):
    pipeline = expected()["pipeline"]
    target = pipeline["target_check"]
    amounts = Opportunity.objects.filter(expected_amount__gt=0)
    assert amounts.count() == target["parseable"]
    assert sum(amounts.values_list("expected_amount", flat=True)) == target["sum_parseable_value"]
    kept = Opportunity.objects.filter(description__contains="Target Check (as typed)").count()
    blank = sum(1 for row in sample_rows("Fundraising") if row["Deal Name"] and not row["Target Check"].strip())
    assert kept == target["not_parseable"] - blank  # blanks are simply empty
    close = pipeline["expected_close"]
    dated = Opportunity.objects.exclude(expected_close_date=None).count()
    assert dated == close["M/D/YYYY"] + close["YYYY-MM-DD"] + close["Mon D, YYYY"]
    quarters = Opportunity.objects.filter(description__contains="Expected Close (as typed): Q")
    assert quarters.count() == close["quarter (not a date)"]
    # The likelihood is imported as typed: the sheet's own weighting comes back. (The forecast's
    # totals() weighs won deals at 100% and lost at 0%, whatever was typed.)
    typed = sum(o.expected_amount * (o.probability or 0) for o in Opportunity.objects.all()) / 100
    assert typed.quantize(Decimal("0.01")) == dollars(pipeline["weighted_target_by_likelihood"])
    assert {o.fund.name for o in Opportunity.objects.select_related("fund")} == {"Fund II"}


# --- Touchpoints ------------------------------------------------------------------------------


def test_touchpoints_become_communications_per_channel(imported):
    touch = expected()["touchpoints"]
    assert Communication.objects.count() == touch["records_exported"]
    channels = imported["values"]["communications"]["type"]
    wanted = Counter()
    for label, count in touch["by_channel"].items():
        wanted[channels[label]] += count
    assert Counter(Communication.objects.values_list("type", flat=True)) == wanted
    assert set(wanted) <= set(CommunicationType.values)


def test_touchpoint_links_files_follow_ups_and_team(imported):
    touch = expected()["touchpoints"]
    with_others = Communication.objects.exclude(contact_attendees=None).distinct().count()
    assert with_others == touch["with_more_than_one_person"]
    assert Communication.objects.exclude(opportunity=None).count() == touch["linked_to_a_deal"]
    assert Communication.objects.exclude(attachment_names="").count() == touch["with_files"]
    assert Communication.objects.open_actions().count() == touch["needs_follow_up"]
    for name, count in touch["team_member_counts"].items():
        user = imported["team"].get(name)
        got = Communication.objects.filter(team_attendees=user).count() if user else 0
        assert got == (count if user else 0), name
    for label, count in touch["initiated_by"].items():
        if label != "(blank)":
            assert Communication.objects.filter(body__contains=f"Initiated By: {label}").count() == count


def test_touchpoint_dates_are_read_in_the_chosen_time_zone(imported):
    touch = expected()["touchpoints"]
    dates = Communication.objects.order_by("communication_date").values_list("communication_date", flat=True)
    first, last = dates.first().astimezone(LA), dates.last().astimezone(LA)
    assert [first.replace(tzinfo=None).isoformat(), last.replace(tzinfo=None).isoformat()] == touch["when_range_local"]


# --- Spot checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(4))
def test_person_spot_checks(imported, index):
    check = expected()["spot_checks"][index]
    person = check["person"]
    contact = Contact.objects.get(email=person["email_normalized"])
    assert contact.full_name == person["name"]
    assert (contact.organization.name if contact.organization else None) == person["company"]
    assert contact.title == person["job_title"]
    assert contact.mobile == person["mobile_as_exported"]
    assert contact.location == person["based_in"]
    assert sorted(contact.tags.values_list("name", flat=True)) == sorted(person["labels"])
    assert contact.owner.full_name == person["point_person"]
    assert touchpoints_of(contact) == person["touchpoints_after_merge"]
    last = Communication.objects.filter(Q(contact=contact) | Q(contact_attendees=contact)).order_by(
        "-communication_date"
    )
    assert last.first().communication_date.astimezone(LA).date().isoformat() == person["last_touch_after_merge"]
    statuses = imported["values"]["commitments"]["status"]
    for wanted in check["commitments"]:
        commitment = Commitment.objects.for_tracker().get(lp__contact=contact, fund__name=wanted["vehicle"])
        assert commitment.status == statuses[wanted["status"]]
        assert commitment.investing_entity == ""  # their only row for the fund
        assert commitment.commitment_amount == dollars(wanted["amount_committed"])
        assert commitment.funded_amount == (dollars(wanted["amount_paid_in"]) if wanted["amount_paid_in"] else 0)
        assert (str(commitment.signed_date) if commitment.signed_date else None) == wanted["signed_on"]
        assert commitment.legal_docs_signed == wanted["subscription_docs"]
        assert commitment.wire_received == wanted["wire_in"]
        assert commitment.k1_sent == wanted["k1_delivered"]
        assert commitment.lp.qualified_purchaser == wanted["qualified_purchaser"]
        for name in wanted["executed_documents"]:
            assert name in commitment.notes
        assert "airtableusercontent" not in commitment.notes
    deal = check["deal"]
    opportunity = Opportunity.objects.get(name=deal["deal_name"])
    assert opportunity.contact == contact
    assert opportunity.expected_amount == deal["target_check_value"]
    assert opportunity.probability == deal["likelihood_pct"]
    assert str(opportunity.expected_close_date) == deal["expected_close"]
    assert opportunity.owner.full_name == deal["deal_owner"]
    assert opportunity.source == deal["lead_source"]


def test_firm_spot_check(imported):
    firm = expected()["spot_checks"][3]["firm"]
    org = Organization.objects.get(name=firm["name"])
    assert org.website == firm["url"]
    assert org.country == firm["country"]
    assert org.type == imported["values"]["organizations"]["type"][firm["category"]]


def test_long_touchpoint_spot_check(imported):
    spot = expected()["spot_checks"][4]["touchpoint"]
    comm = Communication.objects.get(subject=spot["summary"])
    local = comm.communication_date.astimezone(LA).replace(tzinfo=None)
    assert local == datetime.datetime.fromisoformat(spot["when_local"])
    people = [comm.contact, *comm.contact_attendees.all()]
    assert sorted(p.email for p in people) == sorted(spot["people_emails"])
    assert sorted(p.organization.name for p in people) == sorted(spot["companies"])
    details = comm.body[: spot["details_chars"]]
    assert hashlib.sha256(details.encode("utf-8")).hexdigest() == spot["details_sha256"]
    assert details.splitlines()[0] == spot["details_first_line"]
    assert details.splitlines()[-1] == spot["details_last_line"]
    assert comm.attachment_names.splitlines() == spot["files"]
    assert [u.full_name for u in comm.team_attendees.all()] == [spot["team_member"]]
    assert comm.next_action == "Follow up"
    assert comm.opportunity is None
