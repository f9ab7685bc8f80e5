"""What can be imported: the five kinds of rows, the fields a column can fill, and their synonyms.

The synonyms are what make a file from another fund's base map without configuration:
“Firm”, “Company” and “Organization” all mean the organization's name; “Amount Committed”
and “Commitment ($)” both mean the commitment amount. Choice fields (stages, statuses,
types) also list synonyms for their values, so “Hard Commit” finds “Hard circle”.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

NOTES = "__notes__"  # “Add to notes”: the column is kept as a “Header: value” line in the record's notes
IGNORE = ""
# “Created”-like columns: Airtable's created time, kept as the record's created date.
# Targets that say something about a record but alone do not make one (a blank row has its created time).
RECORD_METADATA = frozenset({"created_at"})
CREATED_SYNONYMS = "created|date added|created time|created at|created on|date created|added on|date entered|added"


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    kind: str
    synonyms: tuple[str, ...] = ()
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class Entity:
    key: str
    label: str
    singular: str
    resource: str  # dotted path of the django-import-export resource
    order: int  # import order for a whole base: what others link to goes first
    targets: tuple[Target, ...]
    notes_label: str
    file_words: tuple[str, ...]  # words in a file or table name that suggest this entity
    custom_entity: str = ""
    required_any: tuple[tuple[str, ...], ...] = ()  # each group: at least one of these must be mapped

    def target(self, key: str) -> Target | None:
        return next((t for t in self.targets if t.key == key), None)


def _t(key: str, label: str, kind: str, synonyms: str = "", **extra) -> Target:
    return Target(key, label, kind, tuple(s.strip() for s in synonyms.split("|") if s.strip()), **extra)


def _created_at():
    """The created-date target every table offers, alike everywhere."""
    return _t(
        "created_at",
        "Created on (the old system's date)",
        "created",
        CREATED_SYNONYMS,
        help="The record's created date here; its history still shows the import as the change.",
    )


ORGANIZATIONS = Entity(
    key="organizations",
    label="Organizations",
    singular="organization",
    resource="contacts.resources.OrganizationResource",
    order=1,
    custom_entity="organization",
    notes_label="description",
    file_words=(
        "firm",
        "firms",
        "organization",
        "organizations",
        "organisations",
        "companies",
        "accounts",
        "institutions",
    ),
    required_any=(("name",),),
    targets=(
        _t(
            "name",
            "Name",
            "name",
            "name|firm|firm name|company|company name|organization|organisation|organization name|account|"
            "account name|institution|investor name|entity|lp name",
            required=True,
        ),
        _t("type", "Type", "choice", "type|category|organization type|firm type|investor type|kind|segment|lp type"),
        _t("industry", "Industry", "text", "industry|sector|vertical"),
        _t("website", "Website", "url", "website|url|web|homepage|site|domain|web site"),
        _t("phone", "Phone", "phone", "phone|telephone|main phone|office phone|switchboard"),
        _t("email", "Email", "email", "email|e-mail|general email|email address"),
        _t("address", "Address", "text", "address|street|street address|mailing address"),
        _t(
            "location",
            "City, state",
            "location",
            "location|hq|headquarters|hq location|city state",
            help="“Providence, RI” fills city and state.",
        ),
        _t("city", "City", "text", "city|town|hq city"),
        _t("state", "State / region", "text", "state|region|province|county"),
        _t("country", "Country", "text", "country|hq country|nation|domicile"),
        _t(
            "description", "Description", "longtext", "description|background|about|notes|comments|summary|overview|bio"
        ),
        _t("tags", "Tags", "tags", "tags|labels|label|keywords|lists|segments"),
        _created_at(),
    ),
)

CONTACTS = Entity(
    key="contacts",
    label="Contacts",
    singular="contact",
    resource="contacts.resources.ContactResource",
    order=2,
    custom_entity="contact",
    notes_label="notes",
    file_words=("people", "person", "contacts", "contact", "lps", "investors", "prospects", "individuals"),
    required_any=(("full_name", "last_name", "email"),),
    targets=(
        _t(
            "full_name",
            "Full name (split into prefix, first, last, suffix)",
            "person_name",
            "full name|name|contact|contact name|person|person name|investor|lp",
        ),
        _t("name_prefix", "Prefix", "text", "prefix|salutation|honorific"),
        _t("first_name", "First name", "name", "first name|first|given name|forename|firstname"),
        _t("last_name", "Last name", "name", "last name|last|surname|family name|lastname"),
        _t("name_suffix", "Suffix", "text", "suffix|designation|credentials"),
        _t("email", "Email", "email", "email|e-mail|email address|e-mail address|mail|work email|primary email"),
        _t("phone", "Phone", "phone", "phone|telephone|work phone|office phone|direct|direct line|landline"),
        _t("mobile", "Mobile", "phone", "mobile|cell|cell phone|mobile phone|mobile number|cellphone"),
        _t("title", "Job title", "text", "job title|title|position|role|job|designation title"),
        _t(
            "organization",
            "Organization",
            "org_link",
            "company|firm|organization|organisation|employer|account|institution",
        ),
        _t(
            "contact_type",
            "Contact type",
            "choice",
            "relationship|contact type|type|category|relationship type|segment",
        ),
        _t("status", "Status", "choice", "status|contact status"),
        _t("source", "Source", "text", "source|lead source|referral|referred by|how we met|origin"),
        _t("tags", "Tags", "tags", "tags|labels|label|keywords|lists"),
        _t("notes", "Notes", "longtext", "notes|about|comments|bio|background|description|summary"),
        _t("linkedin_url", "LinkedIn URL", "url", "linkedin|linkedin url|linkedin profile|linkedin link"),
        _t("location", "Location", "text", "based in|location|city|hometown|address|region"),
        _t(
            "do_not_email",
            "Do not email",
            "bool",
            "do not email|unsubscribed|opt out|opted out|no email|dnc|do not contact",
        ),
        _t(
            "owner",
            "Owner (team member)",
            "user",
            "point person|owner|relationship lead|relationship owner|account owner|coverage|assigned to|contact owner",
        ),
        _created_at(),
        _t(
            "last_contacted",
            "Last contacted (until a later communication)",
            "datetime",
            "last contacted|last touch|last contact|last touched|last activity|last interaction|last spoke|"
            "last reached|last outreach",
            help="Shows as the last touch until a communication after it is logged.",
        ),
    ),
)

COMMITMENTS = Entity(
    key="commitments",
    label="LP commitments",
    singular="commitment",
    resource="lps.resources.CommitmentResource",
    order=3,
    custom_entity="",
    notes_label="notes",
    file_words=("commitments", "commitment", "subscriptions", "lp commitments", "capital", "allocations"),
    required_any=(("contact",), ("commitment_amount",)),
    targets=(
        _t(
            "contact",
            "Investor (contact)",
            "contact_link",
            "investor|lp|limited partner|contact|person|investor name|name|lp name|subscriber",
        ),
        _t(
            "contact_email",
            "Investor's email (to tell people apart)",
            "hint_email",
            "investor email|email|e-mail|lp email",
        ),
        _t(
            "contact_company",
            "Investor's company (to tell people apart)",
            "hint_company",
            "investor company|company|firm|organization",
        ),
        _t("fund", "Fund", "choice", "fund|vehicle|fund name|program|entity"),
        _t(
            "investing_entity",
            "Investing entity (trust, IRA, LLC)",
            "text",
            "investing entity|investment entity|legal entity|subscribing entity|subscriber entity|investor entity|"
            "entity name|investing vehicle|investment vehicle name",
            help="Tells apart an LP's commitments to one fund (e.g. an individual account and a trust). Without "
            "it, an LP's several rows for one fund are told apart by their investor category.",
        ),
        _t("status", "Commitment status", "choice", "commitment status|status|stage|state"),
        _t(
            "commitment_amount",
            "Commitment amount",
            "money",
            "amount committed|commitment|commitment ($)|commitment amount|committed|commitment usd|amount|"
            "capital commitment|subscription amount|committed capital",
            required=True,
        ),
        _t(
            "funded_amount",
            "Funded (paid in)",
            "money",
            "amount paid in|paid in|funded|funded amount|called|contributed|paid-in capital|amount funded|"
            "capital called",
        ),
        _t("signed_date", "Signed on", "date", "signed on|signed date|date signed|signature date|executed on"),
        _t(
            "commitment_date",
            "Commitment date",
            "date",
            "commitment date|date committed|committed on|close date|closed on",
        ),
        _t("wire_date", "Wire date", "date", "wire date|funded on|date funded|wired on"),
        _t(
            "investor_type",
            "Investor type (LP profile)",
            "choice",
            "investor category|investor type|lp type|category|type",
        ),
        _t("qualified_purchaser", "Qualified purchaser (LP profile)", "bool", "qualified purchaser|qp|is qp"),
        _t("accredited", "Accredited investor (LP profile)", "bool", "accredited|accredited investor|ai"),
        _t(
            "legal_docs_signed",
            "Subscription documents signed",
            "bool",
            "subscription docs|sub docs|legal docs|docs signed|subscription agreement|legal docs signed",
        ),
        _t("wire_received", "Wire received", "bool", "wire in|wire received|wired|wire|funds received"),
        _t("k1_sent", "K-1 sent (latest tax year)", "bool", "k1 delivered|k-1 sent|k1 sent|k1|k-1|k-1 delivered"),
        _t(
            "attachments",
            "Attached files (names kept)",
            "attachments",
            "executed documents|documents|files|attachments|docs",
        ),
        _t("notes", "Notes", "longtext", "comments|notes|description|remarks"),
        _created_at(),
    ),
)

OPPORTUNITIES = Entity(
    key="opportunities",
    label="Opportunities",
    singular="opportunity",
    resource="pipeline.resources.OpportunityResource",
    order=4,
    custom_entity="opportunity",
    notes_label="description",
    file_words=("pipeline", "fundraising pipeline", "deals", "deal", "opportunities", "opportunity", "fundraising"),
    required_any=(("contact",),),
    targets=(
        _t("name", "Name", "name", "deal name|opportunity|deal|name|opportunity name|title"),
        _t("contact", "Contact", "contact_link", "primary contact|contact|investor|lp|person|main contact"),
        _t("contact_email", "Contact's email (to tell people apart)", "hint_email", "contact email|email|e-mail"),
        _t(
            "contact_company",
            "Contact's company (to tell people apart)",
            "hint_company",
            "company|firm|organization|account",
        ),
        _t("fund", "Fund", "choice", "fund|vehicle|fund name"),
        _t("stage", "Stage", "choice", "deal stage|stage|status|pipeline stage|phase"),
        _t(
            "expected_amount",
            "Expected amount",
            "money_lenient",
            "target check|target|amount|expected amount|check size|ticket|ticket size|expected commitment|"
            "target amount|size",
        ),
        _t("commitment_amount", "Committed amount", "money", "committed amount|commitment amount|hard circle amount"),
        _t(
            "probability", "Probability (%)", "percent", "likelihood|probability|chance|confidence|win probability|odds"
        ),
        _t(
            "expected_close_date",
            "Expected close",
            "date_lenient",
            "expected close|close date|target close|expected close date|closing",
        ),
        _t("source", "Source", "text", "lead source|source|referral source|origin|channel source"),
        _t("owner", "Owner (team member)", "user", "deal owner|owner|assigned to|relationship lead|lead|point person"),
        _t("next_step", "Next step", "text", "next action|next step|next steps|todo|to do"),
        _t(
            "next_step_date",
            "Next step date",
            "date",
            "next action due|next step date|due|due date|follow up date|next action date",
        ),
        _t("priority", "Priority", "choice", "priority|importance"),
        _t("lost_reason", "Lost reason", "text", "lost reason|reason lost|decline reason|reason|why passed"),
        _t("description", "Description", "longtext", "comments|notes|description|details|summary"),
        _created_at(),
    ),
)

COMMUNICATIONS = Entity(
    key="communications",
    label="Communications",
    singular="communication",
    resource="contacts.resources.CommunicationResource",
    order=5,
    custom_entity="",
    notes_label="body",
    file_words=(
        "touchpoints",
        "touchpoint",
        "communications",
        "interactions",
        "activities",
        "activity",
        "notes",
        "meetings",
        "log",
        "emails",
        "calls",
    ),
    required_any=(("contact",), ("communication_date",)),
    targets=(
        _t("subject", "Subject", "text", "summary|subject|title|topic|name|headline"),
        _t("type", "Type", "choice", "channel|type|medium|kind|method|activity type|interaction type"),
        _t(
            "communication_date",
            "Date and time",
            "datetime",
            "when|date|date time|datetime|timestamp|occurred|occurred at|date of contact|meeting date",
        ),
        _t(
            "contact",
            "Contacts (first is the main one)",
            "contacts_link",
            "people|contact|contacts|person|attendees|with|participants|investor|lp",
        ),
        _t("contact_email", "Contacts' emails (to tell people apart)", "hint_email", "email|e-mail|emails"),
        _t(
            "contact_company", "Contacts' companies (to tell people apart)", "hint_company", "company|firm|organization"
        ),
        _t("opportunity", "Opportunity", "opportunity_link", "deal|opportunity|deal name"),
        _t(
            "team_attendees",
            "Team members",
            "users",
            "team member|team|team members|our attendees|staff|owner|logged by|from us",
        ),
        _t("body", "Details", "longtext", "details|notes|body|description|content|text|comments|minutes"),
        _t("attachments", "Attached files (names kept)", "attachments", "files|attachments|documents|docs"),
        _t(
            "needs_follow_up",
            "Needs follow-up",
            "followup",
            "needs follow up|follow up|follow-up needed|needs followup|follow up needed|action needed",
        ),
        _t("next_action", "Next action", "text", "next action|next step|action item"),
        _t("next_action_date", "Next action date", "date", "next action date|follow up date|due|due date"),
        _t("outcome", "Outcome", "text", "outcome|result"),
        _t("duration_minutes", "Duration (minutes)", "integer", "duration|minutes|length|duration minutes"),
        _created_at(),
    ),
)

ENTITIES: dict[str, Entity] = {e.key: e for e in (ORGANIZATIONS, CONTACTS, COMMITMENTS, OPPORTUNITIES, COMMUNICATIONS)}
ENTITY_CHOICES = [(e.key, e.label) for e in sorted(ENTITIES.values(), key=lambda e: e.order)]

# Columns that are computed in the old system, or only link back to another table that is
# imported on its own: never suggested for anything.
IGNORED_HEADERS = (
    "date added|created|created time|created at|created on|date created|last modified|last updated|modified|"
    "updated|last modified time|record id|id|airtable id|last touch|last contacted|last activity|"
    "commitment id|touchpoint|touchpoints|# touchpoints|touchpoint #|autonumber|row|row id|created by|"
    "last modified by|% paid in|percent paid in|unfunded|remaining"
)
# Link columns that point from this table to another one (the other table carries the link).
BACKLINK_HEADERS = {
    "organizations": "people|contacts|members|employees|staff|deals|commitments|touchpoints|opportunities",
    "contacts": "deals|commitments|touchpoints|opportunities|communications|interactions",
    "commitments": "deals|touchpoints",
    "opportunities": "touchpoints|communications|commitments",
    "communications": "",
}


# --- Values of choice fields --------------------------------------------------------------


@dataclass
class ChoiceSpec:
    """The values a choice column can map onto, their synonyms, and whether new ones may be created."""

    options: list[tuple[str, str]]  # (stored value, label)
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    can_create: bool = False
    create_label: str = ""
    auto_create: bool = False  # an unknown value is suggested as “create” (funds: a new vehicle is a new fund)
    fallback: str = ""  # what a value with no equal and nothing near means (“other”), where the field has one
    # For stages: the outcome a new one gets from its name (“Declined by them” is lost).
    new_outcome: Callable[[str], str] | None = None
    # Near spellings mean the same value (“Soft-circled”), except where names differ by a
    # numeral and both are real (“Fund I” is not a misspelt “Fund II”).
    fuzzy: bool = True


def _syn(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split("|") if s.strip())


def _organization_types() -> ChoiceSpec:
    """An organization's type and an LP profile's investor type: one enum, one synonym table."""
    from contacts.models import OrganizationType

    return ChoiceSpec(
        list(OrganizationType.choices),
        {
            "family_office": _syn("family office|fo|single family office|multi family office|sfo|mfo|family"),
            "endowment": _syn("endowment|university|college|university endowment"),
            "foundation": _syn(
                "foundation|charity|nonprofit|non-profit|trust foundation|charitable trust|philanthropy|"
                "philanthropic|not for profit"
            ),
            "pension": _syn(
                "pension|pension fund|retirement system|public pension|retirement|superannuation|super fund|"
                "pension plan|retirement plan"
            ),
            "fund_of_funds": _syn("fund of funds|fof|funds of funds|fund-of-funds|multi manager|multi-manager"),
            "corporate": _syn("corporate|corporation|company|strategic|cvc|corporate venture"),
            "wealth_manager": _syn(
                "wealth manager|ria|wealth management|registered investment advisor|multi-family advisor|"
                "wealth manager (pooled)|pooled vehicle|private wealth|asset manager|investment manager|ocio|"
                "outsourced cio|investment advisor|financial advisor|wealth advisor|private client"
            ),
            "insurance": _syn("insurance|insurer|insurance company|reinsurer|assurance"),
            "sovereign_wealth": _syn(
                "sovereign wealth|swf|sovereign|sovereign wealth fund|state fund|government fund|state investor"
            ),
            "bank": _syn("bank|private bank|banking|investment bank|commercial bank"),
            "individual": _syn(
                "individual|angel|hnwi|hnw|person|high net worth|trust / ira|trust|ira|trust/ira|self-directed ira|"
                "private individual|uhnw|uhnwi|angel investor|family trust"
            ),
            "other": _syn(
                "other|service provider|law firm|legal|audit|audit & tax|accounting|accountant|fund administrator|"
                "administrator|consultant|placement agent|vendor"
            ),
        },
        fallback="other",
    )


def _contact_types() -> ChoiceSpec:
    from contacts.models import ContactType

    return ChoiceSpec(
        list(ContactType.choices),
        {
            "investor": _syn("investor|current lp|lp|limited partner|existing lp|current investor|client|investor lp"),
            "prospect": _syn("prospect|prospective lp|prospective|potential lp|lead|target|prospective investor"),
            "advisor": _syn("advisor|adviser|consultant|mentor|board advisor"),
            "other": _syn("other|service provider|vendor|press|friend|co-investor|gp|placement agent"),
        },
        fallback="other",
    )


def _contact_statuses() -> ChoiceSpec:
    from contacts.models import ContactStatus

    return ChoiceSpec(
        list(ContactStatus.choices),
        {
            "active": _syn("active|current|engaged"),
            "nurture": _syn("nurture|warm|keep warm|later"),
            "inactive": _syn("inactive|dormant|cold|archived"),
            "do_not_contact": _syn("do not contact|dnc|unsubscribed|opted out"),
        },
    )


def _commitment_statuses() -> ChoiceSpec:
    from lps.models import CommitmentStatus

    return ChoiceSpec(
        list(CommitmentStatus.choices),
        {
            "soft_circle": _syn(
                "soft circle|soft circled|soft-circled|soft commit|soft commitment|indicated|indication|verbal"
            ),
            "hard_circle": _syn(
                "hard circle|hard circled|hard commit|hard commitment|committed|verbal commit|firm commit"
            ),
            "signed": _syn("signed|subscribed|executed|docs signed|subscription signed|legal signed"),
            "closed": _syn("closed|funded|wired|complete|completed|paid|paid in|called|admitted"),
            "withdrawn": _syn(
                "withdrawn|withdrew|withdraw|declined|cancelled|canceled|dropped|dropped out|pulled out|backed out|"
                "rescinded|revoked|terminated|lapsed|not proceeding"
            ),
        },
    )


def _stages() -> ChoiceSpec:
    from pipeline.models import Stage, StageOutcome

    by_outcome = {
        StageOutcome.LOST: _syn(
            "passed|declined|lost|dead|rejected|no|closed lost|pass|not interested|dropped|withdrawn"
        ),
    }
    by_name = {
        "lead": _syn("lead|identified|target|prospect|sourced|new|cold|to contact|researching"),
        "outreach": _syn(
            "outreach|intro|introduced|introduction|contacted|reached out|emailed|initial contact|intro made"
        ),
        "meeting": _syn("meeting|first meeting|met|pitch|pitched|call scheduled|intro meeting|second meeting|meetings"),
        "due diligence": _syn("due diligence|diligence|dd|data room|ddq|evaluating|reviewing|in diligence"),
        "committed": _syn("committed|signed|hard circle|hard circled|commitment|subscribed|hard commit"),
        "funded": _syn("funded|wired|closed|closed won|won|paid in|money in"),
    }
    options, synonyms = [], {}
    for stage in Stage.objects.order_by("order", "pk"):
        options.append((stage.name, stage.name))
        synonyms[stage.name] = by_name.get(stage.name.casefold(), ()) + by_outcome.get(stage.outcome, ())
    return ChoiceSpec(
        options, synonyms, can_create=True, create_label="new stage", auto_create=True, new_outcome=new_stage_outcome
    )


# Words that make a stage we lack a lost one: how trackers say a deal is over.
LOST_WORDS = frozenset(
    _syn(
        "passed|pass|declined|decline|declining|lost|dead|rejected|dropped|withdrawn|withdrew|cancelled|canceled|"
        "no|lapsed|killed|closed-lost|rescinded|churned"
    )
)
LOST_PHRASES = ("not interested", "not a fit", "no fit", "turned down", "not proceeding", "backed out", "pulled out")


def new_stage_outcome(name: str) -> str:
    """“open” or “lost” for a stage we lack: lost when its words say the deal is over (“Declined – no fit”)."""
    from pipeline.models import StageOutcome

    text = " ".join(re.findall(r"[a-z]+(?:-[a-z]+)?", name.casefold()))
    lost = set(text.split()) & LOST_WORDS or any(phrase in text for phrase in LOST_PHRASES)
    return StageOutcome.LOST if lost else StageOutcome.OPEN


def _funds() -> ChoiceSpec:
    from lps.models import Fund

    return ChoiceSpec(
        [(fund.name, fund.name) for fund in Fund.objects.order_by("-vintage_year", "name")],
        can_create=True,
        create_label="new fund",
        auto_create=True,
        fuzzy=False,
    )


def _priorities() -> ChoiceSpec:
    from pipeline.models import Priority

    return ChoiceSpec(
        list(Priority.choices),
        {"low": _syn("low|p3|3"), "medium": _syn("medium|normal|p2|2"), "high": _syn("high|urgent|top|p1|1")},
    )


def _communication_types() -> ChoiceSpec:
    from contacts.models import CommunicationType

    return ChoiceSpec(
        list(CommunicationType.choices),
        {
            "email": _syn("email|e-mail|mail|newsletter|email sent|email received"),
            "call": _syn("call|phone|phone call|video call|zoom|teams|video|conference call|google meet"),
            "meeting": _syn(
                "meeting|in-person|in person|event|coffee|lunch|dinner|conference|visit|site visit|agm|breakfast"
            ),
            "note": _syn("note|memo|comment|internal note|research"),
            "text": _syn("text|sms|whatsapp|message|imessage|signal|linkedin message|chat"),
        },
    )


CHOICE_SPECS: dict[tuple[str, str], Callable[[], ChoiceSpec]] = {
    ("organizations", "type"): _organization_types,
    ("contacts", "contact_type"): _contact_types,
    ("contacts", "status"): _contact_statuses,
    ("commitments", "status"): _commitment_statuses,
    ("commitments", "fund"): _funds,
    ("commitments", "investor_type"): _organization_types,
    ("opportunities", "stage"): _stages,
    ("opportunities", "fund"): _funds,
    ("opportunities", "priority"): _priorities,
    ("communications", "type"): _communication_types,
}


def choice_spec(entity: str, target: str) -> ChoiceSpec | None:
    factory = CHOICE_SPECS.get((entity, target))
    return factory() if factory else None


# --- Custom fields ------------------------------------------------------------------------

CUSTOM_PREFIX = "custom:"


def custom_targets(entity: Entity) -> list[Target]:
    """The custom fields the admins defined for this kind of record, as extra targets."""
    if not entity.custom_entity:
        return []
    from crm.models import CustomField

    return [
        Target(f"{CUSTOM_PREFIX}{cf.key}", cf.name, "custom", (cf.name, cf.key.replace("_", " ")))
        for cf in CustomField.objects.for_entity(entity.custom_entity)
    ]


def all_targets(entity: Entity) -> list[Target]:
    return list(entity.targets) + custom_targets(entity)
