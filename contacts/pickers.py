"""The contact picker: a search-as-you-type field that works without JavaScript too.

With htmx, typing asks ``contact_picker`` for matches and a click on one re-renders the picker
with the contact chosen (a hidden input carries its id). Without JavaScript the visible search
box is posted as text and resolved here: one match is taken, several come back as a choice.

The organization picker (``organization_picker``) is the same widget over organizations,
for filters where a select would list thousands of them.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode

from contacts.models import Contact, Organization

MAX_RESULTS = 10
# Names of client events a picker may fire after a pick: plain words only, never markup.
EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,40}$")
DOM_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,60}$")
CHANGE = object()  # the "Change" button of a chosen contact was used without JavaScript


def search_contacts(queryset: QuerySet, text: str) -> QuerySet:
    """Contacts whose name, email or organization contains every word of ``text``."""
    words = text.split()[:6]
    if not words:
        return queryset.none()
    for word in words:
        queryset = queryset.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(email__icontains=word)
            | Q(organization__name__icontains=word)
        )
    return queryset.select_related("organization").order_by("last_name", "first_name", "pk")


def resolve_contacts(queryset: QuerySet, text: str) -> list[Contact]:
    """The contacts typed ``text`` most plausibly means: an exact name or email first."""
    text = " ".join(text.split())
    matches = list(search_contacts(queryset, text)[: MAX_RESULTS + 1])
    exact = [
        c
        for c in matches
        if text.casefold() in (c.full_name.casefold(), c.short_name.casefold(), (c.email or "").casefold())
    ]
    return exact if len(exact) == 1 else matches


def search_organizations(queryset: QuerySet, text: str) -> QuerySet:
    """Organizations whose name (or city) contains every word of ``text``."""
    words = text.split()[:6]
    if not words:
        return queryset.none()
    for word in words:
        queryset = queryset.filter(Q(name__icontains=word) | Q(city__icontains=word))
    return queryset.order_by("name", "pk")


def resolve_organizations(queryset: QuerySet, text: str) -> list[Organization]:
    """The organizations typed ``text`` most plausibly means: an exact name first."""
    text = " ".join(text.split())
    matches = list(search_organizations(queryset, text)[: MAX_RESULTS + 1])
    exact = [o for o in matches if o.name.casefold() == text.casefold()]
    return exact if len(exact) == 1 else matches


class PickerSearch(str):
    """Text typed into the picker's search box and posted without a chosen contact."""


class ContactPicker(forms.Widget):
    """Renders templates/contacts/communication_contact_picker.html (through the project's
    template engine, which the default form renderer does not search)."""

    template = "contacts/communication_contact_picker.html"
    url_name = "contact_picker"
    model = Contact
    resolve = staticmethod(resolve_contacts)

    SCOPES = ("", "no_lp")  # "no_lp": only contacts without an LP profile yet

    def __init__(self, attrs=None, *, multiple: bool = False, event: str = "", placeholder: str = "", scope: str = ""):
        super().__init__(attrs)
        self.multiple = multiple
        self.event = event
        self.scope = scope if scope in self.SCOPES else ""
        self.placeholder = placeholder or "Type a name, organization or email…"
        self.queryset: QuerySet | None = None  # set by the field
        self.matches: list[Contact] = []  # candidates when typed text was ambiguous
        self.fixed = False

    def __deepcopy__(self, memo):
        copy = super().__deepcopy__(memo)
        copy.matches = []
        return copy

    def id_for_label(self, id_: str) -> str:
        # The label belongs to the box people type in.
        return f"{id_}_search" if id_ else id_

    def value_from_datadict(self, data, files, name) -> Any:
        values = [v for v in (data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]) if v]
        search = (data.get(f"{name}_search") or "").strip()
        if self.multiple:
            return values + ([PickerSearch(search)] if search else [])
        if data.get(f"{name}_change"):
            return CHANGE
        if values:
            return values[-1]  # a fallback choice (radio) comes after the hidden input
        return PickerSearch(search) if search else None

    def picker_url(self, name: str, dom_id: str) -> str:
        params = {"name": name, "id": dom_id}
        if self.multiple:
            params["multiple"] = "1"
        if self.event:
            params["event"] = self.event
        if self.scope:
            params["scope"] = self.scope
        return f"{reverse(self.url_name)}?{urlencode(params)}"

    def chosen(self, queryset: QuerySet, ids: list[int]) -> QuerySet:
        return queryset.filter(pk__in=ids).select_related("organization")

    def selected_contacts(self, value: Any) -> tuple[list[Contact], str]:
        """(chosen contacts, leftover search text) for a value from data or initial."""
        if value is None or value is CHANGE:
            return [], ""
        items = value if isinstance(value, (list, tuple)) else [value]
        text = next((str(v) for v in items if isinstance(v, PickerSearch)), "")
        ids = []
        for item in items:
            if isinstance(item, PickerSearch):
                continue
            pk = getattr(item, "pk", item)
            if str(pk).isdigit():
                ids.append(int(pk))
        queryset = self.queryset if self.queryset is not None else self.model.objects.all()
        if not ids:
            if text and not self.multiple and not self.matches:
                # Typed without JavaScript and unambiguous: show it chosen, as the save will.
                matches = self.resolve(queryset, text)
                if len(matches) == 1:
                    return matches, ""
            return [], text
        found = {c.pk: c for c in self.chosen(queryset, ids)}
        return [found[pk] for pk in dict.fromkeys(ids) if pk in found], text

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        dom_id = attrs.get("id") or f"id_{name}"
        selected, text = self.selected_contacts(value)
        return render_to_string(
            self.template,
            {
                "name": name,
                "id": dom_id,
                "multiple": self.multiple,
                "selected": selected,
                "query": text,
                "matches": self.matches,
                "fixed": self.fixed,
                "placeholder": self.placeholder,
                "url": self.picker_url(name, dom_id),
                "describedby": attrs.get("aria-describedby", ""),
            },
        )


