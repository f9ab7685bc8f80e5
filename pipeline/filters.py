"""One FilterSet for the board, the opportunity list and its export, so they never disagree."""

from __future__ import annotations

import django_filters
from django import forms

from crm.lib import fulltext
from crm.models import User
from lps.models import Fund
from pipeline.models import Opportunity, Priority, Stage, StageOutcome
from pipeline.search_index import OPPORTUNITIES


def _funds(request):
    return Fund.objects.visible_to(getattr(request, "user", None))


def _stages(request):
    return Stage.objects.visible_to(getattr(request, "user", None))


def _owners(request):
    return User.objects.team()


class OpportunityFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    fund = django_filters.ModelChoiceFilter(queryset=_funds, empty_label="All funds", label="Fund")
    stage = django_filters.ModelChoiceFilter(queryset=_stages, empty_label="All stages", label="Stage")
    outcome = django_filters.ChoiceFilter(
        field_name="stage__outcome",
        choices=[(StageOutcome.OPEN, "Open"), (StageOutcome.WON, "Won"), (StageOutcome.LOST, "Passed")],
        empty_label="Open, won and passed",
        label="Outcome",
    )
    owner = django_filters.ModelChoiceFilter(
        queryset=_owners, empty_label="Any owner", null_label="Unassigned", label="Owner"
    )
    priority = django_filters.ChoiceFilter(choices=Priority.choices, empty_label="Any priority", label="Priority")
    overdue_close = django_filters.BooleanFilter(
        method="filter_overdue_close",
        widget=forms.CheckboxInput,
        label="Close date passed",
    )
    o = django_filters.OrderingFilter(
        fields=(
            ("name", "name"),
            ("contact__last_name", "contact"),
            ("fund__name", "fund"),
            ("stage__order", "stage"),
            ("expected_amount", "expected"),
            ("forecast_probability", "probability"),
            ("weighted_x100", "weighted"),
            ("expected_close_date", "close"),
            ("owner__full_name", "owner"),
            ("priority_rank", "priority"),
            ("stage_changed_at", "entered"),
            ("next_step_date", "next"),
            ("updated_at", "updated"),
        ),
        label="Sort",
    )

    class Meta:
        model = Opportunity
        fields = ["q", "fund", "stage", "outcome", "owner", "priority", "overdue_close"]

    def search(self, queryset, name, value):
        return fulltext.matching(queryset, OPPORTUNITIES, value)

    def filter_overdue_close(self, queryset, name, value):
        return queryset.overdue_close() if value else queryset

    @property
    def includes_lost(self) -> bool:
        """Whether the user asked for passed deals (the Passed outcome or a lost stage): only
        then do they add to the list's totals. Listed they are either way."""
        data = self.form.cleaned_data if self.form.is_bound and self.form.is_valid() else {}
        stage = data.get("stage")
        return data.get("outcome") == StageOutcome.LOST or (stage is not None and stage.outcome == StageOutcome.LOST)

    @property
    def is_filtered(self) -> bool:
        """Whether a filter that hides cards is set (the fund and sort order do not count)."""
        data = self.form.cleaned_data if self.form.is_bound and self.form.is_valid() else {}
        hiding = ("q", "owner", "priority", "stage", "outcome", "overdue_close")
        return any(data.get(name) not in (None, "", False) for name in hiding)


class BoardFilter(OpportunityFilter):
    """The board's filters: the same owner, priority and search as the list. The fund is the
    board itself and every stage is a column, so those filters and the sort order drop out."""

    fund = None
    stage = None
    outcome = None
    overdue_close = None
    o = None

    class Meta(OpportunityFilter.Meta):
        fields = ["q", "owner", "priority"]
