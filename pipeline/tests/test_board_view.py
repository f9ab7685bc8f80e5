"""The board page: one fund's columns, cards, totals and fund header, its filters, and a
fixed number of queries however many cards it shows."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import HX
from crm.models import Role
from lps.models import Commitment, CommitmentStatus, Fund, FundStatus, LPProfile
from pipeline.models import Opportunity, Priority
from pipeline.tests.conftest import days_ago

pytestmark = pytest.mark.django_db

BOARD = "/pipeline/"


def column_html(html: str, stage) -> str:
    start = html.index(f'<form id="column-{stage.pk}"')
    return html[start : html.index("</form>", start)]


def card_ids(html: str, stage) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="board-card[^"]*" data-id="(\d+)"', column_html(html, stage))]


@pytest.mark.parametrize("htmx", [False, True])
def test_every_role_sees_the_board(any_role_client, fund, stages, make_opportunity, htmx):
    card = make_opportunity("Meeting")
    response = any_role_client.get(BOARD, headers=HX if htmx else {})
    html = response.content.decode()

    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    assert card_ids(html, stages["Meeting"]) == [card.pk]
    if htmx:
        assert html.lstrip().startswith('<div id="board-body"')
        assert "<html" not in html
    else:
        assert "<html" in html and "sortablejs-1.15.7.min.js" in html and "js/board.js" in html


def test_sortable_and_board_js_load_only_on_the_board(member_client, fund, make_opportunity):
    card = make_opportunity("Lead")
    for url in ("/pipeline/opportunities/", f"/pipeline/opportunities/{card.pk}/", "/"):
        html = member_client.get(url).content.decode()
        assert "sortablejs" not in html and "js/board.js" not in html


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(BOARD)
    assert response.status_code == 302 and response["Location"] == "/login/?next=/pipeline/"


def test_columns_are_the_open_and_won_stages_in_order_and_passed_is_collapsed(
    member_client, fund, stages, make_opportunity
):
    make_opportunity("Passed", expected_amount=Decimal("3000000"), lost_reason="Over-allocated")
    make_opportunity("Passed", expected_amount=Decimal("1000000"), lost_reason="Timing")
    html = member_client.get(BOARD).content.decode()

    titles = re.findall(r'<h3 class="board-column-title"[^>]*>([^<]+)</h3>', html)
    assert titles == ["Lead", "Outreach", "Meeting", "Due diligence", "Committed", "Funded", "Passed"]
    passed = column_html(html, stages["Passed"])
    assert "board-column--collapsed" in html[html.index(f'<form id="column-{stages["Passed"].pk}"') :][:300]
    assert 'data-count title="2 opportunities">2<' in passed
    assert "$4M" in passed
    assert card_ids(html, stages["Passed"]) == [], "passed cards are counted, not shown"
    assert f"/pipeline/opportunities/?fund={fund.pk}&amp;stage={stages['Passed'].pk}" in passed


def test_a_stage_added_in_the_admin_becomes_a_column(member_client, fund, stages, make_opportunity):
    from pipeline.models import Stage

    pitch = Stage.objects.create(name="Pitch", order=25, default_probability=30)
    make_opportunity(pitch)
    html = member_client.get(BOARD).content.decode()
    titles = re.findall(r'<h3 class="board-column-title"[^>]*>([^<]+)</h3>', html)
    assert titles[:4] == ["Lead", "Outreach", "Pitch", "Meeting"]


def test_cards_keep_their_column_order(member_client, fund, stages, make_opportunity):
    a = make_opportunity("Lead", position=2)
    b = make_opportunity("Lead", position=0)
    c = make_opportunity("Lead", position=1)
    html = member_client.get(BOARD).content.decode()
    assert card_ids(html, stages["Lead"]) == [b.pk, c.pk, a.pk]


def test_a_card_shows_who_what_and_when(member_client, member_user, fund, stages, make_opportunity, make_contact):
    contact = make_contact("Ada", "Okafor", organization="Atlas Family Office")
    make_opportunity(
        "Meeting",
        contact=contact,
        expected_amount=Decimal("2500000"),
        owner=member_user,
        priority=Priority.HIGH,
        next_step="Send the PPM",
        next_step_date=timezone.localdate() - datetime.timedelta(days=2),
        stage_changed_at=days_ago(9),
    )
    card = column_html(member_client.get(BOARD).content.decode(), stages["Meeting"])

    assert "Ada Okafor" in card
    assert "Atlas Family Office" in card
    assert "$2.5M" in card and "$2,500,000" in card  # short on the card, exact in its tooltip
    assert "MM" in card and "Owner: Max Member" in card
    assert "High" in card
    assert "Send the PPM" in card
    assert ">9d<" in card
    assert "board-card-due is-overdue" in card
    assert "Move to…" in card


def test_a_future_next_step_is_not_overdue(member_client, fund, stages, make_opportunity):
    make_opportunity("Meeting", next_step_date=timezone.localdate() + datetime.timedelta(days=3))
    card = column_html(member_client.get(BOARD).content.decode(), stages["Meeting"])
    assert "board-card-due" in card and "is-overdue" not in card


def test_names_are_escaped_on_the_board(member_client, fund, stages, make_opportunity, make_contact):
    contact = make_contact("<script>alert(1)</script>", "O'Hara", organization="<b>Evil</b> Org")
    make_opportunity("Lead", contact=contact, next_step="<img src=x onerror=alert(1)>")
    html = member_client.get(BOARD).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>Evil</b>" not in html


def test_column_headers_show_count_expected_and_weighted(member_client, fund, stages, make_opportunity):
    make_opportunity("Due diligence", expected_amount=Decimal("10000000"), probability=60)
    make_opportunity("Due diligence", expected_amount=Decimal("2000000"), probability=50)
    column = column_html(member_client.get(BOARD).content.decode(), stages["Due diligence"])
    assert 'data-count title="2 opportunities">2<' in column
    assert re.search(r"data-expected[^>]*>\$12M<", column)
    assert re.search(r"data-weighted[^>]*>\$7M weighted<", column)


def test_fund_header_counts_hard_circles_and_beyond_and_shows_soft_circles_apart(
    member_client, fund, make_opportunity, make_contact
):
    def commit(status, amount):
        lp = LPProfile.objects.create(contact=make_contact())
        Commitment.objects.create(lp=lp, fund=fund, status=status, commitment_amount=Decimal(amount))

    commit(CommitmentStatus.HARD_CIRCLE, "30000000")
    commit(CommitmentStatus.CLOSED, "15000000")
    commit(CommitmentStatus.SOFT_CIRCLE, "20000000")
    make_opportunity("Meeting", expected_amount=Decimal("10000000"), probability=40)
    make_opportunity("Passed", expected_amount=Decimal("50000000"), probability=0)

    html = member_client.get(BOARD).content.decode()
    header = re.search(r'<section id="board-header".*?</section>', html, re.S).group(0)
    figure = dict(re.findall(r'data-figure="([\w-]+)"[^>]*>([^<]+)<', header))
    assert figure["committed"] == "$45M"
    assert figure["soft-circled"] == "$20M"
    assert figure["weighted"] == "$4M"
    assert figure["forecast"] == "$49M"
    assert figure["target"] == "$150M" and figure["hard-cap"] == "$200M"
    assert "<strong>30%</strong> committed" in header  # 45 of 150
    assert "progress-bar w-30" in header
    assert "<strong>22%</strong> of hard cap" in header
    assert "progress-bar w-20" in header
    assert "style=" not in html


def test_the_board_opens_on_the_fund_being_raised_and_switches_funds(
    member_client, fund, other_fund, stages, make_opportunity
):
    raising = make_opportunity("Lead")
    closed = make_opportunity("Committed", fund_obj=other_fund)

    html = member_client.get(BOARD).content.decode()
    assert card_ids(html, stages["Lead"]) == [raising.pk]
    assert card_ids(html, stages["Committed"]) == []
    assert f'<option value="{fund.pk}" selected>' in html

    html = member_client.get(f"{BOARD}?fund={other_fund.pk}").content.decode()
    assert card_ids(html, stages["Committed"]) == [closed.pk]
    assert card_ids(html, stages["Lead"]) == []


@pytest.mark.parametrize("value", ["abc", "999999", "-1", "1 OR 1=1"])
def test_a_bad_fund_parameter_falls_back_to_the_current_fund(member_client, fund, make_opportunity, value):
    make_opportunity("Lead")
    response = member_client.get(BOARD, {"fund": value})
    assert response.status_code == 200
    assert f'<option value="{fund.pk}" selected>' in response.content.decode()


def test_no_fund_yet_shows_how_to_add_one(client, admin_user, member_user):
    client.force_login(admin_user)
    assert "Add a fund in the admin" in client.get(BOARD).content.decode()
    client.force_login(member_user)
    html = client.get(BOARD).content.decode()
    assert "No funds yet" in html and "An admin adds funds" in html


def test_filters_by_owner_priority_and_search(
    member_client, member_user, manager_user, fund, stages, make_opportunity, make_contact
):
    mine = make_opportunity("Lead", owner=member_user, priority=Priority.HIGH)
    theirs = make_opportunity("Lead", owner=manager_user, priority=Priority.LOW)
    atlas = make_opportunity("Lead", contact=make_contact("Ada", "Okafor", organization="Atlas Family Office"))
    unowned = make_opportunity("Lead", owner=None)

    def shown(**params):
        return set(card_ids(member_client.get(BOARD, params).content.decode(), stages["Lead"]))

    assert shown(owner=member_user.pk) == {mine.pk}
    assert shown(owner="null") == {atlas.pk, unowned.pk}
    assert shown(priority="low") == {theirs.pk}
    assert shown(q="atlas") == {atlas.pk}
    assert shown(q="ada okafor") == {atlas.pk}
    assert shown(q="nobody by that name") == set()
    assert shown(priority="nonsense") == {mine.pk, theirs.pk, atlas.pk, unowned.pk}


def test_filtered_columns_total_what_they_show_and_say_so(member_client, member_user, fund, stages, make_opportunity):
    make_opportunity("Lead", owner=member_user, expected_amount=Decimal("1000000"))
    make_opportunity("Lead", expected_amount=Decimal("9000000"))
    html = member_client.get(BOARD, {"owner": member_user.pk}).content.decode()
    assert re.search(r"data-expected[^>]*>\$1M<", column_html(html, stages["Lead"]))
    assert "the fund figures above are for the whole fund" in html
    # The column keeps the filter, so its answer after a drop is filtered the same way.
    assert f'<input type="hidden" name="owner" value="{member_user.pk}">' in column_html(html, stages["Lead"])


def _board_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(BOARD)
    assert response.status_code == 200
    return len(queries)


def _bulk_cards(fund, stages, contacts, count, owner=None):
    names = ["Lead", "Outreach", "Meeting", "Due diligence", "Committed", "Funded", "Passed"]
    Opportunity.objects.bulk_create(
        Opportunity(
            name=f"Deal {i}",
            contact=contacts[i % len(contacts)],
            organization=contacts[i % len(contacts)].organization,
            fund=fund,
            stage=stages[names[i % len(names)]],
            position=i,
            expected_amount=Decimal(1000000 + i),
            probability=stages[names[i % len(names)]].default_probability,
            next_step=f"Step {i}",
            owner=owner,
            next_step_date=timezone.localdate(),
            lost_reason="Timing" if names[i % len(names)] == "Passed" else "",
        )
        for i in range(count)
    )


def test_the_board_runs_a_fixed_number_of_queries(member_client, member_user, fund, stages, make_contact):
    contacts = [make_contact() for _ in range(6)]
    _bulk_cards(fund, stages, contacts, 5, owner=member_user)
    small = _board_queries(member_client)
    Opportunity.objects.all().delete()
    _bulk_cards(fund, stages, contacts, 60, owner=member_user)
    large = _board_queries(member_client)
    assert small == large
    assert large <= 12


def test_the_board_query_count_is_pinned(member_client, fund, stages, make_contact, django_assert_max_num_queries):
    contacts = [make_contact() for _ in range(4)]
    _bulk_cards(fund, stages, contacts, 60)
    # The view's eight: funds, current fund, stages, column sums, cards, commitment totals,
    # open-pipeline totals, owners for the filter. The rest is the layout: session, user and
    # whatever the base template's context processors need.
    with django_assert_max_num_queries(12):
        assert member_client.get(BOARD).status_code == 200


def test_a_bulk_sized_board_renders_every_open_card(member_client, fund, stages, make_contact):
    contacts = [make_contact() for _ in range(20)]
    _bulk_cards(fund, stages, contacts, 210)
    html = member_client.get(BOARD).content.decode()
    shown = sum(len(card_ids(html, stages[name])) for name in stages if name != "Passed")
    assert shown == 180  # 210 cards over 7 stages: the 30 passed ones are counted, not drawn
    assert 'data-count title="30 opportunities">30<' in column_html(html, stages["Passed"])


def test_closed_funds_are_listed_after_raising_ones_in_the_selector(member_client, fund):
    Fund.objects.create(name="Fund III", vintage_year=2028, status=FundStatus.RAISING)
    Fund.objects.create(name="Fund 0", vintage_year=2015, status=FundStatus.CLOSED)
    html = member_client.get(BOARD).content.decode()
    select = re.search(r'<select name="fund".*?</select>', html, re.S).group(0)
    assert re.findall(r">([^<]+)</option>", select) == ["Fund III · raising", "Fund II · raising", "Fund 0"]
    # Fund III is the newest raising fund, so the board opens there.
    assert re.search(r'<option value="\d+" selected>Fund III', select)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MANAGER])
def test_new_opportunity_button_opens_the_form_for_this_fund(client, request, role, fund):
    client.force_login(request.getfixturevalue(f"{role}_user"))
    html = client.get(BOARD).content.decode()
    assert f'hx-get="/pipeline/opportunities/new/?fund={fund.pk}"' in html
