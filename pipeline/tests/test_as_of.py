"""The weekly meeting: the board as of a past date and the changes since a date, replayed from
hand-built histories (history rows with explicit dates, as the demo's stage moves write them)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline import replay
from pipeline.models import Opportunity, Stage

BOARD = reverse("pipeline_board")
CHANGES = reverse("pipeline_changes")
M = Decimal("1000000")


def day(n: int) -> datetime.date:
    """Day ``n`` of the story, which starts 30 days ago."""
    return timezone.localdate() - datetime.timedelta(days=30 - n)


def noon(n: int) -> datetime.datetime:
    return replay.start_of_day(day(n)) + datetime.timedelta(hours=12)


def born(opportunity: Opportunity, n: int) -> Opportunity:
    """Date the opportunity's creation row at noon on day ``n``."""
    created = opportunity.history.earliest("history_date")
    created.history_date = noon(n)
    created.save()
    return opportunity


def then(opportunity: Opportunity, n: int, **changes) -> None:
    """A history row at noon on day ``n`` with ``changes``; the record itself follows (no history)."""
    row = opportunity.history.order_by("-history_date", "-history_id").first()
    row.history_id = None
    row.history_type = "~"
    row.history_date = noon(n)
    for name, value in changes.items():
        setattr(row, name, value)
    row.save()
    Opportunity.objects.filter(pk=opportunity.pk).update(**changes)


def deleted(opportunity: Opportunity, n: int) -> None:
    pk = opportunity.pk
    opportunity.delete()
    opportunity.pk = pk  # the tests name it by its id still
    row = Opportunity.history.filter(id=pk, history_type="-").get()
    row.history_date = noon(n)
    row.save()


@pytest.fixture
def story(fund, other_fund, stages, make_opportunity, make_contact):
    """Six deals over a month.

    ada: Lead ($1M, day 0) → Meeting at position 1, $2M (day 5) → Due diligence (day 10)
    ben: Meeting at position 0 ($3M, day 2); $4M on day 9
    cy: created on day 7 in Lead
    dee: Lead (day 1), deleted on day 8
    eve: in Fund I (day 0), moved to this fund's Lead on day 6
    fay: Meeting (day 3) → Passed on day 8
    """
    s = stages
    cast = {}
    cast["ada"] = born(
        make_opportunity("Lead", contact=make_contact("Ada", "Okafor"), expected_amount=M, position=0), 0
    )
    then(cast["ada"], 5, stage=s["Meeting"], position=1, expected_amount=2 * M)
    then(cast["ada"], 10, stage=s["Due diligence"], position=0)
    cast["ben"] = born(
        make_opportunity("Meeting", contact=make_contact("Ben", "Stone"), expected_amount=3 * M, position=0), 2
    )
    then(cast["ben"], 9, expected_amount=4 * M)
    cast["cy"] = born(make_opportunity("Lead", contact=make_contact("Cy", "Young"), position=1), 7)
    cast["dee"] = born(make_opportunity("Lead", contact=make_contact("Dee", "Ng"), position=2), 1)
    deleted(cast["dee"], 8)
    cast["eve"] = born(make_opportunity("Lead", fund_obj=other_fund, contact=make_contact("Eve", "Ito"), position=0), 0)
    then(cast["eve"], 6, fund=fund, position=3)
    cast["fay"] = born(make_opportunity("Meeting", contact=make_contact("Fay", "Lu"), position=2), 3)
    then(cast["fay"], 8, stage=s["Passed"], position=0, lost_reason="Allocation full")
    return cast


def _board(user, fund, n: int) -> dict[str, list[tuple[str, Decimal]]]:
    stages = list(Stage.objects.visible_to(user))
    board = replay.board_as_of(user, fund, stages, day(n), limit=50)
    return {
        column.stage.name: [(card.contact.first_name, card.expected_amount) for card in column.cards]
        for column in board.columns
        if column.cards
    }


def test_the_board_as_of_a_date_places_each_deal_by_its_stage_amount_and_position_then(member_user, fund, story):
    assert _board(member_user, fund, 5) == {
        "Lead": [("Dee", M)],
        "Meeting": [("Ben", 3 * M), ("Ada", 2 * M), ("Fay", M)],
    }
    assert _board(member_user, fund, 4) == {
        "Lead": [("Ada", M), ("Dee", M)],
        "Meeting": [("Ben", 3 * M), ("Fay", M)],
    }


