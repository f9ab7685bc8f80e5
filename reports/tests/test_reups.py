"""The re-up cockpit: every LP of an earlier fund with their ask for the fund raised, how far
their re-up has got, the deal that tracks it, totals, the one-click deal, filters and export."""

from __future__ import annotations

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import HX
from crm.testing.factories import action, comm, commitment, contact, fund, lp, opportunity, stage
from lps.models import CommitmentStatus, FundStatus, ReupAsk, ReupStatus, reup_status
from pipeline.models import Opportunity

REUPS = reverse("reup_list")
EXPORT = reverse("reup_export")
S, H, SIGNED, CLOSED, W = (
    CommitmentStatus.SOFT_CIRCLE,
    CommitmentStatus.HARD_CIRCLE,
    CommitmentStatus.SIGNED,
    CommitmentStatus.CLOSED,
    CommitmentStatus.WITHDRAWN,
)


@pytest.fixture
def fund_one(db):
    return fund("Fund I", vintage_year=2019, status=FundStatus.CLOSED)


@pytest.fixture
def fund_two(db):
    return fund("Fund II", vintage_year=2025, status=FundStatus.RAISING)


def prior_lp(fund_one, amount="2000000", **contact_extra):
    """An LP with a closed commitment of ``amount`` to Fund I."""
    profile = lp(contact(**contact_extra))
    commitment(profile, fund_one, amount, status=CLOSED)
    return profile


def rows(html: str) -> dict[str, str]:
    """LP profile id → re-up status, as the table shows them."""
    return dict(re.findall(r'<tr data-lp="(\d+)" data-status="(\w+)">', html))


# --- status derivation --------------------------------------------------------------------------


def test_the_commitment_to_the_fund_raised_decides_the_status_when_there_is_one():
    asked = ReupAsk(amount=Decimal("1"), asked_on=datetime.date(2026, 1, 5))
    declined = ReupAsk(amount=Decimal("1"), status_override=ReupStatus.DECLINED)
    assert reup_status(None, []) == ReupStatus.NOT_ASKED
    assert reup_status(ReupAsk(amount=Decimal("1")), []) == ReupStatus.NOT_ASKED
    assert reup_status(asked, []) == ReupStatus.ASKED
    assert reup_status(ReupAsk(amount=Decimal("1"), status_override=ReupStatus.ASKED), []) == ReupStatus.ASKED
    assert reup_status(declined, []) == ReupStatus.DECLINED
    assert reup_status(asked, [S]) == ReupStatus.SOFT
    assert reup_status(asked, [H]) == ReupStatus.HARD
    assert reup_status(None, [SIGNED]) == ReupStatus.SIGNED
    assert reup_status(None, [CLOSED]) == ReupStatus.SIGNED
    assert reup_status(asked, [W]) == ReupStatus.DECLINED
    # Money recorded outranks a note; of two entities, the one furthest up the ladder.
    assert reup_status(declined, [H]) == ReupStatus.HARD
    assert reup_status(None, [W, S, H]) == ReupStatus.HARD


def test_the_page_shows_each_prior_lp_at_the_status_their_ladder_says(member_client, fund_one, fund_two):
    cases = {}
    for status in (S, H, SIGNED, CLOSED, W):
        profile = prior_lp(fund_one)
        commitment(
            profile, fund_two, "1000000", status=status, withdrawn_reason="Over-allocated" if status == W else ""
        )
        cases[status] = profile
    asked = prior_lp(fund_one)
    ReupAsk.objects.create(lp=asked, fund=fund_two, amount=Decimal("1500000"), asked_on=datetime.date(2026, 2, 1))
    untouched = prior_lp(fund_one)

    shown = rows(member_client.get(REUPS).content.decode())

    assert shown == {
        str(cases[S].pk): "soft",
        str(cases[H].pk): "hard",
        str(cases[SIGNED].pk): "signed",
        str(cases[CLOSED].pk): "signed",
        str(cases[W].pk): "declined",
        str(asked.pk): "asked",
        str(untouched.pk): "not_asked",
    }


