"""LP profiles and commitments: the LP tracker's rows and filters, and the LP forms' writes."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, Sum
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from contacts.models import Contact
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
from crm.lib.text import NAME_MAX, NOTE_MAX, SHORT_NAME_MAX
from crm.permissions import Capability, refusal, require
from lps.filters import CommitmentFilter
from lps.forms import CommitmentForm, LPProfileForm
from lps.models import CallLine, CapitalCall, Commitment, Fund, LPProfile

router = Router(tags=["lps"])


class CommitmentOut(Schema):
    id: int
    lp_id: int
    contact_id: int
    contact_name: str
    fund_id: int
    fund: str
    investing_entity: str
    status: str
    commitment_amount: Decimal
    funded_amount: Decimal
    commitment_date: datetime.date | None
    legal_docs_signed: bool
    signed_date: datetime.date | None
    wire_received: bool
    wire_date: datetime.date | None
    k1_sent: bool
    soft_amount: Decimal | None
    soft_date: datetime.date | None
    hard_amount: Decimal | None
    hard_date: datetime.date | None
    signed_amount: Decimal | None
    closed_amount: Decimal | None
    closed_date: datetime.date | None
    close_id: int | None
    withdrawn_reason: str

    @staticmethod
    def resolve_contact_id(obj: Commitment) -> int:
        return obj.lp.contact_id

    @staticmethod
    def resolve_contact_name(obj: Commitment) -> str:
        return str(obj.lp.contact)

    @staticmethod
    def resolve_fund(obj: Commitment) -> str:
        return obj.fund.name


class CommitmentList(Page):
    items: list[CommitmentOut]


class LPProfileOut(Schema):
    id: int
    contact_id: int
    contact_name: str
    investor_type: str
    accredited: bool
    qualified_purchaser: bool
    preferred_communication: str
    notes: str
    commitments: list[CommitmentOut]

    @staticmethod
    def resolve_contact_name(obj: LPProfile) -> str:
        return str(obj.contact)

    @staticmethod
    def resolve_commitments(obj: LPProfile) -> list[Commitment]:
        return list(obj.commitments.all())


@router.get(
    "/commitments",
    response=CommitmentList,
    url_name="api_commitment_list",
    openapi_extra=filter_parameters(CommitmentFilter),
)
def commitment_list(request: HttpRequest) -> dict:
    """Commitments, filtered as the LP tracker is (q, fund, investor_type, status, missing, o)."""
    queryset = Commitment.objects.visible_to(request.user).for_tracker()
    page, items = filtered_page(request, CommitmentFilter, queryset.order_by("-fund__vintage_year", "fund__name"))
    return {**page, "items": items}


@router.get("/lps/{pk}", response=LPProfileOut, url_name="api_lp_detail")
def lp_detail(request: HttpRequest, pk: PathId) -> LPProfile:
    """An LP profile with its commitments."""
    commitments = Commitment.objects.visible_to(request.user).for_tracker()
    return (
        LPProfile.objects.select_related("contact")
        .prefetch_related(Prefetch("commitments", queryset=commitments))
        .get_for_user(request.user, pk)
    )


def _lp(user, pk: int) -> LPProfile:
    commitments = Commitment.objects.visible_to(user).for_tracker()
    return (
        LPProfile.objects.select_related("contact")
        .prefetch_related(Prefetch("commitments", queryset=commitments))
        .get(pk=pk)
    )


class LPProfileIn(Body):
    """An LP profile's fields, checked as its form does; on PATCH only those sent change. The
    compliance flags are a manager's or admin's to set (a member who sends them gets a 403)."""

    contact_id: RecordId | None = Field(None, description="On create: a contact without an LP profile.")
    investor_type: str | None = Field(None, max_length=20)
    accredited: bool | None = None
    qualified_purchaser: bool | None = None
    preferred_communication: str | None = Field(None, max_length=SHORT_NAME_MAX)
    notes: str | None = Field(None, max_length=NOTE_MAX)


def _save_lp(request: HttpRequest, profile: LPProfile, payload: LPProfileIn) -> LPProfile:
    changes = {("contact" if k == "contact_id" else k): v for k, v in payload.dict(exclude_unset=True).items()}
    form = LPProfileForm(instance=profile, user=request.user)
    withheld = {name for name in ("accredited", "qualified_purchaser") if name not in form.fields}
    if any(changes.get(name, getattr(profile, name)) != getattr(profile, name) for name in withheld):
        raise PermissionDenied(refusal(Capability.CHANGE_COMPLIANCE))
    if profile.pk is not None and changes.get("contact", profile.contact_id) != profile.contact_id:
        raise Problem(422, "An LP profile stays with its contact.", {"contact_id": ["Cannot be changed."]})
    if profile.pk is None:
        contact = Contact.objects.visible_to(request.user).filter(pk=changes.get("contact")).first()
        if contact is not None and LPProfile.objects.filter(contact=contact).exists():
            raise Problem(409, f"{contact} already has an LP profile.", {"contact_id": ["Already an LP."]})
    else:
        changes.pop("contact", None)  # the edit form has no contact field
    form = bound_form(LPProfileForm(form_data(record_values(form), changes), instance=profile, user=request.user))
    try:
        with transaction.atomic():
            saved = form.save()
    except IntegrityError:  # the same contact made an LP since the form was checked
        raise Problem(409, "This contact already has an LP profile.", {"contact_id": ["Already an LP."]}) from None
    return _lp(request.user, saved.pk)


@router.post("/lps", response={201: LPProfileOut}, url_name="api_lp_create")
def lp_create(request: HttpRequest, payload: LPProfileIn) -> Status:
    """Make a contact an LP, as the LP form does (the contact becomes an investor)."""
    return Status(201, _save_lp(request, LPProfile(), payload))


@router.patch("/lps/{pk}", response=LPProfileOut, url_name="api_lp_edit")
def lp_edit(request: HttpRequest, pk: PathId, payload: LPProfileIn) -> LPProfile:
    profile = LPProfile.objects.select_related("contact").get_for_user(request.user, pk, write=True)
    return _save_lp(request, profile, payload)


Money = Field(None, ge=0, max_digits=15, decimal_places=2)


class CommitmentIn(Body):
    """A commitment's fields, checked as the commitment form does; on PATCH only those sent
    change. Managers and admins only. Moving up the ladder keeps each earlier rung's amount."""

    fund_id: RecordId | None = Field(None, description="On create; a commitment stays in its fund.")
    investing_entity: str | None = Field(None, max_length=NAME_MAX)
    status: str | None = Field(None, max_length=12)
    commitment_amount: Decimal | None = Money
    funded_amount: Decimal | None = Field(
        None, ge=0, max_digits=15, decimal_places=2, description="Set by capital calls once it has any."
    )
    commitment_date: datetime.date | None = None
    legal_docs_signed: bool | None = None
    signed_date: datetime.date | None = None
    wire_received: bool | None = None
    wire_date: datetime.date | None = None
    notes: str | None = Field(None, max_length=NOTE_MAX)
    soft_amount: Decimal | None = Money
    soft_date: datetime.date | None = None
    hard_amount: Decimal | None = Money
    hard_date: datetime.date | None = None
    withdrawn_reason: str | None = Field(None, max_length=NAME_MAX)
    close_id: RecordId | None = None


