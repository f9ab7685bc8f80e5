"""Stage probabilities calibrated from the fund's own history.

A stage's typed default probability is a guess. Calibrated: of the decided deals (won or lost)
of the other funds that reached this stage, as their stage history shows, the share that won,
with the sample size beside it so that nobody adopts a rate drawn from three deals. The
forecast of the fund being raised is then shown both ways: with the typed probabilities and
with the calibrated ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Sum

from lps.models import Fund
from pipeline.models import Opportunity, Stage, StageOutcome

# Fewer decided deals than this and a calibrated rate is shown but not offered for adoption.
MIN_SAMPLE = 5
ZERO = Decimal("0")


@dataclass
class StageCalibration:
    stage: Stage
    reached: int  # decided deals of other funds that reached the stage
    won: int

    @property
    def calibrated(self) -> int | None:
        if not self.reached:
            return None
        return int((Decimal(self.won) * 100 / self.reached).quantize(Decimal("1"), rounding=ROUND_HALF_UP))

    @property
    def enough(self) -> bool:
        return self.reached >= MIN_SAMPLE

    @property
    def differs(self) -> bool:
        return self.enough and self.calibrated != self.stage.default_probability


@dataclass
class Calibration:
    fund: Fund | None
    stages: list[StageCalibration]
    typed_forecast: Decimal
    calibrated_forecast: Decimal
    sample_funds: int

    @property
    def adoptable(self) -> list[StageCalibration]:
        return [row for row in self.stages if row.differs]


def calibrate(user: Any, fund: Fund | None) -> Calibration:
    """Per open stage, the win rate of the other funds' decided deals that reached it, and
    ``fund``'s open pipeline weighted both ways. Five queries whatever the history's size."""
    stages = list(Stage.objects.visible_to(user).order_by("order", "pk"))
    open_stages = [stage for stage in stages if stage.outcome == StageOutcome.OPEN]
    others = Opportunity.objects.visible_to(user).exclude(fund=fund) if fund else Opportunity.objects.none()
    decided_deals = others.exclude(stage__outcome=StageOutcome.OPEN).order_by()
    decided = dict(decided_deals.values_list("pk", "stage__outcome"))
    reached: dict[int, set[int]] = defaultdict(set)
    history = Opportunity.history.filter(id__in=decided_deals.values("pk")).order_by()
    history = history.values_list("id", "stage_id").distinct()
    for opportunity_id, stage_id in history.iterator(chunk_size=2000):
        reached[stage_id].add(opportunity_id)
    rows = [
        StageCalibration(
            stage,
            len(reached[stage.pk]),
            sum(1 for pk in reached[stage.pk] if decided.get(pk) == StageOutcome.WON),
        )
        for stage in open_stages
    ]
    typed = calibrated = ZERO
    if fund is not None:
        by_stage = dict(
            Opportunity.objects.visible_to(user)
            .filter(fund=fund)
            .open()
            .values("stage")
            .annotate(expected=Sum("expected_amount"))
            .order_by()
            .values_list("stage", "expected")
        )
        rate = {row.stage.pk: row.calibrated if row.enough else row.stage.default_probability for row in rows}
        for stage in open_stages:
            expected = by_stage.get(stage.pk) or ZERO
            typed += expected * stage.default_probability / 100
            calibrated += expected * (rate.get(stage.pk) or 0) / 100
    sample_funds = decided_deals.values("fund").distinct().count() if decided else 0
    cent = Decimal("0.01")
    return Calibration(fund, rows, typed.quantize(cent), calibrated.quantize(cent), sample_funds)


def adopt(calibration: Calibration, user: Any) -> list[Stage]:
    """Set each stage with enough history to its calibrated probability (guarded: fund set-up)."""
    changed = []
    for row in calibration.adoptable:
        row.stage._history_user = user
        row.stage.default_probability = row.calibrated
        row.stage._change_reason = f"Calibrated from {row.reached} decided deals of other funds ({row.won} won)"
        row.stage.save()
        changed.append(row.stage)
    return changed