def test_only_lps_committed_to_another_fund_are_listed(member_client, fund_one, fund_two):
    listed = prior_lp(fund_one)
    soft_only = lp(contact())
    commitment(soft_only, fund_one, status=S)  # never committed: not a prior LP
    withdrawn = lp(contact())
    commitment(withdrawn, fund_one, status=W, withdrawn_reason="Changed mind")
    new_lp = lp(contact())
    commitment(new_lp, fund_two, status=SIGNED)  # only in the fund raised

    assert set(rows(member_client.get(REUPS).content.decode())) == {str(listed.pk)}


def test_the_prior_commitment_sums_every_earlier_fund_and_names_them(member_client, fund_one, fund_two):
    fund_zero = fund("Fund Zero", vintage_year=2015, status=FundStatus.CLOSED)
    profile = prior_lp(fund_one, "2000000", last_name="Okafor")
    commitment(profile, fund_zero, "500000", status=CLOSED)

    html = member_client.get(REUPS).content.decode()

    assert "Fund I, Fund Zero" in html
    assert '<td class="num" data-cell="prior">$2,500,000' in html
    assert '<td class="num" data-cell="ask">$2,500,000' in html, "the ask defaults to the prior commitment"


def test_the_fund_filter_picks_the_fund_raised(member_client, fund_one, fund_two):
    in_two = prior_lp(fund_one)
    in_one = lp(contact())
    commitment(in_one, fund_two, status=CLOSED)  # a Fund II LP, prior when Fund I is the one raised

    assert set(rows(member_client.get(REUPS).content.decode())) == {str(in_two.pk)}
    assert set(rows(member_client.get(REUPS, {"fund": fund_one.pk}).content.decode())) == {str(in_one.pk)}


# --- totals ----------------------------------------------------------------------------------------


def test_totals_compare_re_up_dollars_with_prior_dollars_and_count_lps_re_upped(member_client, fund_one, fund_two):
    signed = prior_lp(fund_one, "4000000")
    commitment(signed, fund_two, "3000000", status=SIGNED)
    hard = prior_lp(fund_one, "2000000")
    commitment(hard, fund_two, "2500000", status=H)
    soft = prior_lp(fund_one, "1000000")
    commitment(soft, fund_two, "900000", status=S)  # not re-upped yet
    prior_lp(fund_one, "3000000")  # not asked
    outsider = lp(contact())
    commitment(outsider, fund_two, "7000000", status=SIGNED)  # new money, not a re-up

    response = member_client.get(REUPS)
    data = response.context["cockpit"]
    html = response.content.decode()

    assert data.prior_dollars == Decimal("10000000")
    assert data.reup_dollars == Decimal("5500000")
    assert data.signed_dollars == Decimal("3000000")
    assert data.soft_dollars == Decimal("900000")
    assert (data.reupped_count, data.lp_count, data.reupped_share) == (2, 4, 50)
    assert 'data-kpi="reup">$5.5M' in html
    assert 'data-kpi="prior">$10M' in html
    assert 'data-kpi="share">50%' in html


# --- the ask ---------------------------------------------------------------------------------------


def test_a_manager_sets_the_ask_and_history_names_them(manager_client, manager_user, fund_one, fund_two):
    profile = prior_lp(fund_one, "2000000")
    url = reverse("reup_ask_edit", args=[profile.pk])

    form = manager_client.get(url, {"fund": fund_two.pk}, headers=HX)
    assert form.status_code == 200
    assert 'value="2000000' in form.content.decode(), "the form starts from the prior amount"
    response = manager_client.post(url, {"fund": fund_two.pk, "amount": "3000000", "asked_on": "2026-02-01"})

    assert response.status_code == 302
    ask = ReupAsk.objects.get(lp=profile, fund=fund_two)
    assert (ask.amount, ask.asked_on) == (Decimal("3000000"), datetime.date(2026, 2, 1))
    assert ask.history.get().history_user == manager_user
    html = manager_client.get(REUPS).content.decode()
    assert rows(html) == {str(profile.pk): "asked"}
    assert '<td class="num" data-cell="ask">$3,000,000' in html


def test_an_htmx_save_of_the_ask_closes_the_dialog_and_refreshes_the_cockpit(manager_client, fund_one, fund_two):
    profile = prior_lp(fund_one)
    response = manager_client.post(
        reverse("reup_ask_edit", args=[profile.pk]),
        {"fund": fund_two.pk, "amount": "1", "status_override": ReupStatus.DECLINED},
        headers=HX,
    )
    assert response.status_code == 200
    assert "reupsChanged" in response["HX-Trigger"] and "closeDialog" in response["HX-Trigger"]
    assert ReupAsk.objects.get(lp=profile).status_override == ReupStatus.DECLINED


