"""The LP tracker: commitments across funds with their paperwork, and LP profiles."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from contacts.models import Communication, Contact, mark_stale_annotated, stale_annotations
from crm.lib.export import export_response
from crm.lib.history import history_entries
from crm.lib.htmx import (
    close_dialog,
    empty_fragment,
    is_fragment_request,
    posted,
    render_page_or_fragment,
    safe_next,
    saved,
)
from crm.lib.listing import export_format, paginate
from crm.permissions import Capability, can
from crm.roles import capability_required
from lps import accounts, calls, compliance, documents, k1s, side_letters
from lps import distributions as dist_service
from lps.filters import CommitmentFilter, ProvisionFilter
from lps.forms import (
    CapitalCallForm,
    CommitmentForm,
    ComplianceCheckForm,
    DistributionForm,
    DocumentForm,
    K1Form,
    LPProfileForm,
    MFNElectionForm,
    MFNRoundForm,
    ProvisionFormSet,
    ReceiptForm,
    SideLetterForm,
)
from lps.models import (
    COMMITTED_STATUSES,
    CallLine,
    CapitalCall,
    Commitment,
    CommitmentStatus,
    ComplianceKind,
    Distribution,
    DistributionLine,
    Document,
    ElectionStatus,
    Fund,
    LPProfile,
    MFNElection,
    MFNRound,
    SideLetter,
    SideLetterProvision,
    latest_tax_year,
)

LIST_TEMPLATE = "lps/lp_list.html"
DETAIL_TEMPLATE = "lps/lp_detail.html"
PROFILE_FORM_TEMPLATE = "lps/lp_form.html"
COMMITMENT_FORM_TEMPLATE = "lps/commitment_form.html"
CHECK_TEMPLATE = "lps/commitment_check.html"
CHANGED_EVENT = "commitmentsChanged"
TIMELINE_LENGTH = 20

# The check marks a manager may toggle in place: field → (label, column header, lives on the LP profile).
CHECKS = {
    "accredited": ("Accredited", "Accred.", True),
    "legal_docs_signed": ("Legal docs signed", "Docs", False),
    "wire_received": ("Wire received", "Wire", False),
    # Not a field since lps 0012: the latest tax year's K-1 delivery (Commitment.for_tracker).
    "k1_sent": ("K-1 sent (latest tax year)", "K-1", False),
}
# Ticking one of these also dates it, when no date was recorded yet.
CHECK_DATES = {"legal_docs_signed": "signed_date", "wire_received": "wire_date"}


def commitments_for(user) -> QuerySet[Commitment]:
    """Commitments the user may see, with what a tracker row shows and % funded for sorting."""
    return Commitment.objects.visible_to(user).for_tracker()


@dataclass
class Summary:
    committed: Decimal
    funded: Decimal
    soft_circled: Decimal
    committed_count: int
    lp_count: int
    soft_lp_count: int
    withdrawn_count: int = 0
    account: accounts.Account | None = None  # the capital accounts added up (lps.accounts)

    @property
    def unfunded(self) -> Decimal:
        return max(self.committed - self.funded, Decimal("0"))

    @property
    def average(self) -> Decimal | None:
        return (self.committed / self.committed_count).quantize(Decimal("1")) if self.committed_count else None

    @property
    def percent_funded(self) -> int:
        return int(self.funded / self.committed * 100) if self.committed else 0


def summarize(queryset: QuerySet[Commitment]) -> Summary:
    """The summary cards for the selected commitments, their capital accounts added up
    included, in one query. Soft circles are never
    counted as committed; they get their own figure. Withdrawn commitments count toward
    nothing; the cards only say how many there are."""
    committed = Q(status__in=COMMITTED_STATUSES)
    soft = Q(status=CommitmentStatus.SOFT_CIRCLE)
    sums = queryset.order_by().aggregate(
        committed=Sum("commitment_amount", filter=committed),
        funded=Sum("funded_amount", filter=committed),
        soft=Sum("commitment_amount", filter=soft),
        committed_count=Count("pk", filter=committed),
        lps=Count("lp_id", filter=committed, distinct=True),
        soft_lps=Count("lp_id", filter=soft, distinct=True),
        withdrawn=Count("pk", filter=Q(status=CommitmentStatus.WITHDRAWN)),
        **accounts.aggregates(),
    )
    zero = Decimal("0")
    return Summary(
        committed=sums["committed"] or zero,
        funded=sums["funded"] or zero,
        soft_circled=sums["soft"] or zero,
        committed_count=sums["committed_count"],
        lp_count=sums["lps"],
        soft_lp_count=sums["soft_lps"],
        withdrawn_count=sums["withdrawn"],
        account=accounts.from_aggregate(sums),
    )


def _filtered(request: HttpRequest) -> CommitmentFilter:
    queryset = commitments_for(request.user).order_by("-fund__vintage_year", "fund__name", "lp__contact__last_name")
    return CommitmentFilter(request.GET or None, queryset=queryset, request=request)


@require_GET
def lp_list(request: HttpRequest) -> HttpResponse:
    filterset = _filtered(request)
    # The Stale badge beside the LP, by the contacts list's rule, from the page's own query.
    page_obj = paginate(request, filterset.qs.annotate(**stale_annotations("lp__contact")))
    mark_stale_annotated(page_obj, lambda commitment: commitment.lp.contact)
    context = {
        "filter": filterset,
        "page_obj": page_obj,
        "summary": summarize(filterset.qs),
        "past_due": calls.overdue_lines(timezone.localdate()).filter(commitment__in=filterset.qs.values("pk")).count(),
        "selected_fund": filterset.selected_fund,
        "checks": CHECKS,
        "can_edit": can(request.user, Capability.CHANGE_COMMITMENTS),
    }
    return render_page_or_fragment(request, LIST_TEMPLATE, "lp-tracker", context)


@require_GET
def commitment_export(request: HttpRequest) -> HttpResponse:
    fmt = export_format(request)
    headers = [
        "LP",
        "Email",
        "Organization",
        "Investor type",
        "Fund",
        "Investing entity",
        "Status",
        "Committed",
        "Funded",
        "Unfunded",
        "% funded",
        "Commitment date",
        "Accredited",
        "Qualified purchaser",
        "Legal docs signed",
        "Signed date",
        "Wire received",
        "Wire date",
        "K-1 sent",
        "Notes",
    ]
    rows = (
        [
            c.lp.contact.full_name,
            c.lp.contact.email,
            c.lp.contact.organization.name if c.lp.contact.organization else "",
            c.lp.get_investor_type_display(),
            c.fund.name,
            c.investing_entity,
            c.get_status_display(),
            c.commitment_amount,
            c.funded_amount,
            c.unfunded_amount,
            c.percent_funded,
            c.commitment_date,
            c.lp.accredited,
            c.lp.qualified_purchaser,
            c.legal_docs_signed,
            c.signed_date,
            c.wire_received,
            c.wire_date,
            c.k1_sent,
            c.notes,
        ]
        for c in _filtered(request).qs
    )
    return export_response(fmt, "commitments", headers, rows)


# --- Check marks ----------------------------------------------------------------------------


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def commitment_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Flip one check mark of a commitment (or the LP's accredited flag), with history."""
    commitment = commitments_for(request.user).get_for_user(request.user, pk, write=True)
    field = request.POST.get("field", "")
    if field not in CHECKS:
        return HttpResponse("Unknown check.", status=400)
    label, _header, on_profile = CHECKS[field]
    if field == "k1_sent":
        value = k1s.toggle_latest_sent(commitment, request.user, timezone.localdate())
    else:
        target = commitment.lp if on_profile else commitment
        value = not getattr(target, field)
        setattr(target, field, value)
        date_field = CHECK_DATES.get(field)
        if value and date_field and getattr(target, date_field) is None:
            setattr(target, date_field, timezone.localdate())
        target.save()
    state = "ticked" if value else "cleared"
    if not is_fragment_request(request):
        messages.success(request, f"{label} {state} for {commitment.lp} in {commitment.fund}.")
        return redirect(safe_next(request) or "lp_list")
    # Re-read from the database, so the mark shows what was saved.
    commitment = commitments_for(request.user).get_for_user(request.user, pk)
    context = {"c": commitment, "field": field, "label": label, "can_edit": True, "next": safe_next(request) or ""}
    response = render(request, CHECK_TEMPLATE, context)
    patch_vary_headers(response, ("HX-Request",))
    if on_profile:  # the LP's other commitments show the same flag
        trigger_client_event(response, CHANGED_EVENT)
    return response


