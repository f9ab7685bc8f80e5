"""What one import run knows while it runs: who imports, the time zone, the lookup indexes and the report.

One context is shared by every table of a run, so a person created from the People file
is found by name when the Touchpoints file links to them, and the same-name people are
told apart by the lookup e-mail columns.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db import models

from crm.imports.parsers import ParseError, check_fits, fold, person_key, person_key_from_text, show
from crm.imports.plan import WritePlan, record_key
from crm.imports.progress import NoProgress
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
    columns: list[list[str]] = field(default_factory=list)  # [header, what it fills, why] of each column used

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
            "columns": self.columns,
        }


class OrganizationIndex:
    """Organizations by normalised name (trim, collapse spaces, case-fold), loaded once per run."""

    def __init__(self, user: Any, plan: WritePlan) -> None:
        from contacts.models import Organization

        self.plan = plan
        self.by_key: dict[str, Any] = {}
        self.by_pk: dict[int, Any] = {}
        for org in Organization.objects.visible_to(user):
            plan.loaded(org)
            self.by_pk[org.pk] = org
            self.by_key.setdefault(normalized_name_key(org.name), org)

    def find(self, name: str) -> Any:
        return self.by_key.get(normalized_name_key(name))

    def add(self, org: Any) -> None:
        key = normalized_name_key(org.name)
        missing = object()
        before = self.by_key.get(key, missing)
        self.by_key[key] = org
        self.plan.on_discard(
            lambda: self.by_key.pop(key, None) if before is missing else self.by_key.__setitem__(key, before)
        )


class ContactIndex:
    """Contacts by e-mail and by folded name, plus the names each was exported under in this run."""

    def __init__(self, user: Any, plan: WritePlan, orgs: OrganizationIndex) -> None:
        from contacts.models import Contact

        self.plan = plan
        self.by_pk: dict[tuple, Any] = {}
        self.by_id: dict[int, Any] = {}
        self.by_email: dict[str, Any] = {}
        self.by_key: dict[str, list[tuple]] = defaultdict(list)
        self._name_keys: dict[str, str] = {}
        for contact in Contact.objects.visible_to(user):
            plan.loaded(contact)
            if contact.organization_id in orgs.by_pk:
                # The same organization object the run links to, so nothing asks the database for it.
                contact._state.fields_cache["organization"] = orgs.by_pk[contact.organization_id]
            self.by_id[contact.pk] = contact
            self._add(contact, ())

    def add(self, contact: Any, *alias_names: str) -> None:
        undo = self._add(contact, alias_names)
        self.plan.on_discard(undo)

    def _add(self, contact: Any, alias_names: tuple[str, ...]) -> Any:
        key = record_key(contact)
        had_pk = key in self.by_pk
        self.by_pk[key] = contact
        email = normalize_email(contact.email) if contact.email else ""
        email_before = self.by_email.get(email) if email else None
        if email:
            self.by_email[email] = contact
        added = []
        keys = {person_key(contact.first_name, contact.last_name)} | {person_key_from_text(n) for n in alias_names}
        for name_key in keys:
            if name_key and key not in self.by_key[name_key]:
                self.by_key[name_key].append(key)
                added.append(name_key)

        def undo() -> None:
            for name_key in added:
                self.by_key[name_key].remove(key)
            if email:
                if email_before is None:
                    self.by_email.pop(email, None)
                else:
                    self.by_email[email] = email_before
            if not had_pk:
                self.by_pk.pop(key, None)

        return undo

    def named(self, name: str) -> list[Any]:
        key = self._name_keys.get(name)
        if key is None:  # link cells repeat the same names row after row
            key = self._name_keys[name] = person_key_from_text(name)
        return [self.by_pk[pk] for pk in self.by_key.get(key, [])]


CREATE = {"create": "inactive"}  # as crm.imports.mapping.CREATE_INACTIVE


class UserIndex:
    """Team members by name, username or email; active ones first, then inactive ones (made by an earlier import)."""

    def __init__(self) -> None:
        from crm.models import User

        self.by_key: dict[str, Any] = {}
        self.usernames: set[str] = set()
        for user in User.objects.order_by("-is_active", "pk"):
            self.usernames.add(user.username.casefold())
            for key in (fold(user.full_name), fold(user.username), fold(user.email)):
                if key:
                    self.by_key.setdefault(key, user)

    def find(self, name: str) -> Any:
        return self.by_key.get(fold(name))

    def free_username(self, name: str) -> str:
        """“Dana Pruitt” → “dana.pruitt” (or “dana.pruitt2” …): a username nobody has."""
        base = ".".join(re.findall(r"[a-z0-9]+", fold(name.split("@")[0]))) or "team.member"
        base = base[:140]
        candidate, number = base, 1
        while candidate in self.usernames:
            number += 1
            candidate = f"{base}{number}"
        return candidate


class ImportContext:
    """Shared state of one run. Resources read options from it and write their messages to it."""

    def __init__(
        self,
        *,
        user: Any,
        time_zone: str,
        date_order: str = "mdy",
        change_reason: str = "",
        team: dict[str, Any] | None = None,
        team_default: str = "none",
    ) -> None:
        self.user = user
        self.tz = ZoneInfo(time_zone)
        self.time_zone = time_zone
        self.date_order = date_order
        self.change_reason = change_reason or "Import"
        self.plan = WritePlan()
        self.progress: Any = NoProgress()
        # Like every query that serves a user, the import only sees what the importer may see.
        self.orgs = OrganizationIndex(user, self.plan)
        self.contacts = ContactIndex(user, self.plan, self.orgs)
        self.users = UserIndex()
        # Their name (folded) → the person's choice for a name that is no user here (crm.imports.mapping.TeamChoice).
        self.team = {fold(name): choice for name, choice in (team or {}).items()}
        self.team_default = team_default
        self.new_users: dict[str, Any] = {}  # folded name → the inactive user this run makes for it
        self.new_user_names: dict[str, Any] = {}  # their name as first seen → that user
        self._tags: dict[str, Any] | None = None
        self._funds: dict[str, Any] | None = None
        self._funds_by_pk: dict[int, Any] = {}
        self._current_fund: Any = False
        self._stages: dict[str, Any] | None = None
        self._planned_stages = 0
        self.opportunities: dict[tuple, Any] | None = None
        self._opportunities_by_name: dict[str, list[Any]] = defaultdict(list)
        self._profiles: dict[tuple, Any] | None = None
        self._commitments: dict[tuple, list[Any]] | None = None
        self._communications: dict[tuple, Any] | None = None
        # record key → the first row (table, number) that touched the record in this run.
        self.touched: dict[tuple, tuple[str, int]] = {}
        self.table_name = ""
        self.row_number = 0
        self.messages: list[RowMessage] = []
        self.row_notes: list[str] = []
        self.unknown_collaborators: Counter[str] = Counter()
        self.attachment_rows = 0
        self.created_links: Counter[str] = Counter()
        # table name → how the fund of rows without a fund column was found → rows.
        self.fund_rules: dict[str, Counter[str]] = defaultdict(Counter)
        self.profiles_applied: set[tuple] = set()
        # Contacts whose type a mapped column of this run gave: an LP profile made for them
        # later in the run leaves that type as the file says (see lps.resources).
        self.typed_contacts: set[tuple] = set()

    # --- per row ------------------------------------------------------------------------

    def begin_row(self, table_name: str, number: int) -> None:
        self.table_name = table_name
        self.row_number = number
        self.messages = []
        self.row_notes = []
        self.plan.begin_row()

    def end_row(self, ok: bool) -> None:
        """Keep what the row planned, or put everything it changed in memory back (see crm.imports.plan)."""
        self.plan.end_row(ok)

    def warn(self, text: str, column: str = "", value: str = "") -> None:
        self.messages.append(RowMessage("warning", text, column, value))

    def info(self, text: str, column: str = "", value: str = "") -> None:
        self.messages.append(RowMessage("info", text, column, value))

    def note(self, line: str) -> None:
        """A line for the record's notes (a value that could not go in its field, kept as typed)."""
        self.row_notes.append(line)

    def stamp(self, instance: models.Model) -> None:
        """Name the importing user and the import on the history row the write makes."""
        instance._history_user = self.user
        instance._change_reason = self.change_reason

    def save(self, instance: models.Model) -> None:
        """Plan the save of ``instance`` (checked now, written with the others at the end)."""
        self.stamp(instance)
        self.plan.save(instance)

    def edit(self, instance: models.Model) -> models.Model:
        """A record this row is about to change: put back as it was if the row fails."""
        return self.plan.guard(instance)

    def is_record(self, instance: models.Model | None) -> bool:
        """In the CRM already, or made by an earlier row of this run (not a row's unsaved draft)."""
        return instance is not None and (instance.pk is not None or self.plan.is_planned_new(instance))

    def first_touch(self, instance: models.Model) -> tuple[str, int] | None:
        if not self.is_record(instance):
            return None
        return self.touched.get(record_key(instance))

    def touch(self, instance: models.Model) -> None:
        self.touched.setdefault(record_key(instance), (self.table_name, self.row_number))

    # --- tags, funds, stages ------------------------------------------------------------

    def _remember(self, index: dict, key: Any, value: Any) -> None:
        index[key] = value
        self.plan.on_discard(lambda: index.pop(key, None))

    def tag(self, name: str) -> Any:
        from contacts.models import Tag

        if self._tags is None:
            self._tags = {self.plan.loaded(tag).name.casefold(): tag for tag in Tag.objects.visible_to(self.user)}
        name = check_fits(Tag, "name", collapse_spaces(name))
        tag = self._tags.get(name.casefold())
        if tag is None:
            tag = Tag(name=name)
            self.save(tag)
            self._remember(self._tags, name.casefold(), tag)
        return tag

    def _fund_index(self) -> dict[str, Any]:
        from lps.models import Fund

        if self._funds is None:
            self._funds = {}
            for fund in Fund.objects.visible_to(self.user):
                self.plan.loaded(fund)
                self._funds[fund.name.casefold()] = fund
                self._funds_by_pk[fund.pk] = fund
        return self._funds

    def fund(self, choice: Any) -> Any:
        """A fund by name, or created when the mapping says {"create": name}."""
        from lps.models import Fund, FundStatus

        funds = self._fund_index()
        create = isinstance(choice, dict) and "create" in choice
        name = collapse_spaces(choice["create"] if create else str(choice))
        fund = funds.get(name.casefold())
        if fund is None and create:
            fund = Fund(name=check_fits(Fund, "name", name), status=FundStatus.RAISING)
            self.save(fund)
            self._remember(funds, name.casefold(), fund)
            self.created_links[f"fund “{name}”"] += 1
        return fund

    def funds_named_in(self, text: str) -> list[Any]:
        """The funds of the base (the CRM's and the run's new ones) whose name appears in ``text`` as words.

        “Ada Byron – Fund II” names Fund II and not Fund I; a name inside a longer one that
        also appears counts once (“Fund II Opportunities” is not also “Fund II”).
        """
        folded = fold(text)
        if not folded:
            return []
        spans: list[tuple[int, int, Any]] = []
        for name, fund in self._fund_index().items():
            key = fold(name)
            if key:
                spans += [(m.start(), m.end(), fund) for m in re.finditer(rf"(?<!\w){re.escape(key)}(?!\w)", folded)]
        found = []
        for start, end, fund in spans:
            inside = any(s <= start and end <= e and (s, e) != (start, end) for s, e, _other in spans)
            if not inside and fund not in found:
                found.append(fund)
        return found

    def fund_from_text(self, primary: str, others: str) -> tuple[Any, str]:
        """(fund, rule) for a row with no fund column: a fund its primary field names, else one its other text
        names, else the fund being raised; (None, "") when none."""
        for text, rule in ((primary, "a fund name in the primary field"), (others, "a fund name in its text")):
            funds = self.funds_named_in(text)
            if len(funds) == 1:
                return funds[0], rule
        fund = self.current_fund()
        return (fund, f"the fund being raised ({fund})") if fund is not None else (None, "")

    def count_fund_rule(self, rule: str) -> None:
        counts = self.fund_rules[self.table_name]
        counts[rule] += 1

        def undo() -> None:
            counts[rule] -= 1

        self.plan.on_discard(undo)

    def fund_by_pk(self, pk: int | None) -> Any:
        self._fund_index()
        return self._funds_by_pk.get(pk)

    def current_fund(self) -> Any:
        """``Fund.objects.current()``, asked once per run."""
        from lps.models import Fund

        if self._current_fund is False:
            current = Fund.objects.current()
            self._current_fund = self.fund_by_pk(current.pk) if current else None
        if self._current_fund is None:
            # A new CRM: the one fund this run makes, if it makes only one, is the one being raised.
            planned = [fund for fund in self._fund_index().values() if fund.pk is None]
            return planned[0] if len(planned) == 1 else None
        return self._current_fund

    def stage(self, choice: Any) -> Any:
        from pipeline.models import Stage, StageOutcome

        if self._stages is None:
            self._stages = {
                self.plan.loaded(stage).name.casefold(): stage for stage in Stage.objects.visible_to(self.user)
            }
        create = isinstance(choice, dict) and "create" in choice
        name = collapse_spaces(choice["create"] if create else str(choice))
        stage = self._stages.get(name.casefold())
        if stage is None and create:
            # A new open stage goes just before the first won stage; a new lost one after every stage.
            outcome = choice.get("outcome") or StageOutcome.OPEN
            won = Stage.objects.filter(outcome=StageOutcome.WON).order_by("order").first()
            count = Stage.objects.count() + self._planned_stages
            if outcome == StageOutcome.OPEN and won:
                order = max(won.order - 1, 0)
            else:
                last = Stage.objects.order_by("-order").values_list("order", flat=True).first() or 0
                order = last + 10 * (self._planned_stages + 1) if outcome != StageOutcome.OPEN else (count + 1) * 10
            stage = Stage(name=check_fits(Stage, "name", name), order=order, outcome=outcome)
            self.save(stage)
            self._planned_stages += 1
            self._remember(self._stages, name.casefold(), stage)
            self.created_links[f"stage “{name}”"] += 1
        return stage

    def stage_by_pk(self, pk: int | None) -> Any:
        self.stage("")
        return next((s for s in self._stages.values() if s.pk == pk), None)

    # --- opportunities, LP profiles, commitments, communications: one query per table ----

    def opportunity_index(self) -> dict[tuple, Any]:
        from pipeline.models import Opportunity

        if self.opportunities is None:
            self.opportunities = {}
            for opp in Opportunity.objects.visible_to(self.user):
                self.plan.loaded(opp)
                fund = self.fund_by_pk(opp.fund_id)
                if fund is not None:
                    opp._state.fields_cache["fund"] = fund
                contact = self.contacts.by_id.get(opp.contact_id)
                if contact is not None:
                    opp._state.fields_cache["contact"] = contact
                if (fold(opp.name), ("lps.fund", opp.fund_id)) not in self.opportunities:
                    self.opportunities[(fold(opp.name), ("lps.fund", opp.fund_id))] = opp
                    self._opportunities_by_name[fold(opp.name)].append(opp)
        return self.opportunities

    def add_opportunity(self, opp: Any, fund: Any) -> None:
        index = self.opportunity_index()
        key = (fold(opp.name), record_key(fund))
        missing = object()
        before = index.get(key, missing)
        index[key] = opp
        by_name = self._opportunities_by_name[fold(opp.name)]
        if before is not missing:
            by_name.remove(before)
        by_name.append(opp)

        def undo() -> None:
            by_name.remove(opp)
            if before is missing:
                index.pop(key, None)
            else:
                index[key] = before
                by_name.append(before)

        self.plan.on_discard(undo)

    def find_opportunity(self, name: str) -> list[Any]:
        self.opportunity_index()
        return list(self._opportunities_by_name.get(fold(name), []))

    def _profile_index(self) -> dict[tuple, Any]:
        from lps.models import LPProfile

        if self._profiles is None:
            self._profiles = {}
            for profile in LPProfile.objects.visible_to(self.user):
                self.plan.loaded(profile)
                contact = self.contacts.by_id.get(profile.contact_id)
                if contact is not None:
                    profile._state.fields_cache["contact"] = contact
                    contact._state.fields_cache["lp_profile"] = profile
                self._profiles[("contacts.contact", profile.contact_id)] = profile
        return self._profiles

    def profile_for(self, contact: Any) -> Any:
        return self._profile_index().get(record_key(contact))

    def add_profile(self, profile: Any) -> None:
        self._remember(self._profile_index(), record_key(profile.contact), profile)

    def commitments_of(self, profile: Any, fund: Any) -> list[Any]:
        from lps.models import Commitment

        if self._commitments is None:
            self._commitments = defaultdict(list)
            profiles = {p.pk: p for p in self._profile_index().values() if p.pk}
            for commitment in Commitment.objects.visible_to(self.user).order_by("pk"):
                self.plan.loaded(commitment)
                lp, fund_obj = profiles.get(commitment.lp_id), self.fund_by_pk(commitment.fund_id)
                if lp is not None:
                    commitment._state.fields_cache["lp"] = lp
                if fund_obj is not None:
                    commitment._state.fields_cache["fund"] = fund_obj
                self._commitments[(("lps.lpprofile", commitment.lp_id), ("lps.fund", commitment.fund_id))].append(
                    commitment
                )
        return list(self._commitments.get((record_key(profile), record_key(fund)), []))

    def add_commitment(self, commitment: Any) -> None:
        self.commitments_of(commitment.lp, commitment.fund)
        items = self._commitments[(record_key(commitment.lp), record_key(commitment.fund))]
        items.append(commitment)
        self.plan.on_discard(lambda: items.remove(commitment))

    def communication(self, contact: Any, when: Any, subject: str) -> Any:
        from contacts.models import Communication

        if self._communications is None:
            self._communications = {}
            for comm in Communication.objects.visible_to(self.user).order_by("pk"):
                self.plan.loaded(comm)
                contact_obj = self.contacts.by_id.get(comm.contact_id)
                if contact_obj is not None:
                    comm._state.fields_cache["contact"] = contact_obj
                self._communications.setdefault(
                    (("contacts.contact", comm.contact_id), comm.communication_date, comm.subject), comm
                )
        return self._communications.get((record_key(contact), when, subject))

    def add_communication(self, comm: Any) -> None:
        self.communication(comm.contact, None, "")
        key = (record_key(comm.contact), comm.communication_date, comm.subject)
        if key not in self._communications:
            self._remember(self._communications, key, comm)

    # --- collaborators ------------------------------------------------------------------

    def collaborator(self, name: str, column: str) -> Any:
        name = collapse_spaces(name)
        if not name:
            return None
        user = self.users.find(name)
        if user is not None:
            return user
        key = fold(name)
        choice = self.team.get(key, CREATE if self.team_default == "create" else None)
        if isinstance(choice, str):
            user = self.users.find(choice)
            if user is None:
                raise ParseError(f"{show(name)} is set to the user {show(choice)}, who is not a user here")
            return user
        if isinstance(choice, dict):
            return self.new_user(name, key)
        self.unknown_collaborators[name] += 1
        self.warn(f"{show(name)} is not a team member here, so it was left empty", column, name)
        return None

    def new_user(self, name: str, key: str) -> Any:
        """The inactive user this run makes for ``name``: no usable password, a member once an admin activates them."""
        from crm.models import Role, User

        user = self.new_users.get(key)
        if user is not None:
            return user
        email = normalize_email(name) if "@" in name else ""
        user = User(
            username=self.users.free_username(name),
            full_name="" if email else name,
            email=email,
            role=Role.MEMBER,
            is_active=False,
        )
        user.set_unusable_password()
        self.save(user)
        self.users.usernames.add(user.username)
        self._remember(self.new_users, key, user)
        self._remember(self.new_user_names, name, user)
        self.plan.on_discard(lambda: self.users.usernames.discard(user.username))
        return user
