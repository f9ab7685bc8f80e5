"""Opportunities and their stage moves (the board's own service), funds, stages and users."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Router, Schema

from crm.api.common import Body, Page, PathId, RecordId, bound_form, filter_parameters, filtered_page, form_data
from crm.api.errors import Problem
from crm.lib.text import LINE_MAX
from crm.models import User
from lps.models import Fund
from pipeline import services
from pipeline.filters import OpportunityFilter
from pipeline.forms import MoveForm
from pipeline.models import Opportunity, Stage

router = Router(tags=["pipeline"])


class FundOut(Schema):
    id: int
    name: str
    vintage_year: int | None
    target_size: Decimal | None
    hard_cap: Decimal | None
    currency: str
    status: str


class StageOut(Schema):
    id: int
    name: str
    order: int
    default_probability: int
    outcome: str


class UserOut(Schema):
    id: int
    name: str
    role: str

    @staticmethod
    def resolve_name(obj: User) -> str:
        return obj.display_name


class OpportunityOut(Schema):
    id: int
    name: str
    contact_id: int
    organization_id: int | None
    fund_id: int
    stage_id: int
    stage_name: str
    expected_amount: Decimal
    commitment_amount: Decimal | None
    probability: int | None
    expected_close_date: datetime.date | None
    next_step: str
    next_step_date: datetime.date | None
    source: str
    owner_id: int | None
    priority: str
    lost_reason: str
    stage_changed_at: datetime.datetime
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @staticmethod
    def resolve_stage_name(obj: Opportunity) -> str:
        return obj.stage.name


class OpportunityList(Page):
    items: list[OpportunityOut]


class MoveIn(Body):
    stage_id: RecordId
    lost_reason: str = Field("", max_length=LINE_MAX, description="Required when the stage is a lost one.")
    commitment_action: str = Field(
        "", max_length=10, description="When a won deal leaves its won stage: keep or delete its commitment."
    )


def _opportunities(user: Any):
    return Opportunity.objects.visible_to(user).select_related("contact", "organization", "fund", "stage", "owner")


@router.get(
    "/opportunities",
    response=OpportunityList,
    url_name="api_opportunity_list",
    openapi_extra=filter_parameters(OpportunityFilter),
    tags=["pipeline"],
)
def opportunity_list(request: HttpRequest) -> dict:
    """Opportunities, filtered as the opportunities page is (fund, stage, owner, q, …)."""
    page, items = filtered_page(request, OpportunityFilter, _opportunities(request.user).with_list_figures())
    return {**page, "items": items}


@router.get("/opportunities/{pk}", response=OpportunityOut, url_name="api_opportunity_detail")
def opportunity_detail(request: HttpRequest, pk: PathId) -> Opportunity:
    return _opportunities(request.user).get_for_user(request.user, pk)


@router.post("/opportunities/{pk}/move", response=OpportunityOut, url_name="api_opportunity_move")
def opportunity_move(request: HttpRequest, pk: PathId, payload: MoveIn) -> Opportunity:
    """Move a deal to another stage by the board's rules: a lost stage needs a reason, a won
    stage records the commitment (managers and admins), leaving a won stage asks what
    becomes of the commitment. The move lands in the deal's history."""
    opportunity = _opportunities(request.user).get_for_user(request.user, pk, write=True)
    stage = Stage.objects.visible_to(request.user).filter(pk=payload.stage_id).first()
    if stage is not None and stage != opportunity.stage and not services.may_enter(stage, request.user):
        raise PermissionDenied(services.entry_refusal(stage))
    if payload.commitment_action == services.DELETE and not services.may_delete_commitments(request.user):
        raise PermissionDenied("Only a manager or admin may delete a commitment.")
    data = form_data({}, {"stage": payload.stage_id, **payload.dict(exclude={"stage_id"})})
    form = bound_form(MoveForm(data, opportunity=opportunity, user=request.user))
    try:
        services.move_opportunity(
            opportunity,
            form.cleaned_data["stage"],
            request.user,
            lost_reason=form.cleaned_data["lost_reason"],
            commitment_action=form.cleaned_data["commitment_action"],
        )
    except services.MoveRefused as refusal:
        raise Problem(409, str(refusal)) from None
    return _opportunities(request.user).get(pk=opportunity.pk)


@router.get("/funds", response=list[FundOut], url_name="api_fund_list", tags=["reference"])
def fund_list(request: HttpRequest) -> list[Fund]:
    return list(Fund.objects.visible_to(request.user).order_by("name", "pk"))


@router.get("/stages", response=list[StageOut], url_name="api_stage_list", tags=["reference"])
def stage_list(request: HttpRequest) -> list[Stage]:
    return list(Stage.objects.visible_to(request.user).order_by("order", "pk"))


@router.get("/users", response=list[UserOut], url_name="api_user_list", tags=["reference"])
def user_list(request: HttpRequest) -> list[User]:
    """The team: id, name and role of every active user."""
    return list(User.objects.team().order_by("full_name", "username", "pk"))
