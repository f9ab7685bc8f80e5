"""The dashboard: KPI cards with links, the SVG charts, recent activity, stage changes, export."""

from __future__ import annotations

import datetime
import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from contacts.models import ContactType, OrganizationType
from crm.testing.factories import action, comm, commitment, contact, fund, lp, opportunity, stage
from lps.models import CommitmentStatus
from reports.charts import Bar, BarChart
from reports.dashboard import month_start, soft_url

DASHBOARD = reverse("dashboard")


def text(response) -> str:
    return response.content.decode()


def kpi(html: str, name: str) -> str:
    match = re.search(rf'data-kpi="{re.escape(name)}">([^<]+)<', html)
    assert match, f"no {name} KPI"
    return match.group(1)


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</section>", start)]


def test_dashboard_shows_the_demo_figures(admin_client):
    call_command("seed_demo", stdout=io.StringIO())
    html = text(admin_client.get(DASHBOARD))
    assert kpi(html, "lp-count") == "6"
    assert kpi(html, "pipeline-expected") == "$40M"
    fund_one = html[html.index('data-fund-kpi="Fund I"') : html.index('data-fund-kpi="Fund II"')]
    assert re.search(r'data-kpi="committed-\d+">\$83M<', fund_one)
    assert "Fund II pipeline by stage" in html
    # The charts carry the demo money: $12M in due diligence, $25M in each fund from the sovereign wealth LP.
    assert "Due diligence: $12M · 1 opportunity" in html
    assert "Sovereign wealth: $50M · 1 LP" in html


def test_kpi_cards_link_to_their_lists_already_filtered(member_client):
    raising = fund("Fund II", target_size=Decimal("150000000"))
    commitment(lp(), raising, "2000000")
    contact(contact_type=ContactType.PROSPECT)
    html = text(member_client.get(DASHBOARD))
    assert f'href="{reverse("lp_list")}"' in html
    assert f'href="{reverse("lp_list")}?fund={raising.pk}"' in html
    start = month_start().date().isoformat()
    assert f'href="{reverse("communication_list")}?date_from={start}"' in html
    for name, query in (("contact_list", "type=prospect"), ("pipeline_board", f"fund={raising.pk}")):
        url = soft_url(name)
        if url:  # built by another part of the app; linked only once it exists
            assert f'href="{url}?{query}"' in html


def test_list_links_leave_out_blank_filters():
    assert soft_url("lp_list", fund=3, investor_type="") == f"{reverse('lp_list')}?fund=3"


def test_filtered_links_show_what_the_card_counts(member_client):
    person = contact()
    comm(person, subject="This month", days_ago=0)
    comm(person, subject="Long ago", days_ago=90)
    html = text(member_client.get(DASHBOARD))
    assert kpi(html, "communications-month") == "1"
    link = re.search(r'href="(/communications/\?date_from=[^"]+)"', html).group(1)
    listing = text(member_client.get(link))
    assert "This month" in listing and "Long ago" not in listing


def test_soft_circles_are_not_counted_as_committed(member_client):
    raising = fund("Fund II")
    commitment(lp(), raising, "5000000", status=CommitmentStatus.SIGNED)
    commitment(lp(), raising, "7000000", status=CommitmentStatus.SOFT_CIRCLE)
    html = text(member_client.get(DASHBOARD))
    assert kpi(html, f"committed-{raising.pk}") == "$5M"
    assert "+$7M soft" in html


def test_pipeline_value_counts_open_opportunities_of_the_fund_being_raised(member_client):
    closed = fund("Fund I", vintage_year=2019, status="closed")
    raising = fund("Fund II", vintage_year=2025)
    person = contact()
    opportunity(person, raising, stage("Meeting"), expected_amount=Decimal("6000000"), probability=50)
    opportunity(person, raising, stage("Passed"), expected_amount=Decimal("9000000"))
    opportunity(person, closed, stage("Lead"), expected_amount=Decimal("1000000"))
    html = text(member_client.get(DASHBOARD))
    assert kpi(html, "pipeline-expected") == "$6M"
    assert kpi(html, "pipeline-weighted") == "$3M"
    assert kpi(html, "open-opportunities") == "2"