# --- Commitment forms -----------------------------------------------------------------------


def _commitment_saved(request: HttpRequest, commitment: Commitment, verb: str) -> HttpResponse:
    through = f" through {commitment.investing_entity}" if commitment.investing_entity else ""
    messages.success(request, f"{verb} {commitment.lp}'s commitment to {commitment.fund}{through}.")
    if is_fragment_request(request):
        return close_dialog(empty_fragment(request), CHANGED_EVENT)
    return redirect(safe_next(request) or reverse("lp_detail", args=[commitment.lp_id]))


@require_http_methods(["GET", "POST"])
@capability_required(Capability.CHANGE_COMMITMENTS)
def commitment_create(request: HttpRequest, pk: int) -> HttpResponse:
    profile = LPProfile.objects.select_related("contact").get_for_user(request.user, pk, write=True)
    form = CommitmentForm(request.POST or None, instance=Commitment(lp=profile), user=request.user)
    if request.method == "POST" and form.is_valid():
        return _commitment_saved(request, form.save(), "Added")
    context = {"form": form, "profile": profile, "next": safe_next(request) or ""}
    return render_page_or_fragment(request, COMMITMENT_FORM_TEMPLATE, "commitment-form", context)


@require_http_methods(["GET", "POST"])
@capability_required(Capability.CHANGE_COMMITMENTS)
def commitment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    commitment = commitments_for(request.user).get_for_user(request.user, pk, write=True)
    form = CommitmentForm(request.POST or None, instance=commitment, user=request.user)
    if request.method == "POST" and form.is_valid():
        return _commitment_saved(request, form.save(), "Saved")
    context = {"form": form, "profile": commitment.lp, "commitment": commitment, "next": safe_next(request) or ""}
    return render_page_or_fragment(request, COMMITMENT_FORM_TEMPLATE, "commitment-form", context)


