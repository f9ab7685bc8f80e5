"""The bounded board: each column draws its first cards by position with "Load more", its
header counts the whole column, drops into a partly loaded column keep every position
right, and neither the queries nor the bytes grow with the fund."""

from __future__ import annotations

import re
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.urls.resolvers import URLResolver

from conftest import HX
from pipeline.models import Opportunity
from pipeline.tests.conftest import column_ids
from pipeline.views import BOARD_PAGE

pytestmark = pytest.mark.django_db

BOARD = "/pipeline/"
CARDS = "/pipeline/cards/"
REORDER = "/pipeline/reorder/"


def column_html(html: str, stage) -> str:
    start = html.index(f'<form id="column-{stage.pk}"')
    return html[start : html.index("</form>", start)]


def drawn_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="board-card[^"]*" data-id="(\d+)"', html)]


def fill(fund, stage, contacts, count, *, start=0, **extra) -> list[int]:
    """``count`` cards at positions start… of one column; their ids in position order."""
    Opportunity.objects.bulk_create(
        Opportunity(
            name=f"Deal {start + i}",
            contact=contacts[i % len(contacts)],
            organization=contacts[i % len(contacts)].organization,
            fund=fund,
            stage=stage,
            position=start + i,
            expected_amount=Decimal("1000000"),
            probability=stage.default_probability,
            next_step="Send the deck",
            **extra,
        )
        for i in range(count)
    )
    return column_ids(fund, stage)


@pytest.fixture
def contacts(make_contact):
    return [make_contact() for _ in range(4)]


@pytest.fixture
def meeting(fund, stages, contacts) -> list[int]:
    """A Meeting column of 120 cards: the board draws 50 of them."""
    return fill(fund, stages["Meeting"], contacts, 120)


def post_column(client, fund, stage, ids, *, htmx=True):
    data = {"fund": fund.pk, "stage": stage.pk, "order": [str(pk) for pk in ids]}
    return client.post(REORDER, data, headers=HX if htmx else {})


def assert_positions_whole(fund, stages, total: int) -> None:
    """No card lost or doubled, and no two cards of a column share a position."""
    assert Opportunity.objects.filter(fund=fund).count() == total
    for stage in stages.values():
        positions = list(Opportunity.objects.filter(fund=fund, stage=stage).values_list("position", flat=True))
        assert len(positions) == len(set(positions)), f"{stage.name} has duplicate positions"


# --- drawing and "Load more" --------------------------------------------------------------


def test_a_column_draws_its_first_cards_by_position_and_counts_all_of_them(member_client, fund, stages, meeting):
    html = column_html(member_client.get(BOARD).content.decode(), stages["Meeting"])

    assert drawn_ids(html) == meeting[:BOARD_PAGE]
    assert 'data-count title="120 opportunities">120<' in html
    assert "$120M" in html, "the header's total is the whole column's, not the page's"
    assert f'href="{CARDS}?fund={fund.pk}&amp;stage={stages["Meeting"].pk}&amp;offset=50"' in html
    assert "70 more of 120" in html


def test_a_column_that_fits_has_no_load_more(member_client, fund, stages, contacts):
    fill(fund, stages["Lead"], contacts, BOARD_PAGE)
    html = column_html(member_client.get(BOARD).content.decode(), stages["Lead"])
    assert len(drawn_ids(html)) == BOARD_PAGE
    assert "Load more" not in html


def test_load_more_with_htmx_appends_the_next_page_and_moves_its_control(member_client, fund, stages, meeting):
    stage = stages["Meeting"]
    response = member_client.get(CARDS, {"fund": fund.pk, "stage": stage.pk, "offset": 50}, headers=HX)
    html = response.content.decode()

    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert "<html" not in html and "<form" not in html
    assert drawn_ids(html) == meeting[50:100]
    assert f'<div id="column-more-{stage.pk}" class="board-column-more" hx-swap-oob="true">' in html
    assert "offset=100" in html and "20 more of 120" in html

    last = member_client.get(CARDS, {"fund": fund.pk, "stage": stage.pk, "offset": 100}, headers=HX).content.decode()
    assert drawn_ids(last) == meeting[100:]
    assert "Load more" not in last and f'id="column-more-{stage.pk}"' in last, "the control empties itself"