def _save_commitment(request: HttpRequest, commitment: Commitment, payload: CommitmentIn) -> Commitment:
    # The permission layer's own check, before anything is read: the model refuses the save anyway.
    require(request.user, Capability.CHANGE_COMMITMENTS)
    names = {"fund_id": "fund", "close_id": "close"}
    changes = {names.get(k, k): v for k, v in payload.dict(exclude_unset=True).items()}
    form = CommitmentForm(instance=commitment, user=request.user)
    if commitment.pk is not None:
        if changes.get("fund", commitment.fund_id) != commitment.fund_id:
            raise Problem(422, "A commitment stays in its fund.", {"fund_id": ["Cannot be changed."]})
        sent = changes.get("funded_amount", commitment.funded_amount)
        if form.fields["funded_amount"].disabled and sent != commitment.funded_amount:
            raise Problem(
                409,
                "The funded amount is the sum received on this commitment's capital calls.",
                {"funded_amount": ["Set by its capital calls."]},
            )
    form = bound_form(CommitmentForm(form_data(record_values(form), changes), instance=commitment, user=request.user))
    try:
        with transaction.atomic():
            saved = form.save()
    except IntegrityError:  # the same LP, fund and entity recorded since the form was checked
        raise Problem(
            409, "This LP already has a commitment to this fund through this entity.", {"investing_entity": []}
        ) from None
    return Commitment.objects.visible_to(request.user).for_tracker().get(pk=saved.pk)