# --- LP profiles ----------------------------------------------------------------------------


def _detail_context(request: HttpRequest, profile: LPProfile, document_form: DocumentForm | None = None) -> dict:
    user = request.user
    commitments = list(
        commitments_for(user)
        .filter(lp=profile)
        .prefetch_related(Prefetch("side_letters", SideLetter.objects.prefetch_related("provisions")))
        .order_by("-fund__vintage_year", "fund__name")
    )
    today = timezone.localdate()
    past_due = calls.overdue_by_commitment(timezone.localdate(), lp=profile)
    for commitment in commitments:
        commitment.past_due = past_due.get(commitment.pk)
    return {
        "profile": profile,
        "contact": profile.contact,
        "commitments": commitments,
        "summary": summarize(Commitment.objects.visible_to(user).filter(lp=profile)),
        "accounts": accounts.accounts(
            Commitment.objects.visible_to(user).filter(lp=profile).order_by("-fund__vintage_year", "fund__name", "pk")
        ),
        "communications": Communication.objects.visible_to(user)
        .filter(contact=profile.contact)
        .select_related("created_by")
        .order_by("-communication_date", "-pk")[:TIMELINE_LENGTH],
        # Through the contact, so lps reads the layer above without importing it (the
        # related manager is the pipeline's own queryset, scoping included).
        "opportunities": profile.contact.opportunities.visible_to(user)
        .open()
        .select_related("fund", "stage", "owner")
        .order_by("-fund__vintage_year", "stage__order"),
        "custom_fields": profile.custom_field_display(),
        "history": history_entries(profile),
        "documents": lp_documents(user, profile),
        "document_form": document_form or DocumentForm(owners=document_owners(profile, commitments)),
        "checks": CHECKS,
        "can_edit": can(user, Capability.CHANGE_COMMITMENTS),
        "can_edit_compliance": can(user, Capability.CHANGE_COMPLIANCE),
        "compliance": compliance_rows(profile, today),
        "today": today,
    }


def _profile(request: HttpRequest, pk: int, *, write: bool = False) -> LPProfile:
    queryset = LPProfile.objects.select_related("contact__organization", "contact__owner")
    return queryset.get_for_user(request.user, pk, write=write)


def _panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The LP's panel, read fresh from the database."""
    profile = _profile(request, pk)
    return render_page_or_fragment(request, DETAIL_TEMPLATE, "lp-panel", _detail_context(request, profile))


@require_GET
def lp_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _panel(request, pk)


def _fixed_contact(request: HttpRequest) -> Contact | None:
    raw = request.GET.get("contact")
    if raw in (None, ""):
        return None
    return Contact.objects.select_related("organization").get_for_user(request.user, raw)


@require_http_methods(["GET", "POST"])
def lp_create(request: HttpRequest) -> HttpResponse:
    """Create an LP profile for a contact; the model makes the contact an investor."""
    contact = _fixed_contact(request)
    if contact is not None:
        existing = LPProfile.objects.visible_to(request.user).filter(contact=contact).first()
        if existing is not None:
            messages.info(request, f"{contact} already has an LP profile.")
            return redirect("lp_detail", pk=existing.pk)
    form = LPProfileForm(request.POST or None, user=request.user, fixed_contact=contact)
    if request.method == "POST" and form.is_valid():
        profile = form.save()
        return saved(
            request,
            f"{profile.contact} is now an LP.",
            redirect_to=profile,
            panel=lambda: _panel(request, profile.pk),
            event=CHANGED_EVENT,
        )
    context = {"form": form, "action_url": request.get_full_path()}
    return render_page_or_fragment(request, PROFILE_FORM_TEMPLATE, "lp-form", context)


@require_http_methods(["GET", "POST"])
def lp_edit(request: HttpRequest, pk: int) -> HttpResponse:
    profile = _profile(request, pk, write=True)
    form = LPProfileForm(request.POST or None, instance=profile, user=request.user)
    if request.method == "POST" and form.is_valid():
        profile = form.save()
        return saved(
            request,
            f"Saved {profile.contact}'s LP profile.",
            redirect_to=profile,
            panel=lambda: _panel(request, profile.pk),
            event=CHANGED_EVENT,
        )
    context = {"form": form, "profile": profile, "action_url": request.get_full_path()}
    return render_page_or_fragment(request, PROFILE_FORM_TEMPLATE, "lp-form", context)


# --- Capital calls --------------------------------------------------------------------------

CALLS_TEMPLATE = "lps/capital_calls.html"
CALL_TEMPLATE = "lps/capital_call.html"