def test_load_more_cards_link_to_their_panels_like_the_board_does(member_client, fund, stages, meeting):
    html = member_client.get(
        CARDS, {"fund": fund.pk, "stage": stages["Meeting"].pk, "offset": 50}, headers=HX
    ).content.decode()
    card = meeting[50]
    assert f'href="{reverse("opportunity_detail", args=[card])}"' in html
    assert f'href="{reverse("opportunity_move", args=[card])}?next=/pipeline/%3Ffund%3D{fund.pk}"' in html


def test_load_more_without_javascript_is_the_board_drawn_further(member_client, fund, stages, meeting):
    stage = stages["Meeting"]
    response = member_client.get(CARDS, {"fund": fund.pk, "stage": stage.pk, "offset": 50})
    assert response.status_code == 302
    assert response["Location"] == f"{BOARD}?fund={fund.pk}&column={stage.pk}&shown=100#column-{stage.pk}"

    html = column_html(member_client.get(response["Location"]).content.decode(), stage)
    assert drawn_ids(html) == meeting[:100]
    assert "offset=100" in html and "20 more of 120" in html


def test_load_more_keeps_the_boards_filters(member_client, fund, stages, contacts, meeting):
    stage = stages["Meeting"]
    matching = fill(fund, stage, contacts[:1], 60, start=500, priority="high")
    wanted = [pk for pk in matching if pk not in meeting]
    board = column_html(member_client.get(BOARD, {"priority": "high"}).content.decode(), stage)
    assert drawn_ids(board) == wanted[:50]
    assert "&amp;priority=high&amp;stage=" in board

    params = {"fund": fund.pk, "priority": "high", "stage": stage.pk, "offset": 50}
    html = member_client.get(CARDS, params, headers=HX).content.decode()
    assert drawn_ids(html) == wanted[50:]


def test_load_more_refuses_a_lost_column_and_another_users_fund(member_client, fund, stages, meeting):
    lost = member_client.get(CARDS, {"fund": fund.pk, "stage": stages["Passed"].pk}, headers=HX)
    unknown = member_client.get(CARDS, {"fund": fund.pk + 999, "stage": stages["Meeting"].pk}, headers=HX)
    assert lost.status_code == 404 and unknown.status_code == 404


# --- drops into a partly loaded column -----------------------------------------------------


def test_a_card_dropped_third_into_a_partly_loaded_column_goes_before_the_unloaded_tail(
    member_client, fund, stages, contacts, meeting
):
    (newcomer,) = fill(fund, stages["Lead"], contacts, 1)
    loaded = meeting[:BOARD_PAGE]
    posted = [*loaded[:2], newcomer, *loaded[2:]]

    response = post_column(member_client, fund, stages["Meeting"], posted)

    assert response.status_code == 200
    assert column_ids(fund, stages["Meeting"]) == [*posted, *meeting[BOARD_PAGE:]]
    positions = dict(Opportunity.objects.filter(stage=stages["Meeting"]).values_list("pk", "position"))
    assert [positions[pk] for pk in column_ids(fund, stages["Meeting"])] == list(range(121))
    assert column_ids(fund, stages["Lead"]) == []
    assert_positions_whole(fund, stages, 121)
    # The column comes back as far as it was loaded: the 51 posted cards, then "Load more".
    html = column_html(response.content.decode(), stages["Meeting"])
    assert drawn_ids(html) == posted
    assert "offset=51" in html and "70 more of 121" in html