@router.post("/lps/{pk}/commitments", response={201: CommitmentOut}, url_name="api_commitment_create")
def commitment_create(request: HttpRequest, pk: PathId, payload: CommitmentIn) -> Status:
    """Add a commitment to an LP profile, as the LP page's form does (managers and admins)."""
    require(request.user, Capability.CHANGE_COMMITMENTS)
    profile = LPProfile.objects.get_for_user(request.user, pk, write=True)
    return Status(201, _save_commitment(request, Commitment(lp=profile), payload))


@router.get("/commitments/{pk}", response=CommitmentOut, url_name="api_commitment_detail")
def commitment_detail(request: HttpRequest, pk: PathId) -> Commitment:
    return Commitment.objects.visible_to(request.user).for_tracker().get_for_user(request.user, pk)


@router.patch("/commitments/{pk}", response=CommitmentOut, url_name="api_commitment_edit")
def commitment_edit(request: HttpRequest, pk: PathId, payload: CommitmentIn) -> Commitment:
    require(request.user, Capability.CHANGE_COMMITMENTS)
    commitment = Commitment.objects.visible_to(request.user).get_for_user(request.user, pk, write=True)
    return _save_commitment(request, commitment, payload)


# --- capital calls (read): the fund's calls page and a call's page ---------------------------------


class CapitalCallOut(Schema):
    id: int
    fund_id: int
    number: int
    notice_date: datetime.date
    due_date: datetime.date
    purpose: str
    amount: Decimal
    percent: Decimal | None
    received: Decimal
    lp_count: int


class CallLineOut(Schema):
    id: int
    commitment_id: int
    lp_id: int
    lp_name: str
    amount: Decimal
    received_amount: Decimal
    received_date: datetime.date | None
    outstanding: Decimal

    @staticmethod
    def resolve_lp_id(obj: CallLine) -> int:
        return obj.commitment.lp_id

    @staticmethod
    def resolve_lp_name(obj: CallLine) -> str:
        return str(obj.commitment.lp.contact)

    @staticmethod
    def resolve_outstanding(obj: CallLine) -> Decimal:
        return max(obj.amount - obj.received_amount, Decimal("0"))


class CapitalCallDetail(CapitalCallOut):
    overdue: bool
    notes: str
    lines: list[CallLineOut]


def _calls(user):
    return (
        CapitalCall.objects.visible_to(user)
        .annotate(received_sum=Sum("lines__received_amount"), lp_count=Count("lines"))
        .order_by("-number", "pk")
    )


def _call_out(call: CapitalCall) -> dict:
    return {
        **{name: getattr(call, name) for name in ("id", "fund_id", "number", "notice_date", "due_date", "purpose")},
        **{name: getattr(call, name) for name in ("amount", "percent", "lp_count", "notes")},
        "received": call.received_sum or Decimal("0"),
    }


@router.get("/funds/{pk}/capital-calls", response=list[CapitalCallOut], url_name="api_capital_call_list")
def capital_call_list(request: HttpRequest, pk: PathId) -> list[dict]:
    """The fund's capital calls, latest first, with what each asked and received (its calls page)."""
    fund = Fund.objects.get_for_user(request.user, pk)
    return [_call_out(call) for call in _calls(request.user).filter(fund=fund)]


@router.get("/capital-calls/{pk}", response=CapitalCallDetail, url_name="api_capital_call_detail")
def capital_call_detail(request: HttpRequest, pk: PathId) -> dict:
    """A capital call with every LP's line: called, received, outstanding."""
    call = _calls(request.user).get_for_user(request.user, pk)
    lines = (
        CallLine.objects.visible_to(request.user)
        .filter(call=call)
        .select_related("commitment__lp__contact")
        .order_by("-amount", "pk")
    )
    return {**_call_out(call), "overdue": call.due_date < timezone.localdate(), "lines": list(lines)}