def test_an_invalid_ask_comes_back_with_its_errors_and_saves_nothing(manager_client, fund_one, fund_two):
    profile = prior_lp(fund_one)
    response = manager_client.post(
        reverse("reup_ask_edit", args=[profile.pk]), {"fund": fund_two.pk, "amount": "-5"}, headers=HX
    )
    assert response.status_code == 200
    assert 'id="reup-ask-form"' in response.content.decode()
    assert not ReupAsk.objects.exists()


def test_a_member_reads_the_cockpit_but_may_not_change_the_ask(member_client, fund_one, fund_two):
    profile = prior_lp(fund_one)

    page = member_client.get(REUPS)
    assert page.status_code == 200
    assert reverse("reup_ask_edit", args=[profile.pk]) not in page.content.decode(), "no edit button offered"
    response = member_client.post(reverse("reup_ask_edit", args=[profile.pk]), {"fund": fund_two.pk, "amount": "1"})
    assert response.status_code == 403
    assert not ReupAsk.objects.exists()


# --- the linked opportunity and the one-click deal ------------------------------------------------


def test_the_row_links_the_lps_won_or_open_deal_in_the_fund_raised(member_client, fund_one, fund_two):
    profile = prior_lp(fund_one)
    opportunity(profile.contact, fund_two, stage("Passed"), name="Passed deal", lost_reason="No")
    opportunity(profile.contact, fund_one, stage("Meeting"), name="Old fund deal")
    opportunity(profile.contact, fund_two, stage("Meeting"), name="Live deal")

    html = member_client.get(REUPS).content.decode()

    assert "Live deal" in html
    assert "Passed deal" not in html and "Old fund deal" not in html
    assert reverse("reup_opportunity_create", args=[profile.pk]) not in html


def test_one_click_creates_the_deal_in_the_first_open_stage_expecting_the_ask(
    member_client, member_user, manager_user, fund_one, fund_two
):
    profile = prior_lp(fund_one, "2000000", owner=manager_user)
    ReupAsk.objects.create(lp=profile, fund=fund_two, amount=Decimal("2750000"))
    html = member_client.get(REUPS).content.decode()
    url = reverse("reup_opportunity_create", args=[profile.pk])
    assert url in html

    response = member_client.post(url, {"fund": fund_two.pk})

    assert response.status_code == 302
    deal = Opportunity.objects.get(contact=profile.contact, fund=fund_two)
    assert deal.stage == stage("Lead")
    assert deal.expected_amount == Decimal("2750000")
    assert deal.owner == manager_user
    assert deal.created_by == member_user
    assert deal.history.get().history_user == member_user
    assert deal.probability == stage("Lead").default_probability


def test_a_second_click_makes_no_second_deal(member_client, fund_one, fund_two):
    profile = prior_lp(fund_one)
    url = reverse("reup_opportunity_create", args=[profile.pk])
    member_client.post(url, {"fund": fund_two.pk})
    response = member_client.post(url, {"fund": fund_two.pk}, follow=True)

    assert Opportunity.objects.filter(contact=profile.contact, fund=fund_two).count() == 1
    assert "already has a deal in Fund II" in response.content.decode()


def test_one_click_without_an_ask_expects_the_prior_commitment(member_client, fund_one, fund_two):
    profile = prior_lp(fund_one, "1250000")
    member_client.post(reverse("reup_opportunity_create", args=[profile.pk]), {"fund": fund_two.pk})
    assert Opportunity.objects.get(contact=profile.contact).expected_amount == Decimal("1250000")


# --- filters -------------------------------------------------------------------------------------


def test_filters_narrow_by_status_owner_and_search(member_client, manager_user, fund_one, fund_two):
    owned = prior_lp(fund_one, owner=manager_user, last_name="Okafor")
    soft = prior_lp(fund_one, last_name="Lindqvist")
    commitment(soft, fund_two, status=S)
    other = prior_lp(fund_one, last_name="Tanaka")

    def shown(**query) -> set[str]:
        return set(rows(member_client.get(REUPS, query).content.decode()))

    assert shown() == {str(owned.pk), str(soft.pk), str(other.pk)}
    assert shown(status="soft") == {str(soft.pk)}
    assert shown(status="not_asked") == {str(owned.pk), str(other.pk)}
    assert shown(owner=manager_user.pk) == {str(owned.pk)}
    assert shown(q="okaf") == {str(owned.pk)}


