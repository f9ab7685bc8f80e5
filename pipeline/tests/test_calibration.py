"""Stage probabilities calibrated from the other funds' stage history, on hand-built histories."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.testing.factories import contact, fund, opportunity, stage
from pipeline import calibration
from pipeline.models import Stage

PAGE = reverse("stage_calibration")


def walk(path: list[str], in_fund, amount: str = "1000000"):
    """A deal created at the first stage and moved through the rest, each move in its history."""
    deal = opportunity(contact(), in_fund, stage(path[0]), expected_amount=Decimal(amount))
    for name in path[1:]:
        deal.stage = stage(name)
        if deal.stage.outcome == "lost":
            deal.lost_reason = "Timing"
        deal.save()
    return deal


@pytest.fixture
def funds(db):
    return fund("Fund I", vintage_year=2019, status="closed"), fund("Fund II", vintage_year=2025)


@pytest.fixture
def history(funds):
    """Fund I: ten deals reached Lead; six of them Meeting; three of those won, two through
    Due diligence. Fund II's own decided deal and an undecided Fund I deal do not count."""
    old, new = funds
    for _ in range(3):
        walk(["Lead", "Meeting", "Passed"], old)
    walk(["Lead", "Meeting", "Committed"], old)
    for _ in range(2):
        walk(["Lead", "Meeting", "Due diligence", "Committed"], old)
    for _ in range(4):
        walk(["Lead", "Passed"], old)
    walk(["Lead", "Meeting"], old)  # still open: undecided
    walk(["Lead", "Meeting", "Committed"], new)  # the fund's own: not its history
    walk(["Lead"], new, "1000000")
    walk(["Lead", "Meeting"], new, "2000000")
    walk(["Lead", "Meeting", "Due diligence"], new, "4000000")
    return funds


def test_each_stage_gets_the_win_rate_of_the_deals_that_reached_it(member_user, history):
    result = calibration.calibrate(member_user, history[1])
    rows = {row.stage.name: row for row in result.stages}
    assert (rows["Lead"].reached, rows["Lead"].won, rows["Lead"].calibrated) == (10, 3, 30)
    assert (rows["Meeting"].reached, rows["Meeting"].won, rows["Meeting"].calibrated) == (6, 3, 50)
    assert (rows["Due diligence"].reached, rows["Due diligence"].calibrated, rows["Due diligence"].enough) == (
        2,
        100,
        False,
    )
    assert rows["Outreach"].calibrated is None
    assert set(rows) == {"Lead", "Outreach", "Meeting", "Due diligence"}  # open stages only
    assert result.sample_funds == 1
    assert [row.stage.name for row in result.adoptable] == ["Lead", "Meeting"]


def test_the_forecast_is_shown_typed_and_calibrated(member_user, history):
    result = calibration.calibrate(member_user, history[1])
    # Typed: 1M × 10% + 2M × 40% + 4M × 60%. Calibrated: Lead 30%, Meeting 50%, DD keeps its 60% (too few).
    assert result.typed_forecast == Decimal("3300000.00")
    assert result.calibrated_forecast == Decimal("3700000.00")


def test_the_page_runs_a_fixed_number_of_queries(member_client, funds):
    old, new = funds

    def queries_with(n: int) -> int:
        for _ in range(n):
            walk(["Lead", "Meeting", "Passed"], old)
            walk(["Lead", "Meeting", "Committed"], old)
            walk(["Lead"], new)
        with CaptureQueriesContext(connection) as ctx:
            response = member_client.get(PAGE, {"fund": new.pk})
            assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    small, _ = queries_with(3)
    large, html = queries_with(12)
    assert small == large
    assert '<tr data-stage="Meeting">' in html
    assert "Adopt" not in html  # members read


def test_a_manager_adopts_the_values_with_enough_history_with_history(manager_client, manager_user, history):
    response = manager_client.post(reverse("stage_calibration_adopt"), {"fund": history[1].pk})
    assert response.status_code == 302
    probabilities = dict(Stage.objects.values_list("name", "default_probability"))
    assert (probabilities["Lead"], probabilities["Meeting"], probabilities["Due diligence"]) == (30, 50, 60)
    latest = stage("Lead").history.order_by("-history_id").first()
    assert latest.history_user == manager_user
    assert latest.history_change_reason == "Calibrated from 10 decided deals of other funds (3 won)"


def test_members_cannot_adopt(member_client, history):
    assert member_client.post(reverse("stage_calibration_adopt"), {"fund": history[1].pk}).status_code == 403
    assert stage("Lead").default_probability == 10


def test_the_board_shows_the_calibrated_forecast_beside_the_typed_one(member_client, history):
    new = history[1]
    new.target_size = Decimal("10000000")
    new.save()
    board = member_client.get(reverse("pipeline_board"), {"fund": new.pk}).content.decode()
    # The board asks for it once drawn (hx-trigger="load"): the history is not read in its request.
    assert f'hx-get="{PAGE}?fund={new.pk}" hx-trigger="load"' in board
    assert "% forecast · <a" in board  # the typed forecast, then the calibrated one
    fragment = member_client.get(PAGE, {"fund": new.pk}, headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert "<html" not in html
    assert 'data-figure="calibrated-forecast"' in html
    assert "37% calibrated" in html  # 3.7M at the calibrated rates
    # Both in full in its title: the board's own forecast weighs each deal at its typed
    # probability (these deals kept Lead's 10% as they moved: 7M × 10%).
    assert "calibrates: $3,700,000, against $700,000 at the deals' typed probabilities" in html
