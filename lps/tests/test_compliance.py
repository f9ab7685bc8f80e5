"""LP compliance checks: who may change them, the LP's page, expiry in next actions, the flags' migration."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from crm.permissions import acting_as
from crm.testing.factories import commitment, contact, fund, lp, org
from crm.testing.migrations import migrate_back_to, migrate_forward
from lps import side_letters
from lps.models import ComplianceCheck, ComplianceKind, ComplianceStatus, LPProfile, ProvisionCategory, SideLetter

VERIFIED = ComplianceStatus.VERIFIED


def text(response) -> str:
    return response.content.decode()


def check(profile, kind=ComplianceKind.KYC_AML, status=VERIFIED, **dates) -> ComplianceCheck:
    return ComplianceCheck.objects.create(lp=profile, kind=kind, status=status, **dates)


def _form(**changes) -> dict:
    data = {f"{kind}-status": "not_started" for kind in ComplianceKind.values}
    data.update(changes)
    return data


def test_compliance_needs_change_compliance_a_member_reads_it(member_user, manager_user, member_client, ada):
    with acting_as(member_user), pytest.raises(PermissionDenied, match="compliance"):
        check(ada)
    assert not ComplianceCheck.objects.exists()
    with acting_as(manager_user):
        check(ada, verified_on=datetime.date(2026, 1, 5))
    page = text(member_client.get(reverse("lp_detail", args=[ada.pk])))
    assert 'data-compliance="kyc_aml">KYC / AML: verified</span>' in page
    assert reverse("compliance_edit", args=[ada.pk]) not in page
    assert member_client.get(reverse("compliance_edit", args=[ada.pk])).status_code == 403


def test_a_manager_edits_the_three_checks_from_the_lps_page_with_history(manager_client, manager_user, ada):
    url = reverse("compliance_edit", args=[ada.pk])
    form = text(manager_client.get(url, headers=HX))
    assert form.lstrip().startswith('<div id="compliance-form"') and 'name="kyc_aml-status"' in form
    data = _form(**{"kyc_aml-status": "verified", "kyc_aml-verified_on": "2026-01-05",
                    "kyc_aml-expires_on": "2027-01-05", "accreditation-status": "pending"})  # fmt: skip
    assert manager_client.post(url, data).status_code == 302
    checks = {c.kind: c for c in ComplianceCheck.objects.filter(lp=ada)}
    assert set(checks) == {"kyc_aml", "accreditation"}, "a check left not started writes no row"
    assert checks["kyc_aml"].expires_on == datetime.date(2027, 1, 5)
    assert checks["kyc_aml"].history.get().history_user == manager_user
    bad = _form(
        **{"kyc_aml-status": "verified", "kyc_aml-verified_on": "2026-01-05", "kyc_aml-expires_on": "2025-01-01"}
    )
    response = manager_client.post(url, bad)
    assert response.status_code == 200 and "The expiry cannot be before the verification." in text(response)


def test_a_verification_past_its_expiry_shows_expired(member_client, ada):
    today = timezone.localdate()
    check(ada, ComplianceKind.ACCREDITATION, verified_on=today.replace(year=today.year - 2),
          expires_on=today - datetime.timedelta(days=1))  # fmt: skip
    page = text(member_client.get(reverse("lp_detail", args=[ada.pk])))
    assert 'data-compliance="accreditation">Accredited investor: expired</span>' in page


def test_the_flags_and_the_checks_follow_each_other(manager_client, manager_user, fund_two):
    profile = lp(accredited=False)
    item = commitment(profile, fund_two)
    manager_client.post(reverse("commitment_toggle", args=[item.pk]), {"field": "accredited"}, headers=HX)
    accreditation = ComplianceCheck.objects.get(lp=profile, kind=ComplianceKind.ACCREDITATION)
    assert accreditation.status == VERIFIED and accreditation.history.get().history_user == manager_user
    with acting_as(manager_user):
        accreditation.status = ComplianceStatus.EXPIRED
        accreditation.save()
    assert LPProfile.objects.get(pk=profile.pk).accredited is False


def test_the_tracker_finds_accreditations_expired_or_never_verified(member_client, fund_two):
    today = timezone.localdate()
    current, lapsed, never = (lp(contact(name)) for name in ("Current", "Lapsed", "Never"))
    check(current, ComplianceKind.ACCREDITATION, expires_on=today)
    check(lapsed, ComplianceKind.ACCREDITATION, expires_on=today - datetime.timedelta(days=1))
    for profile in (current, lapsed, never):
        commitment(profile, fund_two)
    html = text(member_client.get(reverse("lp_list"), {"missing": "compliance"}, headers=HX))
    assert "Lapsed" in html and "Never" in html and "Current" not in html


def test_checks_expiring_within_30_days_and_expired_ones_are_next_actions(member_client, ada, fund_two):
    today = timezone.localdate()
    check(ada, ComplianceKind.KYC_AML, expires_on=today + datetime.timedelta(days=30))
    later = lp(contact("Later"))
    check(later, ComplianceKind.KYC_AML, expires_on=today + datetime.timedelta(days=31))
    lapsed = lp(contact("Lapsed"))
    check(lapsed, ComplianceKind.ACCREDITATION, expires_on=today - datetime.timedelta(days=3))
    check(lp(contact("Marked")), ComplianceKind.QUALIFIED_PURCHASER, status=ComplianceStatus.EXPIRED)
    # An MFN round due in a week, for both kinds of item on one page.
    c = commitment(lp(contact("Okafor", first_name="Ada")), fund_two)
    side_letter = SideLetter.objects.create(commitment=c)
    side_letter.provisions.create(category=ProvisionCategory.MFN, text="MFN.")
    side_letters.create_round(fund_two, None, sent_date=today, deadline=today + datetime.timedelta(days=7))
    html = text(member_client.get(reverse("actions")))
    start = html.index('data-source="compliance"')
    section = html[start : html.index("</section>", start)]
    assert "Renew KYC / AML: Ada Gillespie" in section
    assert "Renew Accredited investor" in section and "Lapsed" in section and "Marked" in section
    assert "Later" not in section
    assert '<span class="count count--alert">3</span>' in section
    assert "MFN election from Ada Okafor" in html and "7 days left" in html


def test_next_actions_queries_stay_fixed_with_many_mfn_and_compliance_items(member_client, fund_two):
    today = timezone.localdate()
    mfn_round = side_letters.create_round(fund_two, None, sent_date=today, deadline=today + datetime.timedelta(days=3))

    def measure(n: int) -> tuple[int, int]:
        for _ in range(n):
            profile = lp(contact(organization=org()))
            check(profile, expires_on=today + datetime.timedelta(days=5))
            c = commitment(profile, fund_two)
            SideLetter.objects.create(commitment=c).provisions.create(category=ProvisionCategory.MFN, text="MFN.")
            side_letters.join_open_rounds(c, None, today=today)
        with CaptureQueriesContext(connection) as ctx:
            response = member_client.get(reverse("actions"))
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.count(b'class="action-item')

    small, large = measure(3), measure(30)
    assert small[0] == large[0]
    assert large[1] == 20, "ten a group, however many are due"
    assert mfn_round.elections.count() == 33


def test_the_lp_page_with_compliance_runs_a_fixed_number_of_queries(member_client):
    profile = lp()
    commitment(profile, fund("Fund I"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert member_client.get(reverse("lp_detail", args=[profile.pk])).status_code == 200
        return len(ctx.captured_queries)

    none = queries()
    for kind in ComplianceKind.values:
        check(profile, kind)
    assert queries() == none


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_the_flags_into_verified_checks_without_dates():
    old = migrate_back_to("lps", "0010_distributions")
    OldLP, OldContact = old.get_model("lps", "LPProfile"), old.get_model("contacts", "Contact")

    def make(name: str, **flags) -> int:
        return OldLP.objects.create(contact=OldContact.objects.create(first_name=name, last_name="X"), **flags).pk

    both = make("Both", accredited=True, qualified_purchaser=True)
    accredited = make("Accredited", accredited=True)
    neither = make("Neither")
    migrate_forward()
    rows = set(ComplianceCheck.objects.values_list("lp_id", "kind", "status", "verified_on", "expires_on"))
    assert rows == {
        (both, "accreditation", "verified", None, None),
        (both, "qualified_purchaser", "verified", None, None),
        (accredited, "accreditation", "verified", None, None),
    }
    assert not ComplianceCheck.objects.filter(lp_id=neither).exists()


def test_a_merge_keeps_the_other_profiles_checks_where_the_survivor_has_none(manager_client, manager_user):
    keep, dupe = lp(contact("Okafor")), lp(contact("Okafor"))
    check(keep, ComplianceKind.KYC_AML, verified_on=datetime.date(2026, 1, 1))
    check(dupe, ComplianceKind.KYC_AML, verified_on=datetime.date(2020, 1, 1))
    check(dupe, ComplianceKind.QUALIFIED_PURCHASER, verified_on=datetime.date(2025, 6, 1))
    manager_client.post(reverse("contact_merge"), {"a": keep.contact_id, "b": dupe.contact_id, "survivor": "a"})
    rows = set(ComplianceCheck.objects.values_list("lp_id", "kind", "verified_on"))
    assert rows == {
        (keep.pk, "kyc_aml", datetime.date(2026, 1, 1)),
        (keep.pk, "qualified_purchaser", datetime.date(2025, 6, 1)),
    }
    assert LPProfile.objects.get(pk=keep.pk).qualified_purchaser is True


def test_an_import_that_ticks_accredited_records_a_verified_check_with_history(tmp_path, manager_user):
    import io

    from django.core.management import call_command

    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "Commitments.csv").write_text(
        "Investor,E-mail,Fund,Commitment Status,Amount Committed,Accredited\n"
        "Ada Okafor,ada@ex.com,Fund I,Closed,$1000000,yes\nBo Chen,bo@ex.com,Fund I,Closed,$500000,no\n",
        encoding="utf-8",
    )
    fund("Fund I")
    call_command("import_airtable", str(folder), "--user", manager_user.username, stdout=io.StringIO())
    accreditation = ComplianceCheck.objects.get(kind=ComplianceKind.ACCREDITATION)
    assert str(accreditation.lp) == "Ada Okafor" and accreditation.status == VERIFIED
    assert accreditation.history.get().history_user == manager_user
    assert LPProfile.objects.get(pk=accreditation.lp_id).accredited is True
    assert ComplianceCheck.objects.count() == 1, "Bo was imported unticked: no check"
