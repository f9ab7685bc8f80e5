"""Custom fields on the product's ModelForms: one form field per admin-defined definition."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from crm.lib.text import use_length_limits
from crm.models import TEXT_LIMITS, CustomField, CustomFieldType

PREFIX = "cf_"


def form_field_for(definition: CustomField, initial: Any) -> forms.Field:
    common = {
        "label": definition.name,
        "required": definition.required and definition.field_type != CustomFieldType.CHECKBOX,
        "help_text": definition.help_text,
        "initial": initial,
    }
    kind = definition.field_type
    if kind == CustomFieldType.LONG_TEXT:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=TEXT_LIMITS[kind], **common)
    if kind in (CustomFieldType.NUMBER, CustomFieldType.CURRENCY):
        places = 2 if kind == CustomFieldType.CURRENCY else None
        return forms.DecimalField(max_digits=17, decimal_places=places, **common)
    if kind == CustomFieldType.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == CustomFieldType.CHECKBOX:
        return forms.BooleanField(**common)
    if kind == CustomFieldType.SINGLE_SELECT:
        choices = [("", "—")] + [(o, o) for o in definition.option_list]
        return forms.ChoiceField(choices=choices, **common)
    if kind == CustomFieldType.MULTI_SELECT:
        return forms.MultipleChoiceField(
            choices=[(o, o) for o in definition.option_list], widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == CustomFieldType.URL:
        return forms.URLField(max_length=TEXT_LIMITS[kind], assume_scheme="https", **common)
    if kind == CustomFieldType.EMAIL:
        return forms.EmailField(max_length=TEXT_LIMITS[kind], **common)
    return forms.CharField(max_length=TEXT_LIMITS[CustomFieldType.TEXT], **common)


class CustomFieldsFormMixin:
    """Adds ``cf_<key>`` fields for the model's custom-field definitions and saves them.

    Use with a ModelForm whose model is a ``CustomFieldsModel``. Definitions load in one
    query; values are validated by the definition (``CustomField.to_storage``), so the
    admin, the forms and imports share the same rules. Too-long input, in these fields
    and the model's own, is refused with the one wording of ``crm.lib.text``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model = self._meta.model
        self.custom_definitions = list(CustomField.objects.for_entity(model.CUSTOM_FIELD_ENTITY))
        stored = self.instance.custom_fields or {}
        for definition in self.custom_definitions:
            initial = definition.from_storage(stored.get(definition.key))
            self.fields[PREFIX + definition.key] = form_field_for(definition, initial)
        use_length_limits(self)

    def custom_field_bound_fields(self) -> list:
        return [self[PREFIX + d.key] for d in self.custom_definitions]

    def standard_bound_fields(self) -> list:
        return [f for f in self if not f.name.startswith(PREFIX)]

    def _post_clean(self) -> None:
        values = dict(self.instance.custom_fields or {})
        for definition in self.custom_definitions:
            name = PREFIX + definition.key
            if name not in self.cleaned_data:
                continue  # its own field validation failed and reported already
            try:
                values[definition.key] = definition.to_storage(self.cleaned_data[name])
            except ValidationError as exc:
                self.add_error(name, exc)
        self.instance.custom_fields = {k: v for k, v in values.items() if v is not None}
        super()._post_clean()
