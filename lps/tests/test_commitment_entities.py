"""Two commitments of one LP to one fund (through different investing entities), and withdrawn ones.

Real funds' data holds both: an LP investing individually and through a trust in the same
fund, and an LP who indicated an amount and then pulled out. A withdrawn commitment keeps
its amount for the record and counts toward nothing.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from conftest import HX
from contacts.models import ContactType
from crm.testing.factories import commitment, contact, lp
from lps.models import Commitment, CommitmentStatus, LPProfile
from reports.dashboard import fund_figures

LIST = reverse("lp_list")


def text(response) -> str:
    return response.content.decode()


def kpi(html: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}">([^<]+)<', html)
    assert match, f"no {name} figure"
    return match.group(1)


# --- The model --------------------------------------------------------------------------------


def test_one_lp_has_one_commitment_per_fund_unless_a_second_names_its_entity(ada, fund_two):
    commitment(ada, fund_two, "250000")
    with pytest.raises(IntegrityError), transaction.atomic():
        commitment(ada, fund_two, "150000")
    trust = commitment(ada, fund_two, "150000", investing_entity="Trust / IRA")
    with pytest.raises(IntegrityError), transaction.atomic():
        commitment(ada, fund_two, "1", investing_entity="Trust / IRA")
    assert ada.commitments.count() == 2
    assert str(trust) == "Ada Gillespie — Fund II (Trust / IRA)"


def test_withdrawn_counts_toward_nothing_and_has_its_own_figure(fund_two):
    rows = [  # status, committed, funded
        (CommitmentStatus.SOFT_CIRCLE, "1000000", "0"),
        (CommitmentStatus.SIGNED, "2000000", "0"),
        (CommitmentStatus.CLOSED, "3000000", "500000"),
        (CommitmentStatus.WITHDRAWN, "250000", "100"),
    ]
    for status, amount, funded in rows:
        commitment(lp(), fund_two, amount, status=status, funded_amount=Decimal(funded))
    totals = Commitment.objects.totals()
    assert totals == {
        "committed": Decimal("5000000"),
        "soft_circled": Decimal("1000000"),
        "funded": Decimal("500000"),
        "withdrawn": Decimal("250000"),
    }
    assert Commitment.objects.withdrawn().count() == 1
    assert Commitment.objects.committed().count() == 2
    withdrawn = Commitment.objects.withdrawn().get()
    assert not withdrawn.is_committed and not withdrawn.is_soft and withdrawn.is_withdrawn


def test_main_for_is_the_commitment_without_an_entity_else_the_only_one(ada, fund_two):
    assert Commitment.objects.main_for(fund_two, lp=ada) is None
    trust = commitment(ada, fund_two, investing_entity="Trust / IRA")
    assert Commitment.objects.main_for(fund_two, lp=ada) == trust
    main = commitment(ada, fund_two)
    assert Commitment.objects.main_for(fund_two, contact=ada.contact) == main
    main.delete()
    commitment(ada, fund_two, investing_entity="Individual")
    assert Commitment.objects.main_for(fund_two.pk, lp=ada.pk) is None  # two named entities: no guess


def test_main_for_looks_at_a_withdrawn_commitment_only_when_nothing_else_is_there(ada, fund_two):
    withdrawn = commitment(ada, fund_two, status=CommitmentStatus.WITHDRAWN)
    assert Commitment.objects.main_for(fund_two, lp=ada) == withdrawn
    trust = commitment(ada, fund_two, investing_entity="Trust / IRA")
    assert Commitment.objects.main_for(fund_two, lp=ada) == trust


def test_an_lp_profile_makes_the_contact_an_investor_unless_told_to_keep_the_type(db):
    prospect = contact(contact_type=ContactType.PROSPECT)
    LPProfile(contact=prospect).save(keep_contact_type=True)
    prospect.refresh_from_db()
    assert prospect.contact_type == ContactType.PROSPECT and prospect.history.count() == 1
    other = contact(contact_type=ContactType.PROSPECT)
    LPProfile(contact=other).save()
    other.refresh_from_db()
    assert other.contact_type == ContactType.INVESTOR


# --- The commitment form ------------------------------------------------------------------------


def test_a_second_commitment_to_a_fund_needs_an_investing_entity(manager_client, manager_user, ada, fund_two):
    url = reverse("commitment_create", args=[ada.pk])
    data = {"fund": fund_two.pk, "status": CommitmentStatus.SIGNED, "commitment_amount": "250000", "funded_amount": "0"}
    assert manager_client.post(url, data).status_code == 302

    again = manager_client.post(url, {**data, "commitment_amount": "150000"}, headers=HX)
    assert again.status_code == 200
    html = text(again)
    assert "already has a commitment to Fund II" in html
    assert "give this one a different investing entity" in html
    assert 'id="id_investing_entity_error"' in html  # the message sits on the entity field
    assert ada.commitments.count() == 1

    ok = manager_client.post(url, {**data, "commitment_amount": "150000", "investing_entity": " Trust / IRA "})
    assert ok.status_code == 302
    trust = ada.commitments.get(investing_entity="Trust / IRA")
    assert trust.commitment_amount == Decimal("150000")
    assert trust.history.get().history_user == manager_user

    # Case does not make a new entity.
    same = manager_client.post(url, {**data, "investing_entity": "trust / IRA"}, headers=HX)
    assert "already has a commitment to Fund II through Trust / IRA" in text(same)
    assert ada.commitments.count() == 2


def test_editing_keeps_its_own_entity_and_refuses_a_sibling_s(manager_client, ada, fund_two):
    commitment(ada, fund_two, "250000")
    trust = commitment(ada, fund_two, "150000", investing_entity="Trust / IRA")
    url = reverse("commitment_edit", args=[trust.pk])
    form = text(manager_client.get(url, headers=HX))
    assert 'value="Trust / IRA"' in form and "Fund II · Trust / IRA" in form
    base = {"status": CommitmentStatus.CLOSED, "commitment_amount": "150000", "funded_amount": "150000"}
    assert manager_client.post(url, {**base, "investing_entity": "Trust / IRA"}).status_code == 302
    refused = manager_client.post(url, {**base, "investing_entity": ""}, headers=HX)
    assert refused.status_code == 200 and "already has a commitment to Fund II." in text(refused)
    trust.refresh_from_db()
    assert trust.investing_entity == "Trust / IRA" and trust.status == CommitmentStatus.CLOSED


def test_an_overlong_or_hostile_entity_is_handled(manager_client, ada, fund_two):
    url = reverse("commitment_create", args=[ada.pk])
    data = {"fund": fund_two.pk, "status": CommitmentStatus.SIGNED, "commitment_amount": "1", "funded_amount": "0"}
    too_long = manager_client.post(url, {**data, "investing_entity": "x" * 201}, headers=HX)
    assert too_long.status_code == 200 and "at most 200 characters" in text(too_long)
    manager_client.post(url, {**data, "investing_entity": "<script>alert(1)</script> LLC"})
    html = text(manager_client.get(LIST))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; LLC" in html


# --- The tracker --------------------------------------------------------------------------------


def test_tracker_shows_both_commitments_with_their_entity_and_counts_the_lp_once(member_client, ada, fund_two):
    commitment(ada, fund_two, "250000", status=CommitmentStatus.CLOSED)
    commitment(ada, fund_two, "150000", status=CommitmentStatus.CLOSED, investing_entity="Trust / IRA")
    html = text(member_client.get(LIST, headers=HX))
    assert html.count("Ada Gillespie</a>") == 2
    assert '<span class="lp-entity">via Trust / IRA</span>' in html
    assert kpi(html, "committed") == "$400K" and kpi(html, "lps") == "1" and kpi(html, "average") == "$200K"
    found = text(member_client.get(LIST, {"q": "trust"}, headers=HX))
    assert found.count("Ada Gillespie</a>") == 1
    panel = text(member_client.get(reverse("lp_detail", args=[ada.pk]), headers=HX))
    assert "via Trust / IRA" in panel and "$150,000" in panel and "$250,000" in panel


def test_a_withdrawn_commitment_is_listed_but_counted_nowhere(member_client, fund_two):
    commitment(lp(contact("Okoro", first_name="Ursula")), fund_two, "250000", status=CommitmentStatus.WITHDRAWN)
    commitment(lp(), fund_two, "1000000", status=CommitmentStatus.SOFT_CIRCLE)
    commitment(lp(), fund_two, "2000000", status=CommitmentStatus.SIGNED)
    html = text(member_client.get(LIST))
    assert kpi(html, "committed") == "$2M" and kpi(html, "soft") == "$1M" and kpi(html, "lps") == "1"
    assert "1 withdrawn, counted nowhere" in html
    row = re.search(r'<tr class="is-withdrawn">.*?</tr>', html, re.S).group(0)
    assert "Ursula Okoro" in row and '<span class="badge badge--withdrawn">Withdrawn</span>' in row
    assert "$250,000" in row and "Soft circle" not in row
    only = text(member_client.get(LIST, {"status": CommitmentStatus.WITHDRAWN}, headers=HX))
    assert "Ursula Okoro" in only and kpi(only, "committed") == "$0" and kpi(only, "soft") == "$0"
    figures = {f.fund.name: f for f in fund_figures(member_client.get(LIST).wsgi_request.user)}
    assert figures["Fund II"].committed == Decimal("2000000")
    assert figures["Fund II"].soft_circled == Decimal("1000000")
    assert figures["Fund II"].lp_count == 1


def test_dashboard_leaves_withdrawn_commitments_out(member_client, fund_two):
    commitment(lp(), fund_two, "7000000", status=CommitmentStatus.WITHDRAWN)
    commitment(lp(), fund_two, "3000000", status=CommitmentStatus.SIGNED)
    html = text(member_client.get(reverse("dashboard")))
    assert "$3M" in html and "$7M" not in html and "$10M" not in html


def test_export_has_the_investing_entity_column(manager_client, ada, fund_two):
    commitment(ada, fund_two, "150000", investing_entity="Trust / IRA", status=CommitmentStatus.WITHDRAWN)
    response = manager_client.get(reverse("commitment_export"), {"status": CommitmentStatus.WITHDRAWN})
    lines = b"".join(response.streaming_content).decode("utf-8-sig").strip().splitlines()
    assert lines[0].split(",")[4:7] == ["Fund", "Investing entity", "Status"]
    assert lines[1].split(",")[4:7] == ["Fund II", "Trust / IRA", "Withdrawn"]
    xlsx = manager_client.get(reverse("commitment_export"), {"format": "xlsx"})
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.values)
    assert rows[1][5] == "Trust / IRA" and rows[1][6] == "Withdrawn"


def test_contact_and_organization_panels_name_the_investing_entity(member_client, fund_two):
    from crm.testing.factories import org

    firm = org("Gillespie Family Office")
    profile = lp(contact("Gillespie", first_name="Ada", organization=firm))
    commitment(profile, fund_two, "250000")
    commitment(profile, fund_two, "150000", investing_entity="Trust / IRA")
    for url in (reverse("contact_detail", args=[profile.contact_id]), reverse("organization_detail", args=[firm.pk])):
        html = text(member_client.get(url, headers=HX))
        assert html.count('<span class="lp-entity">via Trust / IRA</span>') == 1, url
        assert "$150,000" in html and "$250,000" in html