def test_deals_created_later_are_absent_and_deleted_ones_are_there_while_they_existed(member_user, fund, story):
    assert "Cy" not in str(_board(member_user, fund, 6))
    assert ("Cy", M) in _board(member_user, fund, 7)["Lead"]
    stages = list(Stage.objects.visible_to(member_user))
    before_deletion = replay.board_as_of(member_user, fund, stages, day(7), limit=50)
    dee = [card for column in before_deletion.columns for card in column.cards if card.contact.first_name == "Dee"]
    assert len(dee) == 1 and dee[0].exists_now is False
    assert "Dee" not in str(_board(member_user, fund, 8))


def test_a_deal_moved_in_from_another_fund_shows_only_from_the_day_it_moved(member_user, fund, other_fund, story):
    assert "Eve" not in str(_board(member_user, fund, 5))
    assert _board(member_user, fund, 6)["Lead"][-1] == ("Eve", M)
    assert _board(member_user, other_fund, 5) == {"Lead": [("Eve", M)]}
    assert _board(member_user, other_fund, 6) == {}


def test_the_board_as_of_a_date_totals_its_columns_then(member_user, fund, story, stages):
    board = replay.board_as_of(member_user, fund, list(Stage.objects.all()), day(9), limit=50)
    by_name = {column.stage.name: column for column in board.columns}
    assert (by_name["Meeting"].count, by_name["Meeting"].expected) == (2, 6 * M)  # Ada $2M and Ben $4M
    assert (by_name["Passed"].count, by_name["Passed"].cards) == (1, [])  # counted, not drawn
    assert board.open_count == 4  # Ada, Ben, Cy, Eve
    assert board.open_expected == 8 * M


def test_the_as_of_board_page_is_read_only(member_client, fund, story, stages):
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = member_client.get(BOARD, {"fund": fund.pk, "as_of": day(5).isoformat()}, **headers)
        html = response.content.decode()
        assert response.status_code == 200
        assert f'data-as-of="{day(5).isoformat()}"' in html
        assert f'data-id="{story["ada"].pk}"' in html and f'data-id="{story["cy"].pk}"' not in html
        for editing in ("data-sortable", "hx-post", reverse("opportunity_move", args=[story["ada"].pk]), "/edit/"):
            assert editing not in html
        assert reverse("opportunity_detail", args=[story["ada"].pk]) not in html
        assert ("<html" in html) is not bool(headers)


def test_today_or_a_bad_date_shows_the_live_board(member_client, fund, story):
    for value in (timezone.localdate().isoformat(), "2026-13-45", "soon"):
        html = member_client.get(BOARD, {"fund": fund.pk, "as_of": value}).content.decode()
        assert "data-as-of=" not in html
        assert "data-sortable" in html


def _changes(user, fund, since: int) -> replay.Changes:
    return replay.changes_since(user, fund, list(Stage.objects.visible_to(user)), day(since))


def _names(items) -> list[str]:
    return [getattr(item, "card", item).contact.first_name for item in items]


def test_changes_since_a_date_list_moves_new_and_lost_deals_and_amount_changes_per_stage(member_user, fund, story):
    changes = _changes(member_user, fund, 6)  # since the start of day 6: the state at the end of day 5
    rows = {row.stage.name: row for row in changes.stages}
    assert _names(rows["Meeting"].moved_out) == ["Ada", "Fay"]
    assert [move.other.name for move in rows["Meeting"].moved_out] == ["Due diligence", "Passed"]
    assert _names(rows["Due diligence"].moved_in) == ["Ada"]
    assert rows["Due diligence"].moved_in[0].other.name == "Meeting"
    assert _names(rows["Lead"].new) == ["Cy", "Eve"]  # Eve is new to this fund
    assert _names(rows["Lead"].removed) == ["Dee"]
    assert _names(changes.lost) == ["Fay"] and changes.lost[0].other.name == "Meeting"
    assert [(c.card.contact.first_name, c.before, c.delta) for c in rows["Meeting"].amount_changes] == [
        ("Ben", 3 * M, M)
    ]
    assert (rows["Meeting"].count_then, rows["Meeting"].count_now) == (3, 1)
    assert (rows["Meeting"].expected_then, rows["Meeting"].expected_now) == (6 * M, 4 * M)
    # Open and won, then (Ada $2M, Ben $3M, Fay $1M, Dee $1M) and now (Ada $2M, Ben $4M, Cy, Eve).
    assert (changes.count_then, changes.expected_then) == (4, 7 * M)
    assert (changes.count_now, changes.expected_now) == (4, 8 * M)
    assert changes.moves == 2


def test_changes_are_net_a_deal_that_did_not_change_since_is_not_listed(member_user, fund, story):
    changes = _changes(member_user, fund, 11)
    assert not any(row.has_changes for row in changes.stages)
    assert changes.expected_then == changes.expected_now