def test_an_htmx_filter_gets_only_the_cockpit_body(member_client, fund_one, fund_two):
    prior_lp(fund_one)
    fragment = member_client.get(REUPS, headers=HX).content.decode()
    page = member_client.get(REUPS).content.decode()
    assert fragment.lstrip().startswith('<div id="reup-body"')
    assert "<html" not in fragment and "<html" in page


def test_last_touch_and_next_action_come_from_the_lps_communications(member_client, fund_one, fund_two):
    profile = prior_lp(fund_one)
    comm(profile.contact, days_ago=3)
    action(profile.contact, 5, next_action="Send the Fund II deck")
    data = member_client.get(REUPS).context["cockpit"]
    assert data.rows[0].contact.next_action == "Send the Fund II deck"
    assert data.rows[0].contact.last_touch is not None


# --- fixed queries ----------------------------------------------------------------------------------


def test_the_page_runs_the_same_number_of_queries_for_any_number_of_lps(member_client, member_user, fund_one, fund_two):
    def queries_with(n: int) -> int:
        for _ in range(n):
            profile = prior_lp(fund_one, owner=member_user)
            commitment(profile, fund_two, status=H)
            ReupAsk.objects.create(lp=profile, fund=fund_two, amount=Decimal("1"))
            opportunity(profile.contact, fund_two, stage("Meeting"))
            action(profile.contact, 3)
        with CaptureQueriesContext(connection) as ctx:
            response = member_client.get(REUPS)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    small = queries_with(1)
    large = queries_with(10)
    assert small == large, (small, large)
    assert large <= 12, large


# --- export ----------------------------------------------------------------------------------------


def test_the_export_rows_match_the_table(manager_client, manager_user, fund_one, fund_two):
    a = prior_lp(fund_one, "2000000", last_name="Adams", owner=manager_user)
    commitment(a, fund_two, "1500000", status=SIGNED)
    b = prior_lp(fund_one, "3000000", last_name="Baker")
    ReupAsk.objects.create(lp=b, fund=fund_two, amount=Decimal("3500000"), asked_on=datetime.date(2026, 3, 2))
    opportunity(b.contact, fund_two, stage("Meeting"), name="Baker — Fund II")
    prior_lp(fund_one, "1000000", last_name="Cole", first_name="Zoe")

    page = manager_client.get(REUPS, {"q": "ada"})  # Adams and Baker are both Ada…, Cole is Zoe
    exported = manager_client.get(EXPORT, {"q": "ada"})
    table = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode("utf-8-sig"))))

    assert exported.status_code == 200
    assert table[0][:9] == [
        "LP", "Email", "Organization", "Prior funds", "Prior commitment", "Fund raised", "Ask", "Asked on",
        "Re-up status",
    ]  # fmt: skip
    body = {row[0]: row for row in table[1:]}
    shown = [row.contact.full_name for row in page.context["page_obj"].object_list]
    assert list(body) == shown == [a.contact.full_name, b.contact.full_name]
    assert body[a.contact.full_name][4:11] == [
        "2000000.00",
        "Fund II",
        "2000000.00",
        "",
        "Signed",
        "1500000.00",
        "1500000.00",
    ]
    assert body[b.contact.full_name][4:13] == [
        "3000000.00", "Fund II", "3500000.00", "2026-03-02", "Asked", "0.00", "0.00", "Baker — Fund II", "Meeting",
    ]  # fmt: skip
    assert body[a.contact.full_name][13] == manager_user.display_name
    # And the page's own rows say the same, status for status.
    html_statuses = rows(page.content.decode())
    assert {ReupStatus(html_statuses[str(p.pk)]).label for p in (a, b)} == {"Signed", "Asked"}
    assert [ReupStatus(html_statuses[str(p.pk)]).label for p in (a, b)] == [
        body[p.contact.full_name][8] for p in (a, b)
    ]


def test_a_member_may_not_export_the_cockpit(member_client, fund_one, fund_two):
    prior_lp(fund_one)
    assert member_client.get(EXPORT).status_code == 403
