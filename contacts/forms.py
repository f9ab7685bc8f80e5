from __future__ import annotations

from django import forms
from django.utils.html import format_html

from contacts.models import Organization, Tag
from crm.lib.custom_field_forms import CustomFieldsFormMixin
from crm.lib.text import collapse_spaces


class OrganizationForm(CustomFieldsFormMixin, forms.ModelForm):
    # Django 6's default now: a typed "atlas.example" becomes https://. Left to the model
    # field, the form warns RemovedInDjango60Warning at import (an error under pytest).
    website = forms.URLField(max_length=300, required=False, assume_scheme="https")

    class Meta:
        model = Organization
        fields = [
            "name",
            "type",
            "industry",
            "website",
            "phone",
            "email",
            "address",
            "city",
            "state",
            "country",
            "tags",
            "description",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "tags": forms.CheckboxSelectMultiple,
        }

    def clean_name(self) -> str:
        name = collapse_spaces(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Give the organization a name.")
        clash = Organization.objects.matching_name(name).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise forms.ValidationError(
                format_html(
                    'An organization with this name already exists: <a href="{}">{}</a>.',
                    clash.get_absolute_url() or "#",
                    clash.name,
                )
            )
        return name


class TagForm(forms.ModelForm):
    """Create, rename or recolour a tag. Names are unique ignoring case and spacing."""

    class Meta:
        model = Tag
        fields = ["name", "colour"]
        widgets = {"colour": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"autocomplete": "off", "placeholder": "e.g. Warm intro"})

    def clean_name(self) -> str:
        name = collapse_spaces(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Give the tag a name.")
        clash = Tag.objects.filter(name__iexact=name).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise forms.ValidationError(
                f"There is already a tag named “{clash.name}”. Use that one or pick another name."
            )
        return name
