"""What one import run knows while it runs: who imports, the time zone, the lookup indexes and the report.

One context is shared by every table of a run, so a person created from the People file
is found by name when the Touchpoints file links to them, and the same-name people are
told apart by the lookup e-mail columns.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db import models

from crm.imports.parsers import check_fits, fold, person_key, person_key_from_text, show
from crm.lib.text import collapse_spaces, normalize_email, normalized_name_key


@dataclass
class RowMessage:
    level: str  # "error", "warning" or "info"
    text: str
    column: str = ""
    value: str = ""

    def as_dict(self) -> dict[str, str]:
        data = {"l": self.level, "t": self.text}
        if self.column:
            data["c"] = self.column
        if self.value:
            data["v"] = self.value[:200]
        return data


@dataclass
class RowOutcome:
    number: int
    action: str  # create, update, skip, error
    record: str = ""
    messages: list[RowMessage] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"n": self.number, "a": self.action, "r": self.record[:200]}
        if self.messages:
            data["m"] = [m.as_dict() for m in self.messages]
        return data


@dataclass
class TableOutcome:
    name: str
    entity: str
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    blank: int = 0
    rows: list[RowOutcome] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def count(self, outcome: RowOutcome) -> None:
        self.rows.append(outcome)
        attribute = {"create": "created", "update": "updated", "skip": "skipped", "error": "errors"}[outcome.action]
        setattr(self, attribute, getattr(self, attribute) + 1)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entity": self.entity,
            "read": self.rows_read,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": self.errors,
            "blank": self.blank,
            "notices": self.notices,
        }


class OrganizationIndex:
    """Organizations by normalised name (trim, collapse spaces, case-fold), loaded once per run."""

    def __init__(self, user: Any) -> None:
        from contacts.models import Organization

        self.by_key: dict[str, Any] = {}
        for org in Organization.objects.visible_to(user).only("id", "name"):
            self.by_key.setdefault(normalized_name_key(org.name), org)

    def find(self, name: str) -> Any:
        return self.by_key.get(normalized_name_key(name))

    def add(self, org: Any) -> None:
        self.by_key[normalized_name_key(org.name)] = org


class ContactIndex:
    """Contacts by e-mail and by folded name, plus the names each was exported under in this run."""

    def __init__(self, user: Any) -> None:
        from contacts.models import Contact

        self.by_pk: dict[int, Any] = {}
        self.by_email: dict[str, Any] = {}
        self.by_key: dict[str, list[int]] = defaultdict(list)
        for contact in Contact.objects.visible_to(user).only(
            "id", "email", "name_prefix", "first_name", "last_name", "name_suffix", "organization_id"
        ):
            self.add(contact)

    def add(self, contact: Any, *alias_names: str) -> None:
        self.by_pk[contact.pk] = contact
        if contact.email:
            self.by_email[normalize_email(contact.email)] = contact
        keys = {person_key(contact.first_name, contact.last_name)} | {person_key_from_text(n) for n in alias_names}
        for key in keys:
            if key and contact.pk not in self.by_key[key]:
                self.by_key[key].append(contact.pk)

    def named(self, name: str) -> list[Any]:
        return [self.by_pk[pk] for pk in self.by_key.get(person_key_from_text(name), [])]


class UserIndex:
    """Active team members by name: collaborators are matched, never invented."""

    def __init__(self) -> None:
        from crm.models import User

        self.by_key: dict[str, Any] = {}
        for user in User.objects.team():
            for key in (fold(user.full_name), fold(user.username), fold(user.email)):
                if key:
                    self.by_key.setdefault(key, user)

    def find(self, name: str) -> Any:
        return self.by_key.get(fold(name))


class ImportContext:
    """Shared state of one run. Resources read options from it and write their messages to it."""

    def __init__(self, *, user: Any, time_zone: str, date_order: str = "mdy", change_reason: str = "") -> None:
        self.user = user
        self.tz = ZoneInfo(time_zone)
        self.time_zone = time_zone
        self.date_order = date_order
        self.change_reason = change_reason or "Import"
        # Like every query that serves a user, the import only sees what the importer may see.
        self.orgs = OrganizationIndex(user)
        self.contacts = ContactIndex(user)
        self.users = UserIndex()
        self._tags: dict[str, Any] | None = None
        self._funds: dict[str, Any] | None = None
        self._stages: dict[str, Any] | None = None
        self.opportunities: dict[tuple[str, int], Any] | None = None
        # (model label, pk) → the first row (table, number) that touched the record in this run.
        self.touched: dict[tuple[str, int], tuple[str, int]] = {}
        self.table_name = ""
        self.row_number = 0
        self.messages: list[RowMessage] = []
        self.row_notes: list[str] = []
        self.unknown_collaborators: Counter[str] = Counter()
        self.attachment_rows = 0
        self.created_links: Counter[str] = Counter()
        self.profiles_applied: set[int] = set()
        # Contacts whose type a mapped column of this run gave: an LP profile made for them
        # later in the run leaves that type as the file says (see lps.resources).
        self.typed_contacts: set[int] = set()

    # --- per row ------------------------------------------------------------------------

    def begin_row(self, table_name: str, number: int) -> None:
        self.table_name = table_name
        self.row_number = number
        self.messages = []
        self.row_notes = []

    def warn(self, text: str, column: str = "", value: str = "") -> None:
        self.messages.append(RowMessage("warning", text, column, value))

    def info(self, text: str, column: str = "", value: str = "") -> None:
        self.messages.append(RowMessage("info", text, column, value))

    def note(self, line: str) -> None:
        """A line for the record's notes (a value that could not go in its field, kept as typed)."""
        self.row_notes.append(line)

    def stamp(self, instance: models.Model) -> None:
        """Name the importing user and the import on the history row the next save writes."""
        instance._history_user = self.user
        instance._change_reason = self.change_reason

    def first_touch(self, instance: models.Model) -> tuple[str, int] | None:
        if instance.pk is None:
            return None
        return self.touched.get((instance._meta.label_lower, instance.pk))

    def touch(self, instance: models.Model) -> None:
        self.touched.setdefault((instance._meta.label_lower, instance.pk), (self.table_name, self.row_number))

    # --- tags, funds, stages ------------------------------------------------------------

    def tag(self, name: str) -> Any:
        from contacts.models import Tag

        if self._tags is None:
            self._tags = {tag.name.casefold(): tag for tag in Tag.objects.visible_to(self.user)}
        name = check_fits(Tag, "name", collapse_spaces(name))
        tag = self._tags.get(name.casefold())
        if tag is None:
            tag = Tag(name=name)
            self.stamp(tag)
            tag.save()
            self._tags[name.casefold()] = tag
        return tag

    def fund(self, choice: Any) -> Any:
        """A fund by name, or created when the mapping says {"create": name}."""
        from lps.models import Fund, FundStatus

        if self._funds is None:
            self._funds = {fund.name.casefold(): fund for fund in Fund.objects.visible_to(self.user)}
        create = isinstance(choice, dict) and "create" in choice
        name = collapse_spaces(choice["create"] if create else str(choice))
        fund = self._funds.get(name.casefold())
        if fund is None and create:
            fund = Fund(name=check_fits(Fund, "name", name), status=FundStatus.RAISING)
            self.stamp(fund)
            fund.save()
            self._funds[name.casefold()] = fund
            self.created_links[f"fund “{name}”"] += 1
        return fund

    def stage(self, choice: Any) -> Any:
        from pipeline.models import Stage, StageOutcome

        if self._stages is None:
            self._stages = {stage.name.casefold(): stage for stage in Stage.objects.visible_to(self.user)}
        create = isinstance(choice, dict) and "create" in choice
        name = collapse_spaces(choice["create"] if create else str(choice))
        stage = self._stages.get(name.casefold())
        if stage is None and create:
            # A new stage is open and goes just before the first won stage.
            won = Stage.objects.filter(outcome=StageOutcome.WON).order_by("order").first()
            order = max((won.order - 1) if won else 0, 0) if won else (Stage.objects.count() + 1) * 10
            stage = Stage(name=check_fits(Stage, "name", name), order=order, outcome=StageOutcome.OPEN)
            self.stamp(stage)
            stage.save()
            self._stages[name.casefold()] = stage
            self.created_links[f"stage “{name}”"] += 1
        return stage

    def opportunity_index(self) -> dict[tuple[str, int], Any]:
        from pipeline.models import Opportunity

        if self.opportunities is None:
            self.opportunities = {}
            for opp in Opportunity.objects.visible_to(self.user).only("id", "name", "fund_id"):
                self.opportunities.setdefault((fold(opp.name), opp.fund_id), opp)
        return self.opportunities

    def find_opportunity(self, name: str) -> list[Any]:
        key = fold(name)
        return [opp for (opp_key, _fund), opp in self.opportunity_index().items() if opp_key == key]

    # --- collaborators ------------------------------------------------------------------

    def collaborator(self, name: str, column: str) -> Any:
        name = collapse_spaces(name)
        if not name:
            return None
        user = self.users.find(name)
        if user is None:
            self.unknown_collaborators[name] += 1
            self.warn(f"{show(name)} is not a team member here, so it was left empty", column, name)
        return user
