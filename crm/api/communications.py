"""Communications (the log: calls, meetings, emails) and the next actions they carry."""

from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from contacts.filters import CommunicationFilter
from contacts.forms import CommunicationForm
from contacts.models import Communication
from contacts.services import communications_for
from crm.api.common import Body, Page, PathId, RecordId, bound_form, filter_parameters, filtered_page, form_data
from crm.lib.text import LINE_MAX, NOTE_MAX

router = Router(tags=["communications"])


class CommunicationOut(Schema):
    id: int
    contact_id: int
    opportunity_id: int | None
    type: str
    subject: str
    communication_date: datetime.datetime
    duration_minutes: int | None
    outcome: str
    next_action: str
    next_action_date: datetime.date | None
    next_action_done: bool
    created_by_id: int | None
    created_at: datetime.datetime


class CommunicationDetail(CommunicationOut):
    body: str


class CommunicationList(Page):
    items: list[CommunicationOut]


class CommunicationIn(Body):
    """Log a call, meeting or email. A subject, notes or an outcome is needed, as on the form."""

    contact_id: RecordId
    type: str = Field("call", max_length=10)
    communication_date: datetime.datetime | None = Field(None, description="Defaults to now.")
    duration_minutes: int | None = Field(None, ge=0, le=7 * 24 * 60)
    subject: str = Field("", max_length=LINE_MAX)
    body: str = Field("", max_length=NOTE_MAX)
    outcome: str = Field("", max_length=LINE_MAX)
    next_action: str = Field("", max_length=LINE_MAX)
    next_action_date: datetime.date | None = None
    opportunity_id: RecordId | None = None
    team_attendee_ids: list[RecordId] | None = Field(None, max_length=100, description="Defaults to you.")


def _form_values(payload: CommunicationIn, user: Any) -> dict[str, Any]:
    values = payload.dict()
    when = values.pop("communication_date") or datetime.datetime.now(datetime.UTC)
    return {
        **values,
        "contact": values.pop("contact_id"),
        "opportunity": values.pop("opportunity_id"),
        "team_attendees": values.pop("team_attendee_ids") or [user.pk],
        "communication_date": when.isoformat(),
        "next_action_date": values["next_action_date"].isoformat() if values["next_action_date"] else None,
    }


@router.get(
    "/communications",
    response=CommunicationList,
    url_name="api_communication_list",
    openapi_extra=filter_parameters(CommunicationFilter),
)
def communication_list(request: HttpRequest) -> dict:
    """The log, filtered as its page is; ``open_action=yes`` lists open next actions (tasks)."""
    queryset = communications_for(request.user).defer("body", "attachment_names").order_by("-communication_date")
    page, items = filtered_page(request, CommunicationFilter, queryset)
    return {**page, "items": items}


@router.post("/communications", response={201: CommunicationDetail}, url_name="api_communication_create")
def communication_create(request: HttpRequest, payload: CommunicationIn) -> Status:
    form = bound_form(CommunicationForm(form_data({}, _form_values(payload, request.user)), user=request.user))
    communication = form.save()
    return Status(201, communications_for(request.user).get(pk=communication.pk))


@router.get("/communications/{pk}", response=CommunicationDetail, url_name="api_communication_detail")
def communication_detail(request: HttpRequest, pk: PathId) -> Communication:
    return communications_for(request.user).get_for_user(request.user, pk)
