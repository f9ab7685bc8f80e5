from django.contrib import admin

from crm.lib.admin import CRMRecordAdmin
from lps.models import (
    Close,
    Commitment,
    ComplianceCheck,
    Fund,
    K1Delivery,
    LPProfile,
    MFNElection,
    MFNRound,
    SideLetter,
    SideLetterProvision,
)


class CloseInline(admin.TabularInline):
    model = Close
    extra = 0
    fields = ("name", "date", "minimum_amount", "state")


@admin.register(Fund)
class FundAdmin(CRMRecordAdmin):
    list_display = ("name", "vintage_year", "status", "target_size", "hard_cap", "currency")
    list_filter = ("status",)
    search_fields = ("name",)
    inlines = [CloseInline]


class CommitmentInline(admin.TabularInline):
    model = Commitment
    extra = 0
    fields = (
        "fund",
        "investing_entity",
        "status",
        "commitment_amount",
        "funded_amount",
        "legal_docs_signed",
        "wire_received",
    )


class ComplianceCheckInline(admin.TabularInline):
    model = ComplianceCheck
    extra = 0
    fields = ("kind", "status", "verified_on", "expires_on")


@admin.register(LPProfile)
class LPProfileAdmin(CRMRecordAdmin):
    list_display = ("contact", "investor_type", "accredited", "qualified_purchaser")
    list_filter = ("investor_type", "accredited")
    search_fields = ("contact__first_name", "contact__last_name", "contact__email")
    autocomplete_fields = ("contact",)
    list_select_related = ("contact",)
    inlines = [ComplianceCheckInline, CommitmentInline]


@admin.register(Commitment)
class CommitmentAdmin(CRMRecordAdmin):
    list_display = (
        "lp",
        "fund",
        "investing_entity",
        "status",
        "commitment_amount",
        "funded_amount",
        "legal_docs_signed",
        "wire_received",
    )
    list_filter = ("fund", "status", "legal_docs_signed", "wire_received")
    search_fields = ("lp__contact__first_name", "lp__contact__last_name", "investing_entity")
    autocomplete_fields = ("lp",)
    list_select_related = ("lp__contact", "fund")


class ProvisionInline(admin.TabularInline):
    model = SideLetterProvision
    extra = 0
    fields = ("category", "text")


@admin.register(SideLetter)
class SideLetterAdmin(CRMRecordAdmin):
    list_display = ("commitment", "signed_date")
    list_filter = ("commitment__fund",)
    search_fields = ("commitment__lp__contact__first_name", "commitment__lp__contact__last_name")
    list_select_related = ("commitment__lp__contact", "commitment__fund")
    raw_id_fields = ("commitment",)
    inlines = [ProvisionInline]


class ElectionInline(admin.TabularInline):
    model = MFNElection
    extra = 0
    fields = ("commitment", "status", "decided_on")
    raw_id_fields = ("commitment",)


@admin.register(MFNRound)
class MFNRoundAdmin(CRMRecordAdmin):
    list_display = ("fund", "sent_date", "deadline")
    list_filter = ("fund",)
    inlines = [ElectionInline]


@admin.register(K1Delivery)
class K1DeliveryAdmin(CRMRecordAdmin):
    list_display = ("commitment", "tax_year", "prepared_on", "sent_on", "method")
    list_filter = ("tax_year", "method", "commitment__fund")
    search_fields = ("commitment__lp__contact__first_name", "commitment__lp__contact__last_name")
    autocomplete_fields = ("commitment",)
    list_select_related = ("commitment__lp__contact", "commitment__fund")