@require_GET
def capital_calls(request: HttpRequest, pk: int) -> HttpResponse:
    """A fund's calls with what each asked and received, and the form for the next one."""
    fund = Fund.objects.get_for_user(request.user, pk)
    rows = (
        CapitalCall.objects.visible_to(request.user)
        .filter(fund=fund)
        .annotate(received=Sum("lines__received_amount"), lps=Count("lines"))
        .order_by("-number")
    )
    context = {
        "fund": fund,
        "calls": list(rows),
        "form": CapitalCallForm(initial={"notice_date": timezone.localdate()}),
        "can_call": can(request.user, Capability.CHANGE_COMMITMENTS),
        "overdue": calls.overdue_lines(timezone.localdate()).filter(call__fund=fund).count(),
    }
    return render(request, CALLS_TEMPLATE, context)


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def capital_call_create(request: HttpRequest, pk: int) -> HttpResponse:
    fund = Fund.objects.get_for_user(request.user, pk)
    form = CapitalCallForm(request.POST)
    if form.is_valid():
        try:
            call = calls.issue_call(fund, request.user, **form.cleaned_data)
        except calls.CallRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, f"Call {call.number} of {fund} issued to {call.lines.count()} LPs.")
            return redirect("capital_call_detail", call.pk)
    rows = CapitalCall.objects.visible_to(request.user).filter(fund=fund).order_by("-number")
    context = {"fund": fund, "calls": list(rows), "form": form, "can_call": True}
    return render(request, CALLS_TEMPLATE, context, status=400)


def _call_context(
    request: HttpRequest, call: CapitalCall, receipt_forms: dict | None = None, document_forms: dict | None = None
) -> dict:
    lines = list(call.lines.select_related("commitment__lp__contact").order_by("-amount", "pk"))
    today = timezone.localdate()
    attached: dict[int, list[Document]] = {}
    for document in (
        Document.objects.visible_to(request.user).filter(call_line__call=call).select_related("uploaded_by")
    ):
        attached.setdefault(document.call_line_id, []).append(document)
    for line in lines:
        line.attached = attached.get(line.pk, [])
        line.document_form = (document_forms or {}).get(line.pk) or DocumentForm(prefix=f"doc-{line.pk}")
    return {
        "call": call,
        "fund": call.fund,
        "lines": [
            (line, (receipt_forms or {}).get(line.pk) or ReceiptForm(initial={"received_on": today})) for line in lines
        ],
        "received": sum((line.received_amount for line in lines), Decimal("0")),
        "overdue": call.due_date < today,
        "can_receive": can(request.user, Capability.CHANGE_COMMITMENTS),
    }


@require_GET
def capital_call_detail(request: HttpRequest, pk: int) -> HttpResponse:
    call = CapitalCall.objects.select_related("fund").get_for_user(request.user, pk)
    return render(request, CALL_TEMPLATE, _call_context(request, call))


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def call_line_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    """Record money received against one LP's line of a call (partial payments add up)."""
    line = CallLine.objects.select_related("call__fund", "commitment__lp").get_for_user(request.user, pk, write=True)
    form = ReceiptForm(request.POST)
    if form.is_valid():
        try:
            calls.record_receipt(line, request.user, form.cleaned_data["amount"], form.cleaned_data["received_on"])
        except calls.CallRefused as refusal:
            form.add_error("amount", str(refusal))
        else:
            messages.success(request, f"Recorded {form.cleaned_data['amount']:,} from {line.commitment.lp}.")
            return redirect("capital_call_detail", line.call_id)
    return render(request, CALL_TEMPLATE, _call_context(request, line.call, {line.pk: form}), status=400)


# --- Distributions --------------------------------------------------------------------------

DISTRIBUTIONS_TEMPLATE = "lps/distributions.html"
DISTRIBUTION_TEMPLATE = "lps/distribution.html"


def _distributions_context(request: HttpRequest, fund: Fund, form: DistributionForm) -> dict:
    rows = (
        Distribution.objects.visible_to(request.user).filter(fund=fund).annotate(lps=Count("lines")).order_by("-number")
    )
    return {
        "fund": fund,
        "distributions": list(rows),
        "form": form,
        "can_distribute": can(request.user, Capability.CHANGE_COMMITMENTS),
    }


@require_GET
def distributions(request: HttpRequest, pk: int) -> HttpResponse:
    """A fund's distributions, and the form for the next one."""
    fund = Fund.objects.get_for_user(request.user, pk)
    form = DistributionForm(initial={"date": timezone.localdate()})
    return render(request, DISTRIBUTIONS_TEMPLATE, _distributions_context(request, fund, form))


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def distribution_create(request: HttpRequest, pk: int) -> HttpResponse:
    fund = Fund.objects.get_for_user(request.user, pk)
    form = DistributionForm(request.POST)
    if form.is_valid():
        try:
            distribution = dist_service.make_distribution(fund, request.user, **form.cleaned_data)
        except dist_service.DistributionRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(
                request, f"Distribution {distribution.number} of {fund} made to {distribution.lines.count()} LPs."
            )
            return redirect("distribution_detail", distribution.pk)
    return render(request, DISTRIBUTIONS_TEMPLATE, _distributions_context(request, fund, form), status=400)


@require_GET
def distribution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    distribution = Distribution.objects.select_related("fund").get_for_user(request.user, pk)
    lines = distribution.lines.select_related("commitment__lp__contact").order_by("-amount", "pk")
    context = {"distribution": distribution, "fund": distribution.fund, "lines": list(lines)}
    return render(request, DISTRIBUTION_TEMPLATE, context)


# --- Notices: one printed page per LP -------------------------------------------------------

NOTICES_TEMPLATE = "lps/notices.html"


def _notices(request: HttpRequest, context: dict) -> HttpResponse:
    return render(request, NOTICES_TEMPLATE, {"today": timezone.localdate(), **context})