class OrganizationPicker(ContactPicker):
    """The same picker over organizations (one at a time): templates/contacts/organization_picker.html."""

    template = "contacts/organization_picker.html"
    url_name = "organization_picker"
    model = Organization
    resolve = staticmethod(resolve_organizations)
    SCOPES = ("",)

    def __init__(self, attrs=None, *, event: str = "", placeholder: str = ""):
        super().__init__(attrs, event=event, placeholder=placeholder or "Type an organization's name…")

    def chosen(self, queryset: QuerySet, ids: list[int]) -> QuerySet:
        return queryset.filter(pk__in=ids)


class ContactPickerField(forms.ModelChoiceField):
    """One contact, chosen in the picker or typed by name."""

    widget = ContactPicker
    noun = "contact"

    def __init__(self, queryset=None, **kwargs: Any) -> None:
        super().__init__(queryset if queryset is not None else Contact.objects.none(), **kwargs)

    def _set_queryset(self, queryset):
        super()._set_queryset(queryset)
        self.widget.queryset = self._queryset

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)

    def to_python(self, value: Any) -> Contact | None:
        if value is CHANGE:
            raise ValidationError(f"Type a name to choose the new {self.noun}.", code="change")
        if isinstance(value, PickerSearch):
            matches = self.widget.resolve(self.queryset, value)
            if len(matches) == 1:
                return matches[0]
            if not matches:
                raise ValidationError(
                    f"No {self.noun} matches “{value}”. Check the spelling or add the {self.noun} first."
                )
            self.widget.matches = matches[:MAX_RESULTS]
            raise ValidationError(f"Several {self.noun}s match “{value}”: choose one below.", code="ambiguous")
        return super().to_python(value)


class OrganizationPickerField(ContactPickerField):
    """One organization, chosen in the picker or typed by name."""

    widget = OrganizationPicker
    noun = "organization"


class ContactMultiPickerField(forms.ModelMultipleChoiceField):
    """Several contacts: ticked chips, plus one name typed without JavaScript."""

    def __init__(self, queryset=None, **kwargs: Any) -> None:
        kwargs.setdefault("widget", ContactPicker(multiple=True))
        super().__init__(queryset if queryset is not None else Contact.objects.none(), **kwargs)

    def _set_queryset(self, queryset):
        super()._set_queryset(queryset)
        self.widget.queryset = self._queryset

    queryset = property(forms.ModelMultipleChoiceField._get_queryset, _set_queryset)

    def clean(self, value: Any):
        value = list(value or [])
        typed = [v for v in value if isinstance(v, PickerSearch)]
        ids = [v for v in value if not isinstance(v, PickerSearch)]
        for text in typed:
            matches = resolve_contacts(self.queryset, text)
            if len(matches) == 1:
                ids.append(str(matches[0].pk))
            elif not matches:
                raise ValidationError(f"No contact matches “{text}”.")
            else:
                self.widget.matches = matches[:MAX_RESULTS]
                raise ValidationError(f"Several contacts match “{text}”: tick the one you mean below.")
        return super().clean(list(dict.fromkeys(ids)))