# --- Charts --------------------------------------------------------------------------------------


def test_charts_are_svg_with_titles_and_no_style_attributes(member_client):
    raising = fund("Fund II")
    person = contact()
    opportunity(person, raising, stage("Lead"), expected_amount=Decimal("2000000"))
    opportunity(person, raising, stage("Meeting"), expected_amount=Decimal("8000000"))
    commitment(lp(investor_type=OrganizationType.PENSION), raising, "4000000")
    html = text(member_client.get(DASHBOARD))
    assert html.count('<svg class="chart-svg"') == 2
    assert '<title id="chart-pipeline-title">Fund II pipeline by stage</title>' in html
    assert '<title id="chart-investor-types-title">Commitments by investor type</title>' in html
    assert 'role="img" aria-labelledby="chart-pipeline-title chart-pipeline-desc"' in html
    assert "style=" not in html
    assert "<script>" not in html.split("</head>")[1]


def test_bar_lengths_are_proportional_to_the_amounts():
    chart = BarChart(
        title="t",
        slug="t",
        bars=[Bar("Big", Decimal("8000000"), 2), Bar("Small", Decimal("2000000"), 1), Bar("None", Decimal("0"), 0)],
    )
    big, small, none = chart.bars
    assert big.width == chart.track_width
    assert small.width == pytest.approx(chart.track_width / 4, abs=0.1)
    assert none.width == 0
    assert small.y > big.y and chart.height > none.y
    assert big.caption == "$8M · 2 items" and small.caption == "$2M · 1 item"
    assert "Big: $8M · 2 items" in chart.description


def test_chart_bars_link_to_the_filtered_lists(member_client):
    raising = fund("Fund II")
    opportunity(contact(), raising, stage("Lead"))
    commitment(lp(investor_type=OrganizationType.ENDOWMENT), raising, "1000000")
    html = text(member_client.get(DASHBOARD))
    assert f'href="{reverse("lp_list")}?investor_type=endowment"' in html
    url = soft_url("opportunity_list")
    if url:
        assert f'href="{url}?fund={raising.pk}&amp;stage={stage("Lead").pk}"' in html


def test_empty_dashboard_renders(member_client):
    response = member_client.get(DASHBOARD)
    assert response.status_code == 200
    html = text(response)
    assert "No funds yet" in html and "No commitments yet." in html and "Nothing logged yet." in html


# --- Activity ------------------------------------------------------------------------------------


def test_recent_stage_changes_say_who_moved_what_from_where_to_where(member_client, member_user, manager_user):
    deal = opportunity(contact(), fund("Fund II"), stage("Lead"), name="Atlas into Fund II")
    deal._history_user = member_user
    deal.stage = stage("Meeting")
    deal.save()
    deal._history_user = manager_user
    deal.stage = stage("Due diligence")
    deal.save()
    deal._history_user = manager_user
    deal.next_step = "Not a stage change"
    deal.save()
    moves = section(text(member_client.get(DASHBOARD)), "moves-heading")
    assert moves.count('class="stage-move"') == 2
    first, second = moves.split('class="stage-move"')[1:]
    assert "Mona Manager" in first and ">Meeting</span>" in first and ">Due diligence</span>" in first
    assert "Max Member" in second and ">Lead</span>" in second and ">Meeting</span>" in second
    assert "Atlas into Fund II" in first


def test_upcoming_actions_put_mine_first(member_client, member_user, manager_user):
    person = contact()
    action(person, 1, by=manager_user, next_action="Mona's earlier action")
    action(person, 5, by=member_user, next_action="My later action")
    actions = section(text(member_client.get(DASHBOARD)), "dash-actions")
    assert actions.index("My later action") < actions.index("Mona&#x27;s earlier action")
    assert "Done" in actions and "Reschedule" in actions