@require_GET
def call_notices(request: HttpRequest, pk: int) -> HttpResponse:
    """Every LP's notice of one call, each printed on a page of its own."""
    call = CapitalCall.objects.select_related("fund").get_for_user(request.user, pk)
    lines = list(calls.notice_lines(call))
    return _notices(request, {"kind": "call", "call": call, "fund": call.fund, "lines": lines, "all": True})


@require_GET
def call_notice(request: HttpRequest, pk: int) -> HttpResponse:
    """One LP's notice of a call (the call line's id)."""
    line = CallLine.objects.select_related("call__fund").get_for_user(request.user, pk)
    lines = list(calls.notice_lines(line.call).filter(pk=line.pk))
    return _notices(request, {"kind": "call", "call": line.call, "fund": line.call.fund, "lines": lines})


@require_GET
def distribution_notices(request: HttpRequest, pk: int) -> HttpResponse:
    """Every LP's notice of one distribution, each printed on a page of its own."""
    distribution = Distribution.objects.select_related("fund").get_for_user(request.user, pk)
    lines = list(dist_service.notice_lines(distribution))
    context = {"kind": "distribution", "distribution": distribution, "fund": distribution.fund, "lines": lines}
    return _notices(request, {**context, "all": True})


@require_GET
def distribution_notice(request: HttpRequest, pk: int) -> HttpResponse:
    """One LP's notice of a distribution (the distribution line's id)."""
    line = DistributionLine.objects.select_related("distribution__fund").get_for_user(request.user, pk)
    distribution = line.distribution
    lines = list(dist_service.notice_lines(distribution).filter(pk=line.pk))
    return _notices(
        request, {"kind": "distribution", "distribution": distribution, "fund": distribution.fund, "lines": lines}
    )


# --- Capital accounts -----------------------------------------------------------------------

ACCOUNTS_TEMPLATE = "lps/capital_accounts.html"
ACCOUNT_HEADERS = ["LP", "Investing entity", "Committed", "Called", "Paid in", "Unfunded", "Distributed", "DPI"]


def _fund_accounts(request: HttpRequest, fund: Fund) -> list[accounts.Account]:
    queryset = Commitment.objects.visible_to(request.user).filter(fund=fund)
    return accounts.accounts(queryset.order_by("lp__contact__last_name", "lp__contact__first_name", "pk"))


@require_GET
def capital_accounts(request: HttpRequest, pk: int) -> HttpResponse:
    """The fund's capital accounts, one row per commitment, with totals."""
    fund = Fund.objects.get_for_user(request.user, pk)
    rows = _fund_accounts(request, fund)
    context = {"fund": fund, "rows": rows, "total": accounts.add_up(rows)}
    return render(request, ACCOUNTS_TEMPLATE, context)


