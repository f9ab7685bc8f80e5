"""Contacts, organizations and tags: the list pages' filters, the forms' rules."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from contacts.filters import ContactFilter, OrganizationFilter
from contacts.forms import ContactForm, OrganizationForm, TagForm
from contacts.models import Contact, Organization, Tag
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
from crm.lib.text import (
    ADDRESS_MAX,
    AFFIX_MAX,
    LABEL_MAX,
    LINE_MAX,
    NAME_MAX,
    NOTE_MAX,
    PHONE_MAX,
    SHORT_NAME_MAX,
    TITLE_MAX,
    URL_MAX,
    collapse_spaces,
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
    # Custom fields included: a PATCH that leaves one out keeps its value.
    initial = record_values(ContactForm(instance=contact, user=request.user))
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


class OrganizationIn(Body):
    """An organization's fields; on PATCH only those sent change. Checked as the form does."""

    name: str | None = Field(None, max_length=NAME_MAX)
    type: str | None = Field(None, max_length=20)
    industry: str | None = Field(None, max_length=SHORT_NAME_MAX)
    website: str | None = Field(None, max_length=URL_MAX)
    phone: str | None = Field(None, max_length=PHONE_MAX)
    email: str | None = Field(None, max_length=254)
    address: str | None = Field(None, max_length=ADDRESS_MAX)
    city: str | None = Field(None, max_length=SHORT_NAME_MAX)
    state: str | None = Field(None, max_length=SHORT_NAME_MAX)
    country: str | None = Field(None, max_length=SHORT_NAME_MAX)
    tag_ids: list[RecordId] | None = Field(None, max_length=500)
    description: str | None = Field(None, max_length=NOTE_MAX)


class TagIn(Body):
    name: str | None = Field(None, max_length=LABEL_MAX)
    colour: str | None = Field(None, max_length=10)


def _refuse_duplicate_name(model: type, name: str | None, record: Any, what: str) -> None:
    """A name another record holds (ignoring case and spacing) is a conflict, not a field error."""
    if not name:
        return
    if model.objects.filter(name__iexact=collapse_spaces(name)).exclude(pk=record.pk).exists():
        raise Problem(409, f"Another {what} already has this name.", {"name": ["Already in use."]})


def _save_organization(request: HttpRequest, organization: Organization, payload: OrganizationIn) -> Organization:
    changes = {_FORM_NAMES.get(k, k): v for k, v in payload.dict(exclude_unset=True).items()}
    _refuse_duplicate_name(Organization, changes.get("name"), organization, "organization")
    initial = record_values(OrganizationForm(instance=organization))
    form = bound_form(OrganizationForm(form_data(initial, changes), instance=organization))
    saved = form.save(commit=False)
    saved.save()
    form.save_m2m()
    return Organization.objects.prefetch_related("tags").get(pk=saved.pk)


@router.post("/organizations", response={201: OrganizationOut}, url_name="api_organization_create")
def organization_create(request: HttpRequest, payload: OrganizationIn) -> Status:
    return Status(201, _save_organization(request, Organization(created_by=request.user), payload))


@router.patch("/organizations/{pk}", response=OrganizationOut, url_name="api_organization_edit")
def organization_edit(request: HttpRequest, pk: PathId, payload: OrganizationIn) -> Organization:
    organization = Organization.objects.get_for_user(request.user, pk, write=True)
    return _save_organization(request, organization, payload)


def _save_tag(tag: Tag, payload: TagIn) -> Tag:
    changes = payload.dict(exclude_unset=True)
    _refuse_duplicate_name(Tag, changes.get("name"), tag, "tag")
    initial = model_to_dict(tag, fields=TagForm._meta.fields)
    form = bound_form(TagForm(form_data(initial, changes), instance=tag))
    try:
        with transaction.atomic():
            return form.save()
    except IntegrityError:  # created by someone else since the form was checked
        raise Problem(409, "Another tag already has this name.", {"name": ["Already in use."]}) from None


@router.post("/tags", response={201: TagOut}, url_name="api_tag_create")
def tag_create(request: HttpRequest, payload: TagIn) -> Status:
    return Status(201, _save_tag(Tag(), payload))


@router.get("/tags/{pk}", response=TagOut, url_name="api_tag_detail")
def tag_detail(request: HttpRequest, pk: PathId) -> Tag:
    return Tag.objects.get_for_user(request.user, pk)


@router.patch("/tags/{pk}", response=TagOut, url_name="api_tag_edit")
def tag_edit(request: HttpRequest, pk: PathId, payload: TagIn) -> Tag:
    return _save_tag(Tag.objects.get_for_user(request.user, pk, write=True), payload)
