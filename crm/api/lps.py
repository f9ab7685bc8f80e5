"""LP profiles and commitments (read): the LP tracker's rows and filters."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Router, Schema

from crm.api.common import Page, PathId, filter_parameters, filtered_page
from lps.filters import CommitmentFilter
from lps.models import Commitment, LPProfile

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