def test_recent_communications_refresh_themselves_from_the_dashboard(member_client):
    comm(contact(), subject="Fresh entry", days_ago=0)
    response = member_client.get(DASHBOARD, headers=HX)
    html = text(response)
    recent = section(html, "dash-recent")
    assert "Fresh entry" in recent
    assert 'hx-select="#dash-recent"' in html and 'hx-trigger="communicationsChanged from:body"' in html


def test_this_month_starts_in_the_team_time_zone(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    now = datetime.datetime(2025, 3, 31, 16, 0, tzinfo=datetime.UTC)  # April 1st, 01:00 in Tokyo
    start = month_start(now)
    assert (start.year, start.month, start.day, start.hour) == (2025, 4, 1, 0)


# --- Speed and export ----------------------------------------------------------------------------


def test_dashboard_runs_a_fixed_number_of_queries(member_client, member_user):
    funds = [fund("Fund I", vintage_year=2019, status="closed"), fund("Fund II", vintage_year=2025)]

    def queries_with(n: int) -> int:
        for i in range(n):
            person = contact()
            deal = opportunity(person, funds[i % 2], stage("Lead"))
            deal._history_user = member_user
            deal.stage = stage("Meeting")
            deal.save()
            commitment(lp(person, investor_type=OrganizationType.PENSION), funds[0], "1000000")
            action(person, i - 2, by=member_user)
        with CaptureQueriesContext(connection) as ctx:
            assert member_client.get(DASHBOARD).status_code == 200
        return len(ctx.captured_queries)

    small = queries_with(2)
    assert small == queries_with(20)
    assert small <= 22  # + the stale card: its thresholds and one aggregate (issue 17)


def test_manager_exports_the_dashboard_figures(manager_client):
    raising = fund("Fund II")
    commitment(lp(investor_type=OrganizationType.PENSION), raising, "3000000")
    opportunity(contact(), raising, stage("Lead"), expected_amount=Decimal("2000000"))
    response = manager_client.get(reverse("dashboard_export"))
    lines = b"".join(response.streaming_content).decode("utf-8-sig").strip().splitlines()
    assert lines[0] == "Section,Item,Count,Amount"
    # Money to the cent on every database (SQLite and PostgreSQL return different scales).
    assert "Fund II,Committed,1,3000000.00" in lines
    assert "Fund II pipeline,Expected,1,2000000.00" in lines
    assert "Commitments by investor type,Pension,1,3000000.00" in lines
    xlsx = manager_client.get(reverse("dashboard_export"), {"format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_member_cannot_export_the_dashboard(member_client):
    assert member_client.get(reverse("dashboard_export")).status_code == 403


def test_export_button_only_for_managers(client, member_user, manager_user):
    client.force_login(member_user)
    assert reverse("dashboard_export") not in text(client.get(DASHBOARD))
    client.force_login(manager_user)
    assert reverse("dashboard_export") in text(client.get(DASHBOARD))


def test_dashboard_logs_with_the_dialog(member_client):
    html = text(member_client.get(DASHBOARD))
    assert f'hx-get="{reverse("communication_create")}"' in html


def test_open_deals_past_their_close_date_are_counted_and_linked_to_the_filtered_list(member_client):
    raising = fund("Fund II")
    today = timezone.localdate()
    for at_stage, close in (
        ("Meeting", today - datetime.timedelta(days=1)),  # late: counted
        ("Lead", today - datetime.timedelta(days=40)),  # late: counted
        ("Meeting", today),  # due today: not late yet
        ("Meeting", None),
        ("Committed", today - datetime.timedelta(days=5)),  # won: closed already
        ("Passed", today - datetime.timedelta(days=5)),  # lost: nothing to chase
    ):
        opportunity(contact(), raising, stage(at_stage), expected_close_date=close)
    html = text(member_client.get(DASHBOARD))

    assert kpi(html, "overdue-close") == "2"
    link = f"{reverse('opportunity_list')}?overdue_close=on"
    assert f'href="{link}"' in html
    listed = text(member_client.get(link))
    assert len(re.findall(r'<td><a href="/pipeline/opportunities/\d+/"', listed)) == 2
