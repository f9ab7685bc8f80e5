"""Opportunities and their stage moves (the board's own service), funds, stages and users."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from crm.api.common import (
    Body,
    Page,
    PathId,
    RecordId,
    bound_form,
    filter_parameters,
    filtered_page,
    form_data,
    record_values,
)
from crm.api.errors import Problem
from crm.lib.text import LINE_MAX, NAME_MAX, NOTE_MAX, SHORT_NAME_MAX
from crm.models import User
from lps.models import Fund
from pipeline import services
from pipeline.filters import OpportunityFilter
from pipeline.forms import MoveForm, OpportunityForm
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
    description: str
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


class OpportunityIn(Body):
    """A deal's fields, checked as the opportunity form checks them. On PATCH only those sent
    change, and the stage stays: move a deal with ``POST /opportunities/{id}/move``."""

    contact_id: RecordId | None = None
    name: str | None = Field(None, max_length=NAME_MAX, description="Blank names it after the organization and fund.")
    organization_id: RecordId | None = Field(None, description="Blank takes the contact's organization.")
    fund_id: RecordId | None = None
    stage_id: RecordId | None = Field(
        None, description="On create: the stage to start in (won stages: managers and admins, as on the board)."
    )
    probability: int | None = Field(None, ge=0, le=100, description="Blank follows the stage's default.")
    expected_amount: Decimal | None = Field(None, ge=0, max_digits=15, decimal_places=2)
    commitment_amount: Decimal | None = Field(None, ge=0, max_digits=15, decimal_places=2)
    expected_close_date: datetime.date | None = None
    owner_id: RecordId | None = None
    priority: str | None = Field(None, max_length=10)
    next_step: str | None = Field(None, max_length=LINE_MAX)
    next_step_date: datetime.date | None = None
    source: str | None = Field(None, max_length=SHORT_NAME_MAX)
    lost_reason: str | None = Field(None, max_length=LINE_MAX)
    description: str | None = Field(None, max_length=NOTE_MAX)


_OPPORTUNITY_FORM_NAMES = {
    "contact_id": "contact",
    "organization_id": "organization",
    "fund_id": "fund",
    "stage_id": "stage",
    "owner_id": "owner",
}


def _opportunity_form(request: HttpRequest, opportunity: Opportunity, payload: OpportunityIn) -> OpportunityForm:
    changes = {_OPPORTUNITY_FORM_NAMES.get(k, k): v for k, v in payload.dict(exclude_unset=True).items()}
    form = OpportunityForm(instance=opportunity, user=request.user)
    if opportunity.pk is not None:
        if changes.get("stage", opportunity.stage_id) != opportunity.stage_id:
            raise Problem(
                422,
                "The stage changes by the board's rules: POST /api/v1/opportunities/{id}/move.",
                {"stage_id": ["Move the deal with its move endpoint."]},
            )
        sent = changes.get("commitment_amount", opportunity.commitment_amount)
        if form.fields["commitment_amount"].disabled and sent != opportunity.commitment_amount:
            raise PermissionDenied(form.fields["commitment_amount"].help_text)
    else:
        stage = Stage.objects.visible_to(request.user).filter(pk=changes.get("stage")).first()
        if stage is not None and not services.may_enter(stage, request.user):
            raise PermissionDenied(services.entry_refusal(stage))
    data = form_data(record_values(form), changes)
    return bound_form(OpportunityForm(data, instance=opportunity, user=request.user))


@router.post("/opportunities", response={201: OpportunityOut}, url_name="api_opportunity_create")
def opportunity_create(request: HttpRequest, payload: OpportunityIn) -> Status:
    """Add a deal as the form does: a won stage records its commitment (managers and admins)."""
    form = _opportunity_form(request, Opportunity(), payload)
    opportunity = form.save(commit=False)
    opportunity.created_by = request.user
    try:
        with transaction.atomic():
            services.save_with_stage_effects(opportunity, request.user, previous_stage=None)
    except services.MoveRefused as refusal:
        raise Problem(409, str(refusal)) from None
    return Status(201, _opportunities(request.user).get(pk=opportunity.pk))


@router.patch("/opportunities/{pk}", response=OpportunityOut, url_name="api_opportunity_edit")
def opportunity_edit(request: HttpRequest, pk: PathId, payload: OpportunityIn) -> Opportunity:
    """Change a deal's fields as the form does; a won deal's amount follows into its commitment."""
    opportunity = _opportunities(request.user).get_for_user(request.user, pk, write=True)
    form = _opportunity_form(request, opportunity, payload)
    opportunity = form.save(commit=False)
    try:
        with transaction.atomic():
            services.save_with_stage_effects(
                opportunity,
                request.user,
                previous_stage=form.previous_stage,
                follow_probability=False,
                sync_commitment=bool({"commitment_amount", "expected_amount"} & set(form.changed_data)),
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