def test_the_changes_page_opens_on_the_last_seven_days(member_client, fund, story):
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = member_client.get(CHANGES, {"fund": fund.pk}, **headers)
        html = response.content.decode()
        assert response.status_code == 200
        week_ago = timezone.localdate() - datetime.timedelta(days=7)
        assert f'data-since="{week_ago.isoformat()}"' in html
        assert ("<html" in html) is not bool(headers)


def test_the_changes_page_shows_each_kind_of_change(member_client, fund, story):
    html = member_client.get(CHANGES, {"fund": fund.pk, "since": day(6).isoformat()}).content.decode()
    assert f'data-change="out" data-id="{story["ada"].pk}"' in html
    assert f'data-change="in" data-id="{story["ada"].pk}"' in html
    assert f'data-change="new" data-id="{story["cy"].pk}"' in html
    assert f'data-change="deleted" data-id="{story["dee"].pk}"' in html
    assert f'data-change="amount" data-id="{story["ben"].pk}"' in html
    assert 'data-section="lost"' in html
    assert "css/print.css" in html and 'media="print"' in html


def test_an_anonymous_visitor_replays_nothing(fund, story):
    from django.contrib.auth.models import AnonymousUser

    assert replay.replay(AnonymousUser(), fund, list(Stage.objects.visible_to(AnonymousUser()))) == {}


def _grow(fund, stages, make_opportunity, make_contact, count: int) -> None:
    for n in range(count):
        opportunity = born(make_opportunity("Lead", contact=make_contact(), position=n), 1)
        then(opportunity, 3 + n % 5, stage=stages["Meeting"], expected_amount=M + n)


def _queries(client, url: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url,param", [(BOARD, "as_of"), (CHANGES, "since")])
def test_the_as_of_board_and_changes_page_run_as_many_queries_for_ten_deals_as_for_sixty(
    member_client, fund, stages, make_opportunity, make_contact, url, param
):
    params = {"fund": fund.pk, param: day(6).isoformat()}
    _grow(fund, stages, make_opportunity, make_contact, 10)
    small = _queries(member_client, url, params)
    _grow(fund, stages, make_opportunity, make_contact, 50)
    assert _queries(member_client, url, params) == small
    assert small <= 10  # funds, stages, one or two history replays, and the layout's session and user


@pytest.mark.parametrize("role_client", ["member_client", "manager_client", "admin_client"])
def test_every_role_reads_the_as_of_board_and_the_changes_page_alike(request, role_client, fund, story):
    client = request.getfixturevalue(role_client)
    board = client.get(BOARD, {"fund": fund.pk, "as_of": day(5).isoformat()}).content.decode()
    changes = client.get(CHANGES, {"fund": fund.pk, "since": day(6).isoformat()}).content.decode()
    assert f'data-id="{story["ada"].pk}"' in board and "data-sortable" not in board
    assert f'data-change="in" data-id="{story["ada"].pk}"' in changes


def test_the_as_of_board_filters_each_deal_by_its_owner_priority_and_names_then(
    member_client, member_user, manager_user, fund, story
):
    then(story["ben"], 4, owner=manager_user, priority="high")
    then(story["ben"], 9, owner=member_user, priority="low")  # today's owner and priority differ
    params = {"fund": fund.pk, "as_of": day(5).isoformat()}

    def ids(**filters) -> set[int]:
        html = member_client.get(BOARD, params | filters).content.decode()
        return {pk for name, pk in ((n, o.pk) for n, o in story.items()) if f'data-id="{pk}"' in html}

    assert ids(owner=manager_user.pk) == {story["ben"].pk}
    assert ids(owner=member_user.pk) == set()
    assert ids(priority="high") == {story["ben"].pk}
    assert ids(priority="low") == set()
    assert ids(q="okafor") == {story["ada"].pk}
    assert ids(q="ben sto") == {story["ben"].pk}
    assert story["ben"].pk not in ids(owner="null")
    html = member_client.get(BOARD, params | {"owner": manager_user.pk}).content.decode()
    assert 'data-count title="1 opportunity"' in html  # Meeting counts only what the filter keeps


def test_the_as_of_board_draws_more_of_a_column_on_request(member_client, fund, stages, make_opportunity, make_contact):
    _grow(fund, stages, make_opportunity, make_contact, 55)
    params = {"fund": fund.pk, "as_of": day(8).isoformat()}
    html = member_client.get(BOARD, params).content.decode()
    meeting = stages["Meeting"].pk
    assert html.count('class="board-card ') == 50
    assert "(5 not drawn)" in html
    assert f"column={meeting}&amp;shown=100#column-{meeting}" in html
    more = member_client.get(BOARD, params | {"column": meeting, "shown": 100}).content.decode()
    assert more.count('class="board-card ') == 55 and "not drawn" not in more