@require_GET
def capital_account_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The capital accounts table as CSV or XLSX: the same rows, then the totals."""
    fmt = export_format(request)
    fund = Fund.objects.get_for_user(request.user, pk)
    rows = _fund_accounts(request, fund)

    def cells(row: accounts.Account, name: str, entity: str) -> list:
        figures = [row.committed, row.called, row.paid_in, row.unfunded, row.distributed, row.dpi]
        return [name, entity, *figures]

    table = [cells(r, r.commitment.lp.contact.full_name, r.commitment.investing_entity) for r in rows]
    table.append(cells(accounts.add_up(rows), "Total", ""))
    return export_response(fmt, f"capital-accounts-{slugify(fund.name)}", ACCOUNT_HEADERS, table)


# --- Side letters -------------------------------------------------------------------------------

SIDE_LETTER_FORM_TEMPLATE = "lps/side_letter_form.html"
REGISTER_TEMPLATE = "lps/side_letter_register.html"
ROUND_TEMPLATE = "lps/mfn_round.html"
COMPLIANCE_FORM_TEMPLATE = "lps/compliance_form.html"


def _side_letter_form(request: HttpRequest, side_letter: SideLetter) -> HttpResponse:
    form = SideLetterForm(posted(request), instance=side_letter)
    formset = ProvisionFormSet(posted(request), instance=side_letter, prefix="provisions")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        adding = side_letter.pk is None
        provisions = [f.instance for f in formset.forms if f.has_changed() and f not in formset.deleted_forms]
        deleted = [f.instance for f in formset.deleted_forms if f.instance.pk]
        side_letters.save_side_letter(form.instance, provisions, deleted, request.user)
        commitment = side_letter.commitment
        messages.success(
            request, f"{'Added' if adding else 'Saved'} the side letter of {commitment.lp} in {commitment.fund}."
        )
        if is_fragment_request(request):
            return close_dialog(empty_fragment(request), CHANGED_EVENT)
        return redirect(safe_next(request) or reverse("lp_detail", args=[commitment.lp_id]))
    context = {"form": form, "formset": formset, "side_letter": side_letter, "commitment": side_letter.commitment,
               "next": safe_next(request) or ""}  # fmt: skip
    return render_page_or_fragment(request, SIDE_LETTER_FORM_TEMPLATE, "side-letter-form", context)


@require_http_methods(["GET", "POST"])
@capability_required(Capability.CHANGE_COMMITMENTS)
def side_letter_create(request: HttpRequest, pk: int) -> HttpResponse:
    commitment = commitments_for(request.user).get_for_user(request.user, pk, write=True)
    return _side_letter_form(request, SideLetter(commitment=commitment))


@require_http_methods(["GET", "POST"])
@capability_required(Capability.CHANGE_COMMITMENTS)
def side_letter_edit(request: HttpRequest, pk: int) -> HttpResponse:
    queryset = SideLetter.objects.select_related("commitment__lp__contact", "commitment__fund")
    return _side_letter_form(request, queryset.get_for_user(request.user, pk, write=True))


def _register_filter(request: HttpRequest) -> ProvisionFilter:
    queryset = (
        SideLetterProvision.objects.visible_to(request.user)
        .select_related("side_letter__commitment__lp__contact__organization", "side_letter__commitment__fund")
        .order_by(
            "side_letter__commitment__fund__name", "category", "side_letter__commitment__lp__contact__last_name", "pk"
        )
    )
    return ProvisionFilter(request.GET or None, queryset=queryset, request=request)


def _register_context(request: HttpRequest, round_form: MFNRoundForm | None = None) -> dict:
    filterset = _register_filter(request)
    today = timezone.localdate()
    rounds = (
        MFNRound.objects.visible_to(request.user)
        .select_related("fund")
        .annotate(
            eligible=Count("elections"),
            pending=Count("elections", filter=Q(elections__status=ElectionStatus.PENDING)),
        )
        .order_by("-deadline", "-pk")[:ROUNDS_SHOWN]
    )
    can_edit = can(request.user, Capability.CHANGE_COMMITMENTS)
    return {
        "filter": filterset,
        "page_obj": paginate(request, filterset.qs),
        "rounds": [(r, (r.deadline - today).days) for r in rounds],
        "round_form": round_form
        or (MFNRoundForm(user=request.user, initial={"sent_date": today}) if can_edit else None),
        "can_edit": can_edit,
        "warning_days": side_letters.MFN_WARNING_DAYS,
        "today": today,
    }


# The register shows the latest rounds; older ones stay reachable from their own pages' links.
ROUNDS_SHOWN = 20


@require_GET
def side_letter_register(request: HttpRequest) -> HttpResponse:
    """Every side-letter provision across LPs, filterable by category, fund and words; MFN rounds above."""
    response = render_page_or_fragment(request, REGISTER_TEMPLATE, "provision-table", _register_context(request))
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
def side_letter_export(request: HttpRequest) -> HttpResponse:
    fmt = export_format(request)
    headers = ["LP", "Organization", "Fund", "Investing entity", "Side letter signed", "Category", "Provision"]
    rows = (
        [
            p.side_letter.commitment.lp.contact.full_name,
            p.side_letter.commitment.lp.contact.organization.name
            if p.side_letter.commitment.lp.contact.organization
            else "",
            p.side_letter.commitment.fund.name,
            p.side_letter.commitment.investing_entity,
            p.side_letter.signed_date,
            p.get_category_display(),
            p.text,
        ]
        for p in _register_filter(request).qs
    )
    return export_response(fmt, "side-letter-provisions", headers, rows)


# --- MFN election rounds --------------------------------------------------------------------------


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def mfn_round_create(request: HttpRequest) -> HttpResponse:
    form = MFNRoundForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        mfn_round = side_letters.create_round(
            data["fund"], request.user, sent_date=data["sent_date"], deadline=data["deadline"], notes=data["notes"]
        )
        messages.success(request, f"MFN round of {mfn_round.fund} sent to {mfn_round.elections.count()} eligible LPs.")
        return redirect("mfn_round_detail", mfn_round.pk)
    return render(request, REGISTER_TEMPLATE, _register_context(request, form), status=400)


def _round_context(request: HttpRequest, mfn_round: MFNRound, forms: dict | None = None) -> dict:
    today = timezone.localdate()
    provisions = list(side_letters.electable_provisions(mfn_round))
    elections = list(
        mfn_round.elections.select_related("commitment__lp__contact__organization")
        .prefetch_related("elected_provisions")
        .order_by("commitment__lp__contact__last_name", "pk")
    )
    can_edit = can(request.user, Capability.CHANGE_COMMITMENTS)
    rows = []
    for election in elections:
        form = (forms or {}).get(election.pk)
        if form is None and can_edit:
            form = MFNElectionForm(
                provisions=provisions,
                initial={"status": election.status, "decided_on": election.decided_on or today,
                         "provisions": [p.pk for p in election.elected_provisions.all()]},
                prefix=f"e{election.pk}",
            )  # fmt: skip
        rows.append((election, form))
    return {
        "round": mfn_round,
        "fund": mfn_round.fund,
        "rows": rows,
        "days_left": (mfn_round.deadline - today).days,
        "pending": sum(1 for e in elections if e.status == ElectionStatus.PENDING),
        "provisions": provisions,
        "warning_days": side_letters.MFN_WARNING_DAYS,
        "can_edit": can_edit,
        "today": today,
    }


@require_GET
def mfn_round_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The round's eligible LPs with each one's election and the days left."""
    mfn_round = MFNRound.objects.select_related("fund").get_for_user(request.user, pk)
    return render(request, ROUND_TEMPLATE, _round_context(request, mfn_round))


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def mfn_election_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Record one LP's election (the provisions chosen), a decline, or set it back to pending."""
    election = MFNElection.objects.select_related("round__fund", "commitment__lp").get_for_user(
        request.user, pk, write=True
    )
    form = MFNElectionForm(
        request.POST, provisions=list(side_letters.electable_provisions(election.round)), prefix=f"e{election.pk}"
    )
    if form.is_valid():
        data = form.cleaned_data
        side_letters.record_election(
            election,
            request.user,
            status=data["status"],
            provisions=data["provisions"],
            decided_on=data["decided_on"],
        )
        messages.success(
            request, f"Recorded {election.commitment.lp}'s MFN election: {election.get_status_display().lower()}."
        )
        return redirect("mfn_round_detail", election.round_id)
    return render(request, ROUND_TEMPLATE, _round_context(request, election.round, {election.pk: form}), status=400)


