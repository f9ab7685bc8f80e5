"""The list view of the same opportunities: the board's filters plus fund, stage and outcome,
sortable columns, totals, and CSV/XLSX exports through the same FilterSet."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from conftest import HX
from pipeline.models import Priority
from pipeline.tests.conftest import days_ago

pytestmark = pytest.mark.django_db

LIST = "/pipeline/opportunities/"
EXPORT = "/pipeline/opportunities/export/"


def row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<td><a href="/pipeline/opportunities/(\d+)/"', html)]


@pytest.mark.parametrize("htmx", [False, True])
def test_every_role_sees_the_list(any_role_client, make_opportunity, htmx):
    card = make_opportunity("Meeting")
    response = any_role_client.get(LIST, headers=HX if htmx else {})
    html = response.content.decode()
    assert response.status_code == 200
    assert row_ids(html) == [card.pk]
    assert html.lstrip().startswith('<div id="opportunity-table"') is htmx
    assert "HX-Request" in response["Vary"]


def test_export_buttons_show_for_managers_only(client, member_user, manager_user, make_opportunity):
    make_opportunity("Lead")
    client.force_login(member_user)
    assert "Export CSV" not in client.get(LIST).content.decode()
    client.force_login(manager_user)
    assert "Export CSV" in client.get(LIST).content.decode()


def test_list_filters_match_the_board(
    member_client, member_user, fund, other_fund, stages, make_opportunity, make_contact
):
    mine = make_opportunity("Lead", owner=member_user, priority=Priority.HIGH)
    atlas = make_opportunity("Meeting", contact=make_contact("Ada", "Okafor", organization="Atlas Family Office"))
    passed = make_opportunity("Passed", lost_reason="Timing")
    old = make_opportunity("Funded", fund_obj=other_fund)

    def shown(**params):
        return set(row_ids(member_client.get(LIST, params).content.decode()))

    assert shown() == {mine.pk, atlas.pk, passed.pk, old.pk}
    assert shown(owner=member_user.pk) == {mine.pk}
    assert shown(priority="high") == {mine.pk}
    assert shown(q="atlas okafor") == {atlas.pk}
    assert shown(fund=fund.pk) == {mine.pk, atlas.pk, passed.pk}
    assert shown(stage=stages["Passed"].pk) == {passed.pk}
    assert shown(outcome="lost") == {passed.pk}
    assert shown(outcome="won") == {old.pk}
    assert shown(outcome="open", fund=fund.pk) == {mine.pk, atlas.pk}
    assert shown(fund="not-a-number") == {mine.pk, atlas.pk, passed.pk, old.pk}


def test_the_board_and_list_links_carry_the_filters(member_client, member_user, fund, make_opportunity):
    make_opportunity("Lead")
    board = member_client.get("/pipeline/", {"owner": member_user.pk, "q": "pat"}).content.decode()
    assert f'href="/pipeline/opportunities/?fund={fund.pk}&amp;q=pat&amp;owner={member_user.pk}"' in board
    listing = member_client.get(LIST, {"fund": fund.pk, "owner": member_user.pk, "stage": 1}).content.decode()
    assert f'href="/pipeline/?fund={fund.pk}&amp;owner={member_user.pk}"' in listing


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("expected", ["small", "big", "huge"]),
        ("-expected", ["huge", "big", "small"]),
        ("weighted", ["small", "huge", "big"]),
        ("priority", ["small", "big", "huge"]),
        ("-priority", ["huge", "big", "small"]),
        ("stage", ["big", "small", "huge"]),
        ("entered", ["huge", "small", "big"]),
    ],
)
def test_columns_sort(member_client, make_opportunity, order, expected):
    ids = {
        "small": make_opportunity(
            "Outreach", expected_amount=Decimal("1000000"), probability=20, priority=Priority.LOW,
            stage_changed_at=days_ago(5),
        ).pk,
        "big": make_opportunity(
            "Lead", expected_amount=Decimal("8000000"), probability=50, priority=Priority.MEDIUM,
            stage_changed_at=days_ago(1),
        ).pk,
        "huge": make_opportunity(
            "Meeting", expected_amount=Decimal("9000000"), probability=10, priority=Priority.HIGH,
            stage_changed_at=days_ago(9),
        ).pk,
    }  # fmt: skip
    names = {pk: name for name, pk in ids.items()}
    html = member_client.get(LIST, {"o": order}).content.decode()
    assert [names[pk] for pk in row_ids(html)] == expected


def test_totals_cover_every_matching_opportunity_not_just_the_page(member_client, make_contact, fund, stages):
    from pipeline.models import Opportunity

    contact = make_contact()
    Opportunity.objects.bulk_create(
        Opportunity(
            name=f"Deal {i}", contact=contact, fund=fund, stage=stages["Meeting"], position=i,
            expected_amount=Decimal("1000000"), probability=40,
        )
        for i in range(60)
    )  # fmt: skip
    html = member_client.get(LIST).content.decode()
    assert len(row_ids(html)) == 50
    assert "60 opportunities matching" in html
    assert "$60,000,000" in html and "$24,000,000" in html
    assert "Page 1 of 2" in html


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST).status_code == 200
    return len(queries)


def test_the_list_runs_a_fixed_number_of_queries(member_client, member_user, fund, stages, make_contact):
    from pipeline.models import Opportunity

    def add(count):
        contact = make_contact()
        Opportunity.objects.bulk_create(
            Opportunity(
                name=f"Deal {i}", contact=contact, organization=contact.organization, fund=fund,
                stage=stages["Lead"], owner=member_user, expected_amount=Decimal("1"), position=i,
            )
            for i in range(count)
        )  # fmt: skip

    add(5)
    small = _list_queries(member_client)
    add(55)
    large = _list_queries(member_client)
    assert small == large
    assert large <= 14


# --- export -------------------------------------------------------------------------------


def test_members_may_not_export(member_client, make_opportunity):
    make_opportunity("Lead")
    assert member_client.get(EXPORT).status_code == 403
    assert member_client.get(EXPORT, {"format": "xlsx"}).status_code == 403


def test_csv_export_follows_the_filters(manager_client, member_user, make_opportunity, make_contact):
    make_opportunity(
        "Meeting",
        contact=make_contact("Ada", "Okafor", organization="Atlas Family Office"),
        owner=member_user,
        expected_amount=Decimal("2500000"),
        probability=40,
        next_step='=HYPERLINK("http://evil")',
    )
    make_opportunity("Lead", expected_amount=Decimal("1000000"))

    response = manager_client.get(EXPORT, {"owner": member_user.pk})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    row = rows[0]
    assert row["Contact"] == "Ada Okafor"
    assert row["Organization"] == "Atlas Family Office"
    assert row["Stage"] == "Meeting"
    assert Decimal(row["Expected amount"]) == Decimal("2500000")
    assert Decimal(row["Weighted amount"]) == Decimal("1000000")
    assert row["Owner"] == "Max Member"
    assert row["Next step"].startswith("'="), "formulas are neutralised"


def test_xlsx_export_has_real_numbers(manager_client, make_opportunity):
    make_opportunity("Meeting", expected_amount=Decimal("2500000"), probability=40)
    response = manager_client.get(EXPORT, {"format": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    values = dict(zip(header, [cell.value for cell in sheet[2]], strict=True))
    assert values["Expected amount"] == 2500000
    assert values["Weighted amount"] == 1000000
    assert values["Probability %"] == 40
    assert sheet.max_row == 2
