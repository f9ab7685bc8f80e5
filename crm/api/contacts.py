"""Contacts, organizations and tags: the list pages' filters, the forms' rules."""

from __future__ import annotations

import datetime
from typing import Any

from django.forms.models import model_to_dict
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from contacts.filters import ContactFilter, OrganizationFilter
from contacts.forms import ContactForm
from contacts.models import Contact, Organization, Tag
from crm.api.common import Body, Page, PathId, RecordId, bound_form, filter_parameters, filtered_page, form_data
from crm.api.errors import Problem
from crm.lib.text import (
    AFFIX_MAX,
    LINE_MAX,
    NAME_MAX,
    NOTE_MAX,
    PHONE_MAX,
    SHORT_NAME_MAX,
    TITLE_MAX,
    URL_MAX,
    normalize_email,
)

router = Router(tags=["contacts"])


class TagOut(Schema):
    id: int
    name: str
    colour: str


class OrganizationOut(Schema):
    id: int
    name: str
    type: str
    industry: str
    website: str
    phone: str
    email: str
    city: str
    country: str
    tag_ids: list[int]
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @staticmethod
    def resolve_tag_ids(obj: Organization) -> list[int]:
        return [tag.pk for tag in obj.tags.all()]


class OrganizationList(Page):
    items: list[OrganizationOut]


class ContactOut(Schema):
    id: int
    full_name: str
    name_prefix: str
    first_name: str
    last_name: str
    name_suffix: str
    email: str
    phone: str
    mobile: str
    title: str
    organization_id: int | None
    organization_name: str
    contact_type: str
    status: str
    owner_id: int | None
    source: str
    tag_ids: list[int]
    location: str
    preferred_contact: str
    do_not_email: bool
    linkedin_url: str
    notes: str
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @staticmethod
    def resolve_organization_name(obj: Contact) -> str:
        return obj.organization.name if obj.organization_id else ""

    @staticmethod
    def resolve_tag_ids(obj: Contact) -> list[int]:
        return [tag.pk for tag in obj.tags.all()]


class ContactList(Page):
    items: list[ContactOut]


class ContactIn(Body):
    """A contact's fields; on PATCH only those sent change. Values are checked as the form does."""

    name_prefix: str | None = Field(None, max_length=AFFIX_MAX)
    first_name: str | None = Field(None, max_length=SHORT_NAME_MAX)
    last_name: str | None = Field(None, max_length=SHORT_NAME_MAX)
    name_suffix: str | None = Field(None, max_length=AFFIX_MAX)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=PHONE_MAX)
    mobile: str | None = Field(None, max_length=PHONE_MAX)
    title: str | None = Field(None, max_length=TITLE_MAX)
    organization_name: str | None = Field(None, max_length=NAME_MAX, description="Matched ignoring case and spacing.")
    create_organization: bool | None = Field(None, description="Create organization_name if no organization has it.")
    contact_type: str | None = Field(None, max_length=20)
    status: str | None = Field(None, max_length=20)
    owner_id: RecordId | None = None
    source: str | None = Field(None, max_length=SHORT_NAME_MAX)
    tag_ids: list[RecordId] | None = Field(None, max_length=500)
    location: str | None = Field(None, max_length=TITLE_MAX)
    preferred_contact: str | None = Field(None, max_length=LINE_MAX)
    do_not_email: bool | None = None
    linkedin_url: str | None = Field(None, max_length=URL_MAX)
    notes: str | None = Field(None, max_length=NOTE_MAX)


# API names that differ from the form's.
_FORM_NAMES = {"owner_id": "owner", "tag_ids": "tags"}


def _contacts(user: Any):
    return Contact.objects.visible_to(user).select_related("organization", "owner").prefetch_related("tags")


def _refuse_duplicate_email(email: str | None, contact: Contact) -> None:
    if email and Contact.objects.matching_email(email).exclude(pk=contact.pk).exists():
        raise Problem(409, "Another contact already has this email address.", {"email": ["Already in use."]})


def _save_contact(request: HttpRequest, contact: Contact, payload: ContactIn) -> Contact:
    changes = {_FORM_NAMES.get(k, k): v for k, v in payload.dict(exclude_unset=True).items()}
    _refuse_duplicate_email(normalize_email(changes.get("email")), contact)
    # What the record holds now (a new one: the model's defaults), as the form would show it.
    initial = model_to_dict(contact, fields=ContactForm._meta.fields)
    initial["tags"] = [tag.pk for tag in initial.get("tags", [])]
    initial["organization_name"] = contact.organization.name if contact.organization_id else ""
    form = bound_form(ContactForm(form_data(initial, changes), instance=contact, user=request.user))
    saved = form.save(commit=False)
    saved.save()
    form.save_m2m()
    return _contacts(request.user).get(pk=saved.pk)


@router.get(
    "/contacts", response=ContactList, url_name="api_contact_list", openapi_extra=filter_parameters(ContactFilter)
)
def contact_list(request: HttpRequest) -> dict:
    """Contacts, filtered as the contacts page is (q, type, status, tag, owner, organization, source, untouched, o)."""
    queryset = Contact.objects.visible_to(request.user).for_list()
    page, items = filtered_page(request, ContactFilter, queryset)
    return {**page, "items": items}


@router.post("/contacts", response={201: ContactOut}, url_name="api_contact_create")
def contact_create(request: HttpRequest, payload: ContactIn) -> Status:
    return Status(201, _save_contact(request, Contact(created_by=request.user), payload))


@router.get("/contacts/{pk}", response=ContactOut, url_name="api_contact_detail")
def contact_detail(request: HttpRequest, pk: PathId) -> Contact:
    return _contacts(request.user).get_for_user(request.user, pk)


@router.patch("/contacts/{pk}", response=ContactOut, url_name="api_contact_edit")
def contact_edit(request: HttpRequest, pk: PathId, payload: ContactIn) -> Contact:
    contact = _contacts(request.user).get_for_user(request.user, pk, write=True)
    return _save_contact(request, contact, payload)


@router.get(
    "/organizations",
    response=OrganizationList,
    url_name="api_organization_list",
    openapi_extra=filter_parameters(OrganizationFilter),
)
def organization_list(request: HttpRequest) -> dict:
    """Organizations, filtered as the organizations page is."""
    queryset = Organization.objects.visible_to(request.user).with_stats().prefetch_related("tags")
    page, items = filtered_page(request, OrganizationFilter, queryset)
    return {**page, "items": items}


@router.get("/organizations/{pk}", response=OrganizationOut, url_name="api_organization_detail")
def organization_detail(request: HttpRequest, pk: PathId) -> Organization:
    return Organization.objects.prefetch_related("tags").get_for_user(request.user, pk)


@router.get("/tags", response=list[TagOut], url_name="api_tag_list")
def tag_list(request: HttpRequest) -> list[Tag]:
    return list(Tag.objects.visible_to(request.user).order_by("name", "pk"))