# --- Compliance -----------------------------------------------------------------------------------


def compliance_rows(profile: LPProfile, today) -> list[tuple[str, object, str]]:
    """(label, check, status as of today) per kind, for the LP's page."""
    checks = compliance.checks_by_kind(profile)
    labels = dict(ComplianceKind.choices)
    return [(labels[kind], check, check.current_status(today)) for kind, check in checks.items()]


@require_http_methods(["GET", "POST"])
@capability_required(Capability.CHANGE_COMPLIANCE)
def compliance_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The LP's three compliance checks in one form (one sub-form per kind)."""
    profile = _profile(request, pk)
    checks = compliance.checks_by_kind(profile)
    forms = {kind: ComplianceCheckForm(posted(request), instance=check, prefix=kind) for kind, check in checks.items()}
    if request.method == "POST" and all(form.is_valid() for form in forms.values()):
        values = {kind: {name: form.cleaned_data[name] for name in form.Meta.fields} for kind, form in forms.items()}
        compliance.save_checks(profile, request.user, values)
        return saved(
            request,
            f"Saved {profile.contact}'s compliance status.",
            redirect_to=profile,
            panel=lambda: _panel(request, profile.pk),
            event=CHANGED_EVENT,
        )
    labels = dict(ComplianceKind.choices)
    context = {
        "profile": profile,
        "forms": [(labels[k], f) for k, f in forms.items()],
        "action_url": request.get_full_path(),
    }
    return render_page_or_fragment(request, COMPLIANCE_FORM_TEMPLATE, "compliance-form", context)


# --- K-1s -----------------------------------------------------------------------------------

K1_TEMPLATE = "lps/k1_status.html"
# Tax years the K-1 page offers: from the fund's vintage (or a decade back) to the latest.
K1_YEARS_BACK = 10


def _tax_year(request: HttpRequest, fund: Fund) -> tuple[int, list[int]]:
    latest = latest_tax_year(timezone.localdate())
    first = min(fund.vintage_year or latest - K1_YEARS_BACK, latest)
    years = list(range(latest, first - 1, -1))
    try:
        year = int(request.GET.get("year", latest))
    except ValueError:
        year = latest
    return (year if year in years else latest), years


def _k1_context(request: HttpRequest, fund: Fund, year: int, years: list[int], forms: dict | None = None) -> dict:
    rows = k1s.k1_rows(fund, year, request.user)
    can_record = can(request.user, Capability.CHANGE_COMMITMENTS)
    entries = []
    for row in rows:
        form = (forms or {}).get(row.commitment.pk)
        if form is None and can_record:
            delivery = row.delivery
            initial = {"tax_year": year}
            if delivery is not None:
                initial |= {
                    "prepared_on": delivery.prepared_on,
                    "sent_on": delivery.sent_on,
                    "method": delivery.method,
                    "notes": delivery.notes,
                }
            form = K1Form(initial=initial, prefix=f"k1-{row.commitment.pk}")
        entries.append((row, form))
    counts = {status: sum(1 for row in rows if row.status == status) for status in ("sent", "prepared", "missing")}
    return {
        "fund": fund,
        "year": year,
        "years": years,
        "entries": entries,
        "counts": counts,
        "can_record": can_record,
    }


