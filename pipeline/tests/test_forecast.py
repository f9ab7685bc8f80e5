"""A forecast that means what it says: won deals weigh 100%, lost deals 0% and stay out of the
list's totals unless the filter asks for them, and open deals past their expected close date
are flagged on the board, the list and the dashboard."""

from __future__ import annotations

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import HX
from pipeline.models import Opportunity
from pipeline.tests.test_board_view import column_html

pytestmark = pytest.mark.django_db

BOARD = "/pipeline/"
CARDS = "/pipeline/cards/"
LIST = "/pipeline/opportunities/"
EXPORT = "/pipeline/opportunities/export/"


def days_from_today(days: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


def footer(html: str) -> str:
    return html[html.index("<tfoot>") : html.index("</tfoot>")]


def row_of(html: str, opportunity: Opportunity) -> str:
    start = html.index(f'<td><a href="/pipeline/opportunities/{opportunity.pk}/"')
    return html[start : html.index("</tr>", start)]


# --- won at 100%, lost at 0% -------------------------------------------------------------


def test_a_won_deal_weighs_its_whole_amount_though_its_stage_says_90_percent(make_opportunity, stages):
    assert stages["Committed"].default_probability == 90
    won = make_opportunity("Committed", expected_amount=Decimal("12000000"))
    assert won.probability == 90  # the typed value stays as it was

    assert won.effective_probability == 100
    assert won.weighted_amount == Decimal("12000000")
    assert Opportunity.objects.totals()["weighted"] == Decimal("12000000.00")


def test_a_lost_deal_weighs_nothing_whatever_probability_it_was_typed_with(make_opportunity):
    lost = make_opportunity("Passed", expected_amount=Decimal("5000000"), probability=60)

    assert lost.effective_probability == 0
    assert lost.weighted_amount == 0
    assert Opportunity.objects.totals() == {"count": 1, "expected": Decimal("5000000"), "weighted": Decimal("0.00")}


def test_an_open_deal_still_weighs_its_own_probability(make_opportunity):
    make_opportunity("Meeting", expected_amount=Decimal("1000001"), probability=33)
    assert Opportunity.objects.totals()["weighted"] == Decimal("330000.33")


def test_the_won_column_header_shows_the_full_amount_weighted(member_client, fund, stages, make_opportunity):
    make_opportunity("Committed", expected_amount=Decimal("6000000"))
    make_opportunity("Committed", expected_amount=Decimal("6000000"), probability=50)
    make_opportunity("Meeting", expected_amount=Decimal("1000000"), probability=40)
    html = member_client.get(BOARD).content.decode()

    committed = column_html(html, stages["Committed"])
    assert "$12M weighted" in committed and "$10.8M" not in committed
    assert 'Probability-weighted: $12,000,000"' in committed
    assert "weighted at 100%" in committed
    assert "$400K weighted" in column_html(html, stages["Meeting"])


def test_the_list_and_its_export_weigh_won_and_lost_deals_by_outcome(member_client, manager_client, make_opportunity):
    won = make_opportunity("Committed", expected_amount=Decimal("2000000"))
    lost = make_opportunity("Passed", expected_amount=Decimal("3000000"), probability=50)
    html = member_client.get(LIST).content.decode()

    assert '>100%</td>\n        <td class="num">$2,000,000</td>' in row_of(html, won)
    assert '>0%</td>\n        <td class="num">$0</td>' in row_of(html, lost)
    assert '<td class="num">$2,000,000</td>' in footer(html)

    text = b"".join(manager_client.get(EXPORT).streaming_content).decode("utf-8-sig")
    weighted = {row["Stage"]: Decimal(row["Weighted amount"]) for row in csv.DictReader(io.StringIO(text))}
    assert weighted == {"Committed": Decimal("2000000"), "Passed": Decimal("0")}


def test_sorting_by_probability_follows_what_the_deal_weighs(member_client, make_opportunity):
    won = make_opportunity("Committed", probability=10)
    meeting = make_opportunity("Meeting", probability=50)
    html = member_client.get(LIST, {"o": "-probability"}).content.decode()
    ids = [int(pk) for pk in re.findall(r'<td><a href="/pipeline/opportunities/(\d+)/"', html)]
    assert ids == [won.pk, meeting.pk]


# --- passed deals and the list's totals ---------------------------------------------------


def test_the_list_total_leaves_out_passed_deals_unless_the_filter_asks_for_them(
    member_client, stages, make_opportunity
):
    make_opportunity("Meeting", expected_amount=Decimal("1000000"), probability=40)
    make_opportunity("Passed", expected_amount=Decimal("7000000"))

    everything = footer(member_client.get(LIST).content.decode())
    assert "2 opportunities matching" in everything  # both listed…
    assert '<td class="num">$1,000,000</td>' in everything  # …one counted
    assert '<td class="num">$400,000</td>' in everything
    assert "Totals leave out 1 passed" in everything

    for query in ({"outcome": "lost"}, {"stage": stages["Passed"].pk}):
        passed = footer(member_client.get(LIST, query).content.decode())
        assert "1 opportunity matching" in passed
        assert '<td class="num">$7,000,000</td>' in passed
        assert "leave out" not in passed


def test_with_no_passed_deal_the_totals_carry_no_note(member_client, make_opportunity):
    make_opportunity("Meeting", expected_amount=Decimal("1000000"))
    assert "leave out" not in footer(member_client.get(LIST).content.decode())


# --- expected close dates already past ------------------------------------------------------


def test_an_open_deal_past_its_close_date_is_flagged_on_its_card_and_one_due_today_is_not(
    member_client, stages, make_opportunity
):
    late = make_opportunity("Meeting", expected_close_date=days_from_today(-1))
    today = make_opportunity("Meeting", expected_close_date=days_from_today(0))
    won_late = make_opportunity("Committed", expected_close_date=days_from_today(-30))
    html = member_client.get(BOARD).content.decode()

    def card(opportunity) -> str:
        start = html.index(f'data-id="{opportunity.pk}"')
        return html[start : html.index("</li>", start)]

    assert "data-close-overdue" in card(late) and "Close date passed" in card(late)
    assert "data-close-overdue" not in card(today)
    assert "data-close-overdue" not in card(won_late)  # a won deal has closed: nothing to chase


def test_cards_loaded_later_are_flagged_too(member_client, fund, stages, make_opportunity):
    for _ in range(51):
        make_opportunity("Meeting")
    late = make_opportunity("Meeting", expected_close_date=days_from_today(-3))
    html = member_client.get(
        CARDS, {"fund": fund.pk, "stage": stages["Meeting"].pk, "offset": 50}, headers=HX
    ).content.decode()
    start = html.index(f'data-id="{late.pk}"')
    assert "data-close-overdue" in html[start : html.index("</li>", start)]


def test_the_list_flags_a_close_date_that_has_passed(member_client, make_opportunity):
    late = make_opportunity("Meeting", expected_close_date=days_from_today(-1))
    today = make_opportunity("Meeting", expected_close_date=days_from_today(0))
    lost_late = make_opportunity("Passed", expected_close_date=days_from_today(-9))
    html = member_client.get(LIST).content.decode()

    assert "data-close-overdue" in row_of(html, late)
    assert "data-close-overdue" not in row_of(html, today)
    assert "data-close-overdue" not in row_of(html, lost_late)


def test_the_overdue_close_filter_lists_open_deals_past_their_close_date_only(member_client, make_opportunity):
    late = make_opportunity("Meeting", expected_close_date=days_from_today(-1))
    make_opportunity("Meeting", expected_close_date=days_from_today(0))
    make_opportunity("Meeting")
    make_opportunity("Committed", expected_close_date=days_from_today(-5))
    make_opportunity("Passed", expected_close_date=days_from_today(-5))

    html = member_client.get(LIST, {"overdue_close": "on"}).content.decode()
    assert re.findall(r'<td><a href="/pipeline/opportunities/(\d+)/"', html) == [str(late.pk)]
    assert re.search(r'<input type="checkbox" name="overdue_close"[^>]* checked', html), "the box stays ticked"
    assert len(re.findall(r'<td><a href="/pipeline/opportunities/', member_client.get(LIST).content.decode())) == 5


def test_flagging_cards_costs_no_query_per_card(member_client, fund, stages, make_contact):
    def add(count: int) -> None:
        contact = make_contact()
        Opportunity.objects.bulk_create(
            Opportunity(
                name=f"Deal {i}", contact=contact, fund=fund, stage=stage, position=i,
                expected_amount=Decimal("1"), probability=10, expected_close_date=days_from_today(-2),
            )
            for stage in (stages["Meeting"], stages["Committed"])
            for i in range(count)
        )  # fmt: skip

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            html = member_client.get(BOARD).content.decode()
        assert "data-close-overdue" in html
        return len(captured)

    add(3)
    small = queries()
    add(30)
    assert queries() == small