def test_reordering_inside_the_loaded_part_leaves_the_tail_in_its_order(member_client, fund, stages, meeting):
    loaded = meeting[:BOARD_PAGE]
    posted = [loaded[40], *loaded[:40], *loaded[41:]]

    assert post_column(member_client, fund, stages["Meeting"], posted).status_code == 200

    assert column_ids(fund, stages["Meeting"]) == [*posted, *meeting[BOARD_PAGE:]]
    assert_positions_whole(fund, stages, 120)
    tail = Opportunity.objects.filter(pk__in=meeting[BOARD_PAGE:])
    # bulk_create wrote no history: a row the reorder rewrote would have some.
    assert not any(card.history.exists() for card in tail), "cards whose place did not change are not rewritten"


def test_a_card_from_a_partly_loaded_column_dropped_into_an_empty_one(member_client, fund, stages, meeting):
    moved = meeting[7]

    response = post_column(member_client, fund, stages["Outreach"], [moved])

    assert response.status_code == 200
    assert column_ids(fund, stages["Outreach"]) == [moved]
    assert column_ids(fund, stages["Meeting"]) == [pk for pk in meeting if pk != moved]
    assert_positions_whole(fund, stages, 120)
    # The column it left comes back out-of-band with its first page and a true count.
    source = column_html(response.content.decode(), stages["Meeting"])
    assert drawn_ids(source) == [pk for pk in meeting if pk != moved][:BOARD_PAGE]
    assert 'data-count title="119 opportunities">119<' in source


def test_a_drop_after_load_more_saves_the_whole_loaded_order(member_client, fund, stages, contacts, meeting):
    (newcomer,) = fill(fund, stages["Lead"], contacts, 1)
    loaded = meeting[:100]  # "Load more" once
    posted = [*loaded[:75], newcomer, *loaded[75:]]

    post_column(member_client, fund, stages["Meeting"], posted)

    assert column_ids(fund, stages["Meeting"]) == [*posted, *meeting[100:]]
    assert_positions_whole(fund, stages, 121)


def test_a_member_still_cannot_drop_into_a_won_column(member_client, fund, stages, meeting):
    html = member_client.get(BOARD).content.decode()
    assert "data-locked" in column_html(html, stages["Committed"])

    post_column(member_client, fund, stages["Committed"], [meeting[0]])

    assert column_ids(fund, stages["Committed"]) == []
    assert column_ids(fund, stages["Meeting"]) == meeting


# --- bounded queries, reverse() calls and bytes ---------------------------------------------


def _queries(client, url, params=None, headers=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}, headers=headers or {}).status_code == 200
    return len(queries)


def test_the_board_and_load_more_run_as_many_queries_for_60_cards_as_for_300(member_client, fund, stages, contacts):
    fill(fund, stages["Meeting"], contacts, 60)
    params = {"fund": fund.pk, "stage": stages["Meeting"].pk, "offset": 50}
    small = (_queries(member_client, BOARD), _queries(member_client, CARDS, params, HX))
    fill(fund, stages["Meeting"], contacts, 240, start=60)
    large = (_queries(member_client, BOARD), _queries(member_client, CARDS, params, HX))
    assert small == large
    assert large[0] <= 12


def test_card_urls_cost_no_reverse_per_card(member_client, fund, stages, contacts):
    real = URLResolver._reverse_with_prefix

    def reverses() -> int:
        with mock.patch.object(URLResolver, "_reverse_with_prefix", autospec=True, side_effect=real) as spy:
            assert member_client.get(BOARD).status_code == 200
        return spy.call_count

    fill(fund, stages["Lead"], contacts, 2)
    few = reverses()
    fill(fund, stages["Meeting"], contacts, 45)
    assert reverses() == few


def test_the_board_for_300_cards_in_a_column_weighs_what_it_does_for_60(member_client, fund, stages, contacts):
    fill(fund, stages["Meeting"], contacts, 60)
    small = len(member_client.get(BOARD).content)
    fill(fund, stages["Meeting"], contacts, 240, start=60)
    large = len(member_client.get(BOARD).content)
    assert small > 20_000, "the page did draw the cards"
    assert large <= small * 1.01


def test_load_more_without_javascript_and_without_a_column_is_just_the_board(member_client, fund):
    response = member_client.get(CARDS)
    assert response.status_code == 302 and response["Location"] == BOARD
