"""The raise and the LP operations, read through the API: the ladder, the closes, capital calls."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from crm.testing.factories import commitment, contact, fund, lp
from lps.models import CallLine, CapitalCall, Close

pytestmark = pytest.mark.django_db

ROLES = ["admin", "manager", "member"]


@pytest.fixture(params=ROLES)
def any_api(request):
    return request.getfixturevalue(f"{request.param}_api")


@pytest.fixture
def raising():
    fund_iii = fund("Fund III")
    first = Close.objects.create(fund=fund_iii, name="First close", date=datetime.date(2030, 6, 30),
                                 minimum_amount=Decimal("5000000"))  # fmt: skip
    commitment(lp(contact("Okafor")), fund_iii, "3000000", status="signed", close=first)
    commitment(lp(contact("Chen")), fund_iii, "1000000", status="hard_circle", close=first)
    commitment(lp(contact("Diaz")), fund_iii, "500000", status="soft_circle")
    return fund_iii, first


def test_every_role_reads_the_ladder_as_the_ladder_report_counts_it(any_api, raising):
    fund_iii, _first = raising
    body = any_api.get(f"/api/v1/funds/{fund_iii.pk}/ladder").json()
    levels = {level["status"]: (level["count"], Decimal(level["amount"])) for level in body["levels"]}
    # Each rung reached implies the ones below: the signed one was soft- and hard-circled too.
    assert levels["soft_circle"] == (3, Decimal("4500000"))
    assert levels["hard_circle"] == (2, Decimal("4000000"))
    assert levels["signed"] == (1, Decimal("3000000"))
    assert [owner["name"] for owner in body["owners"]] == ["No owner"]
    assert any_api.get("/api/v1/funds/99999999/ladder").status_code == 404


def test_every_role_reads_each_close_with_signed_and_hard_against_the_minimum_and_the_gap(any_api, raising):
    fund_iii, first = raising
    body = any_api.get(f"/api/v1/funds/{fund_iii.pk}/closes").json()
    [close] = body["closes"]
    assert (close["id"], close["held"], Decimal(close["minimum_amount"])) == (first.pk, False, Decimal("5000000"))
    assert (Decimal(close["signed"]), Decimal(close["hard"]), Decimal(close["gap"])) == (
        Decimal("3000000"),
        Decimal("1000000"),
        Decimal("2000000"),
    )
    assert Decimal(close["gap_if_hard_signs"]) == Decimal("1000000")
    assert len(close["commitment_ids"]) == 2
    assert (body["unassigned"], Decimal(body["unassigned_amount"])) == (1, Decimal("500000"))


def test_capital_calls_list_what_each_asked_and_received_and_a_call_its_lines(
    any_api, raising, django_assert_max_num_queries
):
    fund_iii, _first = raising
    day = datetime.date(2026, 1, 15)
    signed = fund_iii.commitments.get(status="signed")
    for number in range(1, 6):
        call = CapitalCall.objects.create(fund=fund_iii, number=number, notice_date=day, due_date=day, amount=300000)
        CallLine.objects.create(call=call, commitment=signed, amount=Decimal("300000"),
                                received_amount=Decimal("100000"))  # fmt: skip
    any_api.get("/api/v1/tags")
    with django_assert_max_num_queries(5):
        calls = any_api.get(f"/api/v1/funds/{fund_iii.pk}/capital-calls").json()
    assert [c["number"] for c in calls] == [5, 4, 3, 2, 1]
    assert {(Decimal(c["received"]), c["lp_count"]) for c in calls} == {(Decimal("100000"), 1)}

    detail = any_api.get(f"/api/v1/capital-calls/{calls[0]['id']}").json()
    [line] = detail["lines"]
    assert (line["commitment_id"], line["lp_id"], Decimal(line["outstanding"])) == (
        signed.pk,
        signed.lp_id,
        Decimal("200000"),
    )
    assert detail["overdue"] is True
    assert any_api.get("/api/v1/capital-calls/99999999").status_code == 404
