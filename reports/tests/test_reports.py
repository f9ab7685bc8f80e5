"""The Reports page: fundraising progress, pipeline conversion, team activity, LP concentration.

Real numbers on small hand-built data, the roles, the exports (which must say what the tables
say), htmx and plain GET, and a fixed number of queries whatever the data size.
"""

from __future__ import annotations

import csv
import datetime
import html as htmllib
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from conftest import HX
from contacts.models import Communication, CommunicationType, OrganizationType
from crm.testing.factories import commitment, contact, fund, lp, opportunity, org, stage
from lps.models import CommitmentStatus
from pipeline.models import Opportunity
from reports import analytics
from reports.charts import month_label, nice_ceiling

REPORTS = reverse("reports_index")
EXPORTS = {
    "fundraising": reverse("report_fundraising_export"),
    "conversion": reverse("report_conversion_export"),
    "team": reverse("report_team_export"),
    "concentration": reverse("report_concentration_export"),
    "ladder": reverse("report_ladder_export"),
}


def text(response) -> str:
    return response.content.decode()


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</section>", start)]


def table_rows(page: str, name: str) -> list[list[str]]:
    """The cells of a report table's body and foot rows, as the reader sees them."""
    start = page.index(f'data-report-table="{name}"')
    table = page[start : page.index("</table>", start)]
    body = table[table.index("<tbody>") :]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([" ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells])
    return rows


def csv_lines(response) -> list[str]:
    content = b"".join(response.streaming_content)
    assert content.startswith(b"\xef\xbb\xbf"), "CSV without a byte-order mark"
    return content.decode("utf-8-sig").strip().splitlines()


def amount(cell: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.]", "", cell) or "0")


def on(day: datetime.date, hour: int = 12) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def log(person, when: datetime.datetime, by=None, kind: str = CommunicationType.EMAIL, **extra) -> Communication:
    return Communication.objects.create(contact=person, communication_date=when, type=kind, created_by=by, **extra)


def move(deal: Opportunity, stage_name: str, **extra) -> None:
    deal.stage = stage(stage_name)
    for key, value in extra.items():
        setattr(deal, key, value)
    deal.save()


def date_history(deal: Opportunity, *days: datetime.datetime) -> None:
    """Give the deal's history rows these dates, oldest first (saves all happen 'now' in a test)."""
    rows = list(deal.history.order_by("history_date", "history_id"))
    assert len(rows) == len(days)
    for row, when in zip(rows, days, strict=True):
        type(row).objects.filter(pk=row.pk).update(history_date=when)


@pytest.fixture
def raising():
    return fund("Fund II", vintage_year=2025, target_size=Decimal("100000000"), hard_cap=Decimal("150000000"))


# --- 1. Fundraising progress ---------------------------------------------------------------------


def test_three_commitments_in_two_months_add_up_cumulatively(member_user, raising):
    commitment(lp(), raising, "5000000", status=CommitmentStatus.HARD_CIRCLE, commitment_date=datetime.date(2025, 3, 4))
    commitment(lp(), raising, "7000000", status=CommitmentStatus.SIGNED, commitment_date=datetime.date(2025, 3, 28))
    commitment(lp(), raising, "10000000", status=CommitmentStatus.CLOSED, commitment_date=datetime.date(2025, 5, 2))
    commitment(lp(), raising, "9000000", status=CommitmentStatus.SOFT_CIRCLE, commitment_date=datetime.date(2025, 4, 9))
    report = analytics.fundraising(member_user, raising, today=datetime.date(2025, 6, 15))

    assert [row.month for row in report.months] == [datetime.date(2025, m, 1) for m in (3, 4, 5, 6)]
    march, april, may, june = report.months
    assert (march.committed, march.committed_count, march.cumulative) == (Decimal("12000000"), 2, Decimal("12000000"))
    assert (april.committed, april.cumulative) == (Decimal("0"), Decimal("12000000"))
    assert (may.committed, may.cumulative, may.percent_of_target) == (
        Decimal("10000000"),
        Decimal("22000000"),
        Decimal("22.0"),
    )
    assert june.is_quiet and june.cumulative == Decimal("22000000")
    # The soft circle is its own figure, never part of committed.
    assert (april.soft, april.soft_count, june.cumulative_soft) == (Decimal("9000000"), 1, Decimal("9000000"))
    assert (report.committed, report.committed_count, report.lp_count) == (Decimal("22000000"), 3, 3)
    assert report.soft == Decimal("9000000")
    assert report.to_target == Decimal("78000000") and report.to_hard_cap == Decimal("128000000")


def test_the_signed_date_stands_in_and_undated_commitments_are_totalled_apart(member_user, raising):
    commitment(lp(), raising, "4000000", signed_date=datetime.date(2025, 2, 20))
    commitment(lp(), raising, "1000000")  # neither date
    report = analytics.fundraising(member_user, raising, today=datetime.date(2025, 2, 25))
    assert [(row.label, row.committed) for row in report.months] == [("February 2025", Decimal("4000000"))]
    assert report.undated.label == "No date" and report.undated.committed == Decimal("1000000")
    assert report.committed == Decimal("5000000")
    assert report.table()[-1][:3] == ["Total", 2, Decimal("5000000")]


def test_withdrawn_commitments_count_toward_nothing(member_user, raising):
    commitment(lp(), raising, "3000000", commitment_date=datetime.date(2025, 1, 5))
    commitment(lp(), raising, "8000000", status=CommitmentStatus.WITHDRAWN, commitment_date=datetime.date(2025, 1, 9))
    report = analytics.fundraising(member_user, raising, today=datetime.date(2025, 1, 31))
    assert report.committed == Decimal("3000000") and report.soft == 0
    assert (report.uncounted, report.uncounted_count) == (Decimal("8000000"), 1)
    assert analytics.concentration(member_user, raising).committed == Decimal("3000000")


def test_a_closed_fund_ends_with_its_last_commitment(member_user):
    closed = fund("Fund I", vintage_year=2020, status="closed")
    commitment(lp(), closed, "1000000", commitment_date=datetime.date(2020, 7, 1))
    commitment(lp(), closed, "2000000", commitment_date=datetime.date(2020, 9, 1))
    report = analytics.fundraising(member_user, closed, today=datetime.date(2026, 1, 1))
    assert [row.label for row in report.months] == ["July 2020", "August 2020", "September 2020"]


def test_a_mistyped_year_does_not_make_a_thousand_empty_months(member_user, raising):
    commitment(lp(), raising, "1000000", commitment_date=datetime.date(1925, 3, 1))
    commitment(lp(), raising, "2000000", commitment_date=datetime.date(2025, 3, 1))
    report = analytics.fundraising(member_user, raising, today=datetime.date(2025, 3, 2))
    assert [row.label for row in report.months] == ["March 1925", "March 2025"]
    assert report.months[-1].cumulative == Decimal("3000000")


def test_the_fundraising_section_shows_chart_table_and_figures(member_client, raising):
    this_month = timezone.localdate().replace(day=1)
    commitment(lp(), raising, "6000000", commitment_date=this_month)
    commitment(lp(), raising, "2500000", status=CommitmentStatus.SOFT_CIRCLE, commitment_date=this_month)
    page = text(member_client.get(REPORTS))
    fundraising = section(page, "fundraising")
    assert 'data-figure="committed">$6M<' in fundraising
    assert 'data-figure="soft">$2.5M<' in fundraising
    assert 'data-figure="percent-of-target">6.0%<' in fundraising
    assert '<title id="chart-fundraising-title">Fund II: committed capital by month</title>' in fundraising
    assert "Target $100M" in fundraising and "Hard cap $150M" in fundraising
    assert "$6M committed by" in fundraising  # the chart in words, for screen readers
    rows = table_rows(page, "fundraising")
    assert rows[0][:4] == [this_month.strftime("%B %Y"), "1", "$6,000,000", "$6,000,000"]
    assert rows[-1][:3] == ["Total", "1", "$6,000,000"]


def test_chart_month_labels_carry_the_whole_year_so_dec_26_is_not_read_as_a_day(member_client, raising):
    assert month_label(datetime.date(2026, 12, 1)) == "Dec 2026"
    commitment(lp(), raising, "6000000", commitment_date=datetime.date(2026, 12, 3))
    fundraising = section(text(member_client.get(REPORTS)), "fundraising")
    axis = re.findall(r'<text class="chart-axis"[^>]*text-anchor="middle">([^<]+)</text>', fundraising)
    assert "Dec 2026" in axis
    assert not [label for label in axis if re.fullmatch(r"[A-Z][a-z]{2} \d\d", label)]


# --- 2. Pipeline conversion ------------------------------------------------------------------------


def test_a_deal_moved_lead_meeting_passed_reached_meeting_and_was_lost_there(member_user, raising):
    start = timezone.now() - datetime.timedelta(days=30)
    passed = opportunity(contact(), raising, stage("Lead"), expected_amount=Decimal("4000000"))
    move(passed, "Meeting")
    move(passed, "Passed", lost_reason="Allocation full this year")
    date_history(passed, start, start + datetime.timedelta(days=10), start + datetime.timedelta(days=16))
    still_open = opportunity(contact(), raising, stage("Lead"))
    move(still_open, "Outreach")
    date_history(still_open, start, start + datetime.timedelta(days=4))
    won = opportunity(contact(), raising, stage("Lead"), expected_amount=Decimal("2000000"))
    move(won, "Committed", commitment_amount=Decimal("2500000"))
    date_history(won, start, start + datetime.timedelta(days=1))

    report = analytics.conversion(member_user, raising)
    rows = {row.stage.name: row for row in report.stages}
    assert "Passed" not in rows  # a lost stage is an outcome, not a step of the funnel
    assert [rows[name].reached for name in ("Lead", "Outreach", "Meeting", "Due diligence", "Committed")] == [
        3,
        3,
        2,
        1,
        1,
    ]
    assert rows["Meeting"].lost_here == 1 and rows["Lead"].lost_here == 0
    assert rows["Meeting"].moved_on == 1 and rows["Meeting"].conversion == Decimal("50.0")
    assert rows["Outreach"].in_stage == 1 and rows["Committed"].won_here == 1
    # Lead: ten days (the lost deal), four (the open one), one (the won one); then six in Meeting.
    assert rows["Lead"].average_days == Decimal("5.0")
    assert rows["Meeting"].average_days == Decimal("6.0")
    assert rows["Funded"].final and rows["Funded"].conversion is None
    assert (report.won, report.won_amount, report.lost, report.lost_amount) == (
        1,
        Decimal("2500000"),
        1,
        Decimal("4000000"),
    )
    assert report.win_rate == Decimal("50.0")
    assert [(r.reason, r.count, r.amount) for r in report.reasons] == [
        ("Allocation full this year", 1, Decimal("4000000"))
    ]


def test_lost_reasons_group_across_spelling_and_blanks_come_last(member_user, raising):
    for reason in ("Ticket too small", "  ticket too SMALL ", "", "Went quiet", "Ticket too small"):
        deal = opportunity(contact(), raising, stage("Meeting"))
        move(deal, "Passed", lost_reason=reason)
    opportunity(contact(), raising, stage("Passed"), lost_reason="Created lost")
    report = analytics.conversion(member_user, raising)
    assert [(r.reason, r.count) for r in report.reasons] == [
        ("Ticket too small", 3),
        ("Created lost", 1),
        ("Went quiet", 1),
        ("No reason given", 1),
    ]
    assert report.lost == 6 and report.lost_at_entry == 1
    assert report.reasons[0].share == Decimal("50.0")


def test_days_so_far_come_from_when_the_deal_last_moved(member_user, raising):
    deal = opportunity(contact(), raising, stage("Due diligence"))
    Opportunity.objects.filter(pk=deal.pk).update(stage_changed_at=timezone.now() - datetime.timedelta(days=12))
    row = next(r for r in analytics.conversion(member_user, raising).stages if r.stage.name == "Due diligence")
    assert row.average_current_days == Decimal("12.0")


def test_the_conversion_section_links_stages_and_shows_the_reasons(member_client, raising):
    deal = opportunity(contact(), raising, stage("Lead"))
    move(deal, "Passed", lost_reason="<script>alert(1)</script> timing")
    page = text(member_client.get(REPORTS))
    conversion = section(page, "conversion")
    assert 'data-figure="lost">1<' in conversion
    assert "&lt;script&gt;alert(1)&lt;/script&gt; timing" in conversion and "<script>alert" not in page
    assert f'href="{reverse("opportunity_list")}?fund={raising.pk}&amp;stage={stage("Lead").pk}"' in conversion


def test_conversion_runs_three_queries_whatever_the_number_of_deals_and_moves(member_user, raising):
    def queries_with(n: int) -> int:
        for i in range(n):
            deal = opportunity(contact(), raising, stage("Lead"))
            move(deal, "Meeting")
            deal.name += " (renamed)"  # a second history row in the same stay
            deal.save()
            move(deal, ["Passed", "Committed", "Due diligence"][i % 3], lost_reason=f"Reason {i % 4}")
        with CaptureQueriesContext(connection) as ctx:
            report = analytics.conversion(member_user, raising)
        assert report.total == Opportunity.objects.filter(fund=raising).count()
        assert next(r for r in report.stages if r.stage.name == "Meeting").average_days is not None
        return len(ctx.captured_queries)

    assert queries_with(2) == queries_with(30) == 3


# --- 3. Team activity ------------------------------------------------------------------------------


def test_team_activity_counts_each_members_months_and_types(member_user, manager_user, raising):
    today = datetime.date(2025, 6, 18)
    person = contact()
    log(person, on(datetime.date(2025, 6, 2)), member_user, CommunicationType.CALL)
    log(person, on(datetime.date(2025, 6, 17)), member_user, CommunicationType.EMAIL)
    log(person, on(datetime.date(2025, 4, 30)), member_user, CommunicationType.MEETING)
    log(person, on(datetime.date(2025, 5, 5)), manager_user, CommunicationType.EMAIL)
    log(person, on(datetime.date(2024, 12, 31)), manager_user)  # before the three months
    log(person, on(datetime.date(2025, 7, 1)), manager_user)  # after today's month
    log(person, on(datetime.date(2025, 6, 1)), None, CommunicationType.NOTE)  # logged by nobody we know
    log(person, on(datetime.date(2025, 6, 3)), manager_user, next_action="Call back", next_action_date=today)
    log(
        person,
        on(datetime.date(2024, 1, 3)),
        manager_user,
        next_action="Send deck",
        next_action_date=datetime.date(2025, 6, 1),
    )

    report = analytics.team_activity(member_user, months=3, today=today)
    assert report.months == [datetime.date(2025, 4, 1), datetime.date(2025, 5, 1), datetime.date(2025, 6, 1)]
    by_name = {m.name: m for m in report.members}
    assert by_name["Max Member"].by_month == [1, 0, 2]
    assert by_name["Mona Manager"].by_month == [0, 1, 1]
    assert by_name["Not recorded"].by_month == [0, 0, 1]
    types = [kind for kind, _ in report.types]
    assert by_name["Max Member"].by_type[types.index("call")] == 1
    assert by_name["Max Member"].by_type[types.index("meeting")] == 1
    assert (by_name["Mona Manager"].open_actions, by_name["Mona Manager"].overdue_actions) == (2, 1)
    assert report.members[-1].name == "Not recorded"
    assert report.month_totals == [1, 1, 4] and report.total == 6
    june = report.chart.columns[-1]
    assert june.total == 4 and {s.kind: s.count for s in june.segments} == {"call": 1, "email": 2, "note": 1}


def test_team_activity_months_begin_at_midnight_in_the_teams_time_zone(member_user, settings):
    settings.TIME_ZONE = "America/New_York"
    person = contact()
    utc = datetime.UTC
    # 22:30 on May 31st in New York is already June 1st in UTC; 00:30 on June 1st in New York is June.
    log(person, datetime.datetime(2025, 6, 1, 2, 30, tzinfo=utc), member_user)
    log(person, datetime.datetime(2025, 6, 1, 4, 30, tzinfo=utc), member_user)
    report = analytics.team_activity(member_user, months=2, today=datetime.date(2025, 6, 18))
    by_name = {m.name: m for m in report.members}
    assert by_name["Max Member"].by_month == [1, 1]


def test_the_whole_active_team_is_listed_even_when_quiet(member_user, manager_user, admin_user):
    report = analytics.team_activity(member_user, months=6)
    assert {m.name for m in report.members} == {"Alice Admin", "Mona Manager", "Max Member"}
    assert all(m.total == 0 for m in report.members) and report.chart.is_empty


def test_the_period_filter_sets_the_months_and_rejects_other_values(member_client):
    page = text(member_client.get(REPORTS, {"months": "3"}))
    assert "Team activity · last 3 months" in page
    assert len(table_rows(page, "team-months")[0]) == 1 + 3 + 1
    for value in ("7", "-3", "6.0", "9" * 5000, "<script>"):
        response = member_client.get(REPORTS, {"months": value})
        assert response.status_code == 200
        page = text(response)
        assert "The period can be 3, 6 or 12 months: showing the last 6." in page
        assert "Team activity · last 6 months" in page


def test_member_cells_link_to_their_communications(member_client, member_user):
    log(contact(), timezone.now(), member_user)
    page = text(member_client.get(REPORTS))
    first_of_month = timezone.localdate().replace(day=1).isoformat()
    assert f"{reverse('communication_list')}?logged_by={member_user.pk}&amp;date_from={first_of_month}" in page


# --- 4. LP concentration ---------------------------------------------------------------------------


def test_concentration_ranks_lps_by_committed_amount_with_their_share(member_user, raising):
    big = lp(contact(organization=org("Atlas Family Office")), investor_type=OrganizationType.FAMILY_OFFICE)
    commitment(big, raising, "6000000")
    commitment(big, raising, "2000000", investing_entity="Atlas Trust")  # one LP, two vehicles
    commitment(lp(investor_type=OrganizationType.PENSION), raising, "2000000", status=CommitmentStatus.HARD_CIRCLE)
    commitment(lp(investor_type=OrganizationType.PENSION), raising, "30000000", status=CommitmentStatus.SOFT_CIRCLE)
    commitment(lp(investor_type=OrganizationType.ENDOWMENT), fund("Fund I", vintage_year=2019), "50000000")
    report = analytics.concentration(member_user, raising)
    assert (report.committed, report.lp_count) == (Decimal("10000000"), 2)
    assert [(row.rank, row.amount, row.share, row.cumulative_share) for row in report.top] == [
        (1, Decimal("8000000"), Decimal("80.0"), Decimal("80.0")),
        (2, Decimal("2000000"), Decimal("20.0"), Decimal("100.0")),
    ]
    assert report.top[0].organization == "Atlas Family Office"
    assert report.top[0].commitments == 2
    assert [(row.label, row.lp_count, row.amount, row.share) for row in report.by_type] == [
        ("Family office", 1, Decimal("8000000"), Decimal("80.0")),
        ("Pension", 1, Decimal("2000000"), Decimal("20.0")),
    ]
    assert report.top_one == Decimal("80.0") and report.top_ten == Decimal("100.0")


def test_only_ten_lps_are_ranked(member_user, raising):
    for n in range(12):
        commitment(lp(), raising, str(1000000 * (n + 1)))
    report = analytics.concentration(member_user, raising)
    assert len(report.top) == 10 and report.lp_count == 12
    assert report.top[0].amount == Decimal("12000000") and report.top[-1].amount == Decimal("3000000")


def climb(c, status: str, amount: str) -> None:
    c.status, c.commitment_amount = status, Decimal(amount)
    if status == CommitmentStatus.WITHDRAWN:
        c.withdrawn_reason = "Timing"
    c.save()


@pytest.fixture
def ladder_book(raising, member_user, manager_user):
    """Soft $12M from three LPs: one signs $3M of $5M, one hard-circles $4M and withdraws, one stays soft."""
    signer = commitment(lp(contact(owner=member_user)), raising, "5000000", status=CommitmentStatus.SOFT_CIRCLE)
    climb(signer, CommitmentStatus.HARD_CIRCLE, "4000000")
    climb(signer, CommitmentStatus.SIGNED, "3000000")
    leaver = commitment(lp(contact(owner=manager_user)), raising, "4000000", status=CommitmentStatus.SOFT_CIRCLE)
    climb(leaver, CommitmentStatus.HARD_CIRCLE, "4000000")
    climb(leaver, CommitmentStatus.WITHDRAWN, "4000000")
    commitment(lp(contact(owner=manager_user)), raising, "3000000", status=CommitmentStatus.SOFT_CIRCLE)
    commitment(lp(), fund("Fund I", vintage_year=2019), "9000000")  # another fund: not counted


def test_the_ladder_shows_conversion_and_shrinkage_between_levels(member_user, manager_user, raising, ladder_book):
    report = analytics.ladder(member_user, raising)
    assert [(v.label, v.count, v.amount, v.count_share, v.amount_share) for v in report.levels] == [
        ("Soft circle", 3, Decimal("12000000"), None, None),
        ("Hard circle", 2, Decimal("8000000"), Decimal("66.7"), Decimal("66.7")),
        ("Signed", 1, Decimal("3000000"), Decimal("50.0"), Decimal("37.5")),
        ("Accepted at a close", 0, Decimal("0"), Decimal("0.0"), Decimal("0.0")),
    ]
    assert (report.withdrawn_count, report.withdrawn_amount) == (1, Decimal("4000000"))
    by_owner = {owner.name: owner for owner in report.owners}
    manager, member = by_owner[manager_user.display_name], by_owner[member_user.display_name]
    assert [v.amount for v in manager.levels[:2]] == [Decimal("7000000"), Decimal("4000000")]
    assert (manager.withdrawn, manager.soft_to_signed) == (1, Decimal("0.0"))
    assert member.soft_to_signed == Decimal("60.0")
    assert report.owners[0] is manager  # the most soft-circled first


def test_the_ladder_section_and_its_export_say_the_same(manager_client, raising, ladder_book):
    html = text(manager_client.get(REPORTS, {"fund": raising.pk}))
    assert 'id="ladder"' in html and 'data-report-table="ladder-owners"' in html
    assert '<span data-figure="dollars">37.5%</span>' in html
    response = manager_client.get(EXPORTS["ladder"], {"fund": raising.pk, "format": "csv"})
    rows = list(csv.reader(csv_lines(response)))
    assert rows[0][:4] == ["Section", "Level", "Commitments", "Amount"]
    assert rows[3][:6] == ["Fund", "Signed", "1", "3000000.00", "50.00", "37.50"]
    assert rows[5][:4] == ["Fund", "Withdrawn or declined", "1", "4000000.00"]


def test_the_concentration_section_links_to_the_dashboard_chart(member_client, raising):
    commitment(lp(investor_type=OrganizationType.PENSION), raising, "5000000")
    page = section(text(member_client.get(REPORTS)), "concentration")
    assert f'href="{reverse("dashboard")}#chart-investors-heading"' in page
    assert f'href="{reverse("lp_list")}?fund={raising.pk}&amp;investor_type=pension"' in page
    assert 'data-figure="top-1">100.0%<' in page


# --- Filters, roles, htmx -----------------------------------------------------------------------


def test_the_fund_being_raised_is_the_default_and_another_can_be_chosen(member_client, raising):
    closed = fund("Fund I", vintage_year=2019, status="closed")
    commitment(lp(), closed, "7000000", commitment_date=datetime.date(2019, 5, 1))
    page = text(member_client.get(REPORTS))
    assert "Fundraising progress · Fund II" in page
    assert f'<option value="{raising.pk}" selected>' in page
    page = text(member_client.get(REPORTS, {"fund": closed.pk}))
    assert "Fundraising progress · Fund I" in page and "May 2019" in page


@pytest.mark.parametrize("value", ["999999", "abc", "<script>", "1 OR 1=1"])
def test_an_unknown_fund_says_so_and_shows_the_default(member_client, raising, value):
    response = member_client.get(REPORTS, {"fund": value})
    assert response.status_code == 200
    page = text(response)
    assert "That fund does not exist (any more): showing the fund being raised instead." in page
    assert "Fundraising progress · Fund II" in page


def test_the_page_and_its_exports_work_without_any_fund_or_data(manager_client):
    page = text(manager_client.get(REPORTS))
    assert page.count("No funds yet.") == 4
    assert "Nothing logged in these months." in page
    total = csv_lines(manager_client.get(EXPORTS["fundraising"]))[1:]
    assert len(total) == 1 and total[0].startswith("Total,0,")
    assert all(not cell or Decimal(cell) == 0 for cell in total[0].split(",")[1:])
    assert 'filename="report-team-last-6-months-' in manager_client.get(EXPORTS["team"])["Content-Disposition"]


def test_names_are_escaped_everywhere(member_client, member_user):
    evil = fund('<img src=x onerror="alert(1)">', vintage_year=2025)
    commitment(lp(contact("<b>Bold</b>", first_name="<i>x</i>")), evil, "1000000")
    page = text(member_client.get(REPORTS))
    assert "<img src=x" not in page and "<b>Bold</b>" not in page
    assert "&lt;b&gt;Bold&lt;/b&gt;" in page
    assert "style=" not in page


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in [REPORTS, *EXPORTS.values()]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_members_read_the_reports_but_cannot_export(member_client, raising):
    page = text(member_client.get(REPORTS))
    assert member_client.get(REPORTS).status_code == 200
    for url in EXPORTS.values():
        assert url not in page
        assert member_client.get(url).status_code == 403
        assert member_client.get(url, {"format": "xlsx"}).status_code == 403


def test_managers_see_an_export_per_report(manager_client, raising):
    page = text(manager_client.get(REPORTS, {"months": "12"}))
    for url in EXPORTS.values():
        assert f'href="{url}?fund={raising.pk}&amp;months=12"' in page
        assert f'href="{url}?fund={raising.pk}&amp;months=12&amp;format=xlsx"' in page


def test_the_htmx_refresh_answers_the_reports_body_only(member_client, raising):
    response = member_client.get(REPORTS, {"fund": raising.pk}, headers=HX)
    page = text(response)
    assert page.lstrip().startswith('<div id="reports-body"')
    assert "<html" not in page and "Fundraising progress · Fund II" in page
    assert "HX-Request" in response["Vary"]
    full = text(member_client.get(REPORTS, {"fund": raising.pk}))
    assert "<html" in full and 'hx-target="#reports-body"' in full and 'method="get"' in full


def test_charts_are_accessible_svg_without_style_attributes(member_client, member_user, raising):
    commitment(lp(), raising, "1000000", commitment_date=timezone.localdate())
    log(contact(), timezone.now(), member_user, CommunicationType.MEETING)
    page = text(member_client.get(REPORTS))
    assert 'role="img" aria-labelledby="chart-fundraising-title chart-fundraising-desc"' in page
    assert 'role="img" aria-labelledby="chart-team-title chart-team-desc"' in page
    assert "style=" not in page
    assert not re.search(r"<[^>]+\son\w+=", page)  # no inline event handlers
    assert "<script>" not in page.split("</head>")[1]


# --- Exports -------------------------------------------------------------------------------------


def test_manager_exports_fundraising_as_csv_matching_the_table(manager_client, raising):
    month = timezone.localdate().replace(day=1)
    commitment(lp(), raising, "3000000", commitment_date=month)
    commitment(lp(), raising, "1500000", status=CommitmentStatus.SOFT_CIRCLE, commitment_date=month)
    response = manager_client.get(EXPORTS["fundraising"], {"fund": raising.pk})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="report-fundraising-fund-ii-' in response["Content-Disposition"]
    lines = csv_lines(response)
    assert lines[0].startswith("Month,New commitments,Committed in month,Cumulative committed,% of target")
    expected = [Decimal(v) for v in ("1", "3000000", "3000000", "3.0", "1", "1500000", "1500000")]
    assert lines[1].split(",")[0] == month.isoformat()
    assert [Decimal(v) for v in lines[1].split(",")[1:]] == expected
    assert lines[-1].split(",")[0] == "Total"
    assert [Decimal(v) for v in lines[-1].split(",")[1:]] == expected

    shown = table_rows(text(manager_client.get(REPORTS, {"fund": raising.pk})), "fundraising")
    exported = [line.split(",") for line in lines[1:]]
    assert len(shown) == len(exported)
    for seen, written in zip(shown, exported, strict=True):
        assert [amount(cell) for cell in (seen[1], seen[2], seen[3], seen[5], seen[6], seen[7])] == [
            Decimal(written[i] or 0) for i in (1, 2, 3, 5, 6, 7)
        ]


def test_conversion_export_rows_match_the_funnel_table(manager_client, raising):
    deal = opportunity(contact(), raising, stage("Lead"))
    move(deal, "Meeting")
    move(deal, "Passed", lost_reason="Timing")
    opportunity(contact(), raising, stage("Outreach"))
    page = text(manager_client.get(REPORTS))
    shown = table_rows(page, "conversion")
    lines = csv_lines(manager_client.get(EXPORTS["conversion"]))
    stages = [line.split(",") for line in lines[1:] if line.startswith("Stages,")]
    assert [row[0] for row in shown] == [row[1] for row in stages]
    for seen, written in zip(shown, stages, strict=True):
        assert seen[1].split()[0] == written[2]  # reached
        assert [seen[2], seen[4], seen[5]] == [written[3], written[5], written[6]]  # moved on, lost, in stage
    by_item = {tuple(line.split(",")[:2]): line.split(",")[2:] for line in lines[1:]}
    assert by_item[("Lost reasons", "Timing")][:8] == [""] * 8
    assert [Decimal(v) for v in by_item[("Lost reasons", "Timing")][8:]] == [1, Decimal("1000000")]
    assert [Decimal(v) for v in by_item[("Outcome", "Lost")][8:]] == [1, Decimal("1000000")]


def test_team_export_has_the_months_types_and_actions_the_tables_show(manager_client, manager_user):
    log(contact(), timezone.now(), manager_user, CommunicationType.CALL, next_action="Follow up")
    page = text(manager_client.get(REPORTS, {"months": "3"}))
    lines = csv_lines(manager_client.get(EXPORTS["team"], {"months": "3"}))
    header = lines[0].split(",")
    assert header[0] == "Team member" and len(header) == 1 + 3 + 1 + 5 + 2
    mona = next(line.split(",") for line in lines if line.startswith("Mona Manager,"))
    assert mona[1:5] == ["0", "0", "1", "1"]
    assert mona[5 + header[5:10].index("Call")] == "1"
    assert mona[-2:] == ["1", "0"]
    shown = next(row for row in table_rows(page, "team-months") if row[0] == "Mona Manager")
    assert shown[1:] == mona[1:5]


def test_concentration_exports_as_xlsx_with_real_numbers(manager_client, raising):
    commitment(
        lp(contact("Haddad", first_name="Amira"), investor_type=OrganizationType.SOVEREIGN_WEALTH), raising, "25000000"
    )
    commitment(lp(contact("=cmd", first_name="@evil")), raising, "5000000")
    response = manager_client.get(EXPORTS["concentration"], {"fund": raising.pk, "format": "xlsx"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Section", "Rank", "LP")
    assert rows[1][1:3] == (1, "Amira Haddad") and rows[1][6] == 25000000 and isinstance(rows[1][6], int | float)
    assert rows[1][7] == pytest.approx(83.3)
    assert rows[2][2] == "'@evil =cmd"  # a formula-looking name stays text
    assert rows[-1][0] == "Total" and rows[-1][6] == 30000000


# --- Speed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_the_page_runs_a_fixed_number_of_queries(member_client, member_user, manager_user, headers):
    funds = [fund("Fund I", vintage_year=2019, status="closed", target_size=Decimal("50000000")), fund("Fund II")]
    today = timezone.localdate()

    def queries_with(n: int) -> int:
        for i in range(n):
            person = contact()
            deal = opportunity(person, funds[1], stage("Lead"))
            move(deal, "Meeting")
            if i % 3 == 0:
                move(deal, "Passed", lost_reason=f"Reason {i % 4}")
            profile = lp(person, investor_type=OrganizationType.PENSION if i % 2 else OrganizationType.ENDOWMENT)
            commitment(profile, funds[1], "1000000", commitment_date=today - datetime.timedelta(days=40 * i))
            commitment(profile, funds[0], "2000000", status=CommitmentStatus.SOFT_CIRCLE)
            log(person, timezone.now() - datetime.timedelta(days=20 * i), [member_user, manager_user][i % 2])
            log(person, timezone.now(), None, next_action="Call", next_action_date=today - datetime.timedelta(days=1))
        with CaptureQueriesContext(connection) as ctx:
            assert member_client.get(REPORTS, {"fund": funds[1].pk, "months": "12"}, headers=headers).status_code == 200
        return len(ctx.captured_queries)

    small = queries_with(2)
    assert small == queries_with(25)
    assert small <= 19  # 18, and the sidebar's saved views


@pytest.mark.parametrize("report", list(EXPORTS))
def test_each_export_runs_a_fixed_number_of_queries(manager_client, manager_user, report):
    raising = fund("Fund II")

    def queries_with(n: int) -> int:
        for _ in range(n):
            person = contact()
            deal = opportunity(person, raising, stage("Outreach"))
            move(deal, "Due diligence")
            commitment(lp(person), raising, "1000000", commitment_date=timezone.localdate())
            log(person, timezone.now(), manager_user)
        with CaptureQueriesContext(connection) as ctx:
            response = manager_client.get(EXPORTS[report], {"format": "xlsx"})
            assert response.status_code == 200
        return len(ctx.captured_queries)

    assert queries_with(1) == queries_with(15)


def test_axis_maximums_are_round_numbers():
    assert nice_ceiling(Decimal("208000000")) == (Decimal("250000000"), Decimal("50000000"))
    assert nice_ceiling(Decimal("86320000")) == (Decimal("100000000"), Decimal("20000000"))
    assert nice_ceiling(12, whole=True) == (Decimal("15"), Decimal("5"))
    assert nice_ceiling(0) == (Decimal("1"), Decimal("1"))