@require_GET
def k1_status(request: HttpRequest, pk: int) -> HttpResponse:
    """A fund's K-1s for one tax year: every admitted commitment, prepared or sent, and who is missing one."""
    fund = Fund.objects.get_for_user(request.user, pk)
    year, years = _tax_year(request, fund)
    return render(request, K1_TEMPLATE, _k1_context(request, fund, year, years))


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def k1_record(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a commitment's K-1 for a tax year (prepared, sent, how), from the K-1 page."""
    commitment = Commitment.objects.select_related("fund", "lp__contact").get_for_user(request.user, pk, write=True)
    form = K1Form(request.POST, prefix=f"k1-{commitment.pk}")
    if form.is_valid():
        data = form.cleaned_data
        k1s.record_k1(
            commitment,
            data["tax_year"],
            request.user,
            prepared_on=data["prepared_on"],
            sent_on=data["sent_on"],
            method=data["method"],
            notes=data["notes"],
        )
        messages.success(request, f"Saved {commitment.lp}'s {data['tax_year']} K-1 for {commitment.fund}.")
        return redirect(f"{reverse('k1_status', args=[commitment.fund_id])}?year={data['tax_year']}")
    fund = commitment.fund
    _year, years = _tax_year(request, fund)
    year = form.cleaned_data.get("tax_year") if form.cleaned_data.get("tax_year") in years else _year
    context = _k1_context(request, fund, year, years, {commitment.pk: form})
    return render(request, K1_TEMPLATE, context, status=400)


# --- Documents ------------------------------------------------------------------------------


def lp_documents(user, profile: LPProfile) -> list[Document]:
    """The LP's documents and its commitments', newest first, in one query."""
    return list(
        Document.objects.visible_to(user)
        .filter(Q(lp=profile) | Q(commitment__lp=profile) | Q(side_letter__commitment__lp=profile))
        .select_related("uploaded_by", "commitment__fund", "side_letter__commitment__fund")
    )


def document_owners(profile: LPProfile, commitments: list[Commitment]) -> list[tuple[str, str]]:
    """What a document on the LP page can be attached to: the LP, or one of its commitments."""
    owners = [("lp", f"{profile} (the LP)")]
    for c in commitments:
        through = f" through {c.investing_entity}" if c.investing_entity else ""
        owners.append((f"commitment:{c.pk}", f"{c.fund.name} commitment{through}"))
        for letter in c.side_letters.all():
            signed = f" signed {letter.signed_date:%b %-d, %Y}" if letter.signed_date else ""
            owners.append((f"side_letter:{letter.pk}", f"{c.fund.name} side letter{signed}"))
    return owners


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def lp_document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach a file to the LP or to one of its commitments."""
    profile = _profile(request, pk)
    commitments = list(
        commitments_for(request.user)
        .filter(lp=profile)
        .prefetch_related("side_letters")
        .order_by("-fund__vintage_year", "fund__name")
    )
    form = DocumentForm(request.POST, request.FILES, owners=document_owners(profile, commitments))
    if form.is_valid():
        owner = form.cleaned_data["owner"]
        document = Document(document_type=form.cleaned_data["kind"], title=form.cleaned_data["title"])
        letters = {f"side_letter:{letter.pk}": letter for c in commitments for letter in c.side_letters.all()}
        if owner == "lp":
            document.lp = profile
        elif owner in letters:
            document.side_letter = letters[owner]
        else:
            document.commitment = next(c for c in commitments if f"commitment:{c.pk}" == owner)
        documents.save_document(document, form.cleaned_data["file"], request.user)
        messages.success(request, f"Attached “{document.title}”.")
        return redirect("lp_detail", pk=profile.pk)
    context = _detail_context(request, profile, document_form=form)
    return render(request, DETAIL_TEMPLATE, context, status=400)


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def call_line_document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach a file (a notice, a wire confirmation…) to one LP's line of a capital call."""
    line = CallLine.objects.select_related("call__fund", "commitment__lp").get_for_user(request.user, pk, write=True)
    form = DocumentForm(request.POST, request.FILES, prefix=f"doc-{line.pk}")
    if form.is_valid():
        document = Document(call_line=line, document_type=form.cleaned_data["kind"], title=form.cleaned_data["title"])
        documents.save_document(document, form.cleaned_data["file"], request.user)
        messages.success(request, f"Attached “{document.title}” to {line.commitment.lp}'s line.")
        return redirect("capital_call_detail", line.call_id)
    return render(request, CALL_TEMPLATE, _call_context(request, line.call, document_forms={line.pk: form}), status=400)


def _document(request: HttpRequest, pk: int, *, write: bool = False) -> Document:
    """The document, through its owner's access helper: a document is visible as its owner is."""
    document = Document.objects.select_related("call_line__call").get_for_user(request.user, pk, write=write)
    if document.lp_id is not None:
        LPProfile.objects.get_for_user(request.user, document.lp_id)
    elif document.commitment_id is not None:
        Commitment.objects.get_for_user(request.user, document.commitment_id)
    elif document.side_letter_id is not None:
        SideLetter.objects.get_for_user(request.user, document.side_letter_id)
    else:
        CallLine.objects.get_for_user(request.user, document.call_line_id)
    return document


@require_GET
def document_download(request: HttpRequest, pk: int) -> FileResponse:
    """The file, to a signed-in user who may see its owner: PDFs open in the browser, the rest download."""
    document = _document(request, pk)
    try:
        handle = document.file.open("rb")
    except FileNotFoundError as missing:
        raise Http404("The file of this document is missing.") from missing
    response = FileResponse(
        handle, as_attachment=not document.is_pdf, filename=document.original_name, content_type=document.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    # Nothing in a served file may run or load anything (a PDF viewer honours this too).
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_POST
@capability_required(Capability.CHANGE_COMMITMENTS)
def document_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove a document; its file goes once the delete commits."""
    document = _document(request, pk, write=True)
    document._history_user = request.user
    with transaction.atomic():
        document.delete()
    messages.success(request, f"Removed “{document.title}”.")
    if document.call_line_id is not None:
        return redirect(safe_next(request) or reverse("capital_call_detail", args=[document.call_line.call_id]))
    lp_id = document.lp_id or Commitment.objects.values_list("lp_id", flat=True).get(pk=document.commitment_id)
    return redirect(safe_next(request) or reverse("lp_detail", args=[lp_id]))
