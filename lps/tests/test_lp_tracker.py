"""The LP tracker: summary cards, the commitments table, check toggles, commitment and profile forms."""

from __future__ import annotations

import datetime
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from contacts.models import ContactType, OrganizationType
from crm.testing.factories import comm, commitment, contact, fund, lp, opportunity, org, stage
from lps.models import Commitment, CommitmentStatus, LPProfile

LIST = reverse("lp_list")


def text(response) -> str:
    return response.content.decode()


def kpi(html: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}">([^<]+)<', html)
    assert match, f"no {name} figure"
    return match.group(1)


@pytest.fixture
def funds(db):
    return fund("Fund I", vintage_year=2020, status="closed"), fund("Fund II", vintage_year=2025)


# --- Summary cards ----------------------------------------------------------------------------


def test_summary_counts_hard_circles_and_beyond_as_committed_and_soft_circles_apart(member_client, funds):
    fund_one, fund_two = funds
    commitment(lp(), fund_one, "10000000", status=CommitmentStatus.CLOSED, funded_amount=Decimal("10000000"))
    commitment(lp(), fund_one, "6000000", status=CommitmentStatus.HARD_CIRCLE, funded_amount=Decimal("1500000"))
    commitment(lp(), fund_one, "4000000", status=CommitmentStatus.SOFT_CIRCLE)
    commitment(lp(), fund_two, "2000000", status=CommitmentStatus.SIGNED)
    html = text(member_client.get(LIST, {"fund": fund_one.pk}))
    assert kpi(html, "committed") == "$16M"
    assert kpi(html, "funded") == "$11.5M"
    assert kpi(html, "unfunded") == "$4.5M"
    assert kpi(html, "average") == "$8M"
    assert kpi(html, "lps") == "2"
    assert kpi(html, "soft") == "$4M"
    everything = text(member_client.get(LIST))
    assert kpi(everything, "committed") == "$18M" and kpi(everything, "lps") == "3"


def test_summary_follows_the_other_filters_too(member_client, funds):
    fund_one, _ = funds
    commitment(lp(investor_type=OrganizationType.PENSION), fund_one, "20000000")
    commitment(lp(investor_type=OrganizationType.ENDOWMENT), fund_one, "5000000")
    html = text(member_client.get(LIST, {"investor_type": OrganizationType.PENSION}, headers=HX))
    assert kpi(html, "committed") == "$20M" and kpi(html, "lps") == "1"


def test_tracker_answers_the_fragment_to_htmx(member_client, funds):
    commitment(lp(contact("Haddad", first_name="Amira")), funds[0])
    fragment = text(member_client.get(LIST, headers=HX))
    assert fragment.lstrip().startswith('<div id="lp-tracker"') and "<html" not in fragment
    assert "Amira Haddad" in fragment and 'data-kpi="committed"' in fragment
    assert "<html" in text(member_client.get(LIST))


# --- Table, filters, sorting -------------------------------------------------------------------


def test_table_shows_the_listed_columns(member_client, funds):
    atlas = org("Atlas Family Office")
    profile = lp(
        contact("Vance", first_name="Eleanor", organization=atlas), investor_type=OrganizationType.FAMILY_OFFICE
    )
    commitment(
        profile,
        funds[0],
        "8000000",
        funded_amount=Decimal("2000000"),
        commitment_date=datetime.date(2021, 2, 10),
        legal_docs_signed=True,
    )
    html = text(member_client.get(LIST))
    for expected in ("Eleanor Vance", "Atlas Family Office", "Family office", "Fund I", "$8,000,000", "$2,000,000"):
        assert expected in html
    assert "25%" in html and "Feb 10, 2021" in html
    assert "Legal docs signed for Eleanor Vance, Fund I: yes" not in html  # members see static marks
    assert "Legal docs signed: yes" in html and "Wire received: no" in html


@pytest.mark.parametrize(
    ("missing", "flags"),
    [
        ("docs", {"legal_docs_signed": False}),
        ("wire", {"wire_received": False}),
        ("k1", {"k1_sent": False}),
    ],
)
def test_missing_paperwork_filters(member_client, funds, missing, flags):
    complete = {"legal_docs_signed": True, "wire_received": True, "k1_sent": True}
    commitment(lp(contact("Complete")), funds[0], **complete)
    commitment(lp(contact("Incomplete")), funds[0], **{**complete, **flags})
    html = text(member_client.get(LIST, {"missing": missing}, headers=HX))
    assert "Incomplete" in html and "Ada" in html
    assert "Complete</a>" not in html.replace("Incomplete</a>", "")


def test_missing_accreditation_filter(member_client, funds):
    commitment(lp(contact("Accredited"), accredited=True), funds[0])
    commitment(lp(contact("Unverified"), accredited=False), funds[0])
    html = text(member_client.get(LIST, {"missing": "accredited"}, headers=HX))
    assert "Unverified" in html and "Accredited</a>" not in html


def test_fund_investor_type_status_and_text_filters(member_client, funds):
    fund_one, fund_two = funds
    commitment(lp(contact("Pension", organization=org("Northeast Pension")), investor_type="pension"), fund_one)
    commitment(lp(contact("Endow"), investor_type="endowment"), fund_two, status=CommitmentStatus.SOFT_CIRCLE)
    assert "Endow" not in text(member_client.get(LIST, {"fund": fund_one.pk}, headers=HX))
    assert "Pension" not in text(member_client.get(LIST, {"investor_type": "endowment"}, headers=HX))
    assert "Pension</a>" not in text(member_client.get(LIST, {"status": "soft_circle"}, headers=HX))
    by_org = text(member_client.get(LIST, {"q": "northeast"}, headers=HX))
    assert "Pension</a>" in by_org and "Endow" not in by_org


def test_sorting_by_committed_and_by_percent_funded(member_client, funds):
    commitment(lp(contact("Small")), funds[0], "1000000", funded_amount=Decimal("1000000"))
    commitment(lp(contact("Large")), funds[0], "9000000", funded_amount=Decimal("900000"))
    by_amount = text(member_client.get(LIST, {"o": "-committed"}, headers=HX))
    assert by_amount.index("Large</a>") < by_amount.index("Small</a>")
    by_percent = text(member_client.get(LIST, {"o": "-percent"}, headers=HX))
    assert by_percent.index("Small</a>") < by_percent.index("Large</a>")


def test_tracker_runs_a_fixed_number_of_queries(manager_client, funds):
    def queries_with(n: int) -> int:
        for _ in range(n):
            commitment(lp(contact(organization=org())), funds[0], wire_received=True)
        with CaptureQueriesContext(connection) as ctx:
            response = manager_client.get(LIST, {"fund": funds[0].pk, "o": "-committed"})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    small = queries_with(2)
    assert small == queries_with(30)
    assert small <= 10  # 9, and the sidebar's saved views


# --- Check toggles ------------------------------------------------------------------------------


def test_manager_toggles_wire_received_in_place_with_history(manager_client, manager_user, funds):
    item = commitment(lp(), funds[0], wire_received=False)
    url = reverse("commitment_toggle", args=[item.pk])
    response = manager_client.post(url, {"field": "wire_received"}, headers=HX)
    assert response.status_code == 200
    html = text(response)
    assert html.startswith(f'<form class="mark-toggle" id="check-{item.pk}-wire_received"')
    assert 'aria-pressed="true"' in html
    item.refresh_from_db()
    assert item.wire_received and item.wire_date == timezone.localdate()
    record = item.history.first()
    assert record.history_user == manager_user and record.wire_received
    assert timezone.now() - record.history_date < datetime.timedelta(minutes=1)
    # And back: cleared, with its own history row; the date recorded stays.
    manager_client.post(url, {"field": "wire_received"}, headers=HX)
    item.refresh_from_db()
    assert not item.wire_received
    assert [h.wire_received for h in item.history.order_by("history_date")] == [False, True, False]


def test_toggle_without_htmx_redirects_back(manager_client, manager_user, funds):
    item = commitment(lp(), funds[0])
    response = manager_client.post(
        reverse("commitment_toggle", args=[item.pk]), {"field": "k1_sent", "next": f"{LIST}?fund={funds[0].pk}"}
    )
    assert response.status_code == 302 and response["Location"] == f"{LIST}?fund={funds[0].pk}"
    item = Commitment.objects.for_tracker().get(pk=item.pk)
    assert item.k1_sent
    delivery = item.k1_deliveries.get()
    assert delivery.sent_on == timezone.localdate() and delivery.history.get().history_user == manager_user


def test_toggling_accredited_changes_the_lp_profile(manager_client, manager_user, funds):
    profile = lp(accredited=False)
    item = commitment(profile, funds[0])
    response = manager_client.post(reverse("commitment_toggle", args=[item.pk]), {"field": "accredited"}, headers=HX)
    profile.refresh_from_db()
    assert profile.accredited and profile.history.first().history_user == manager_user
    assert "commitmentsChanged" in response["HX-Trigger"]  # the LP's other rows show it too


def test_member_cannot_toggle_checks(member_client, funds):
    item = commitment(lp(), funds[0], legal_docs_signed=False)
    response = member_client.post(
        reverse("commitment_toggle", args=[item.pk]), {"field": "legal_docs_signed"}, headers=HX
    )
    assert response.status_code == 403
    item.refresh_from_db()
    assert not item.legal_docs_signed and item.history.count() == 1


def test_toggle_refuses_unknown_fields_and_get(manager_client, funds):
    item = commitment(lp(), funds[0])
    url = reverse("commitment_toggle", args=[item.pk])
    assert manager_client.post(url, {"field": "commitment_amount"}).status_code == 400
    assert manager_client.get(url).status_code == 405
    assert manager_client.post(reverse("commitment_toggle", args=[999999]), {"field": "k1_sent"}).status_code == 404


def test_managers_get_toggle_buttons_and_members_static_marks(client, manager_user, member_user, funds):
    commitment(lp(), funds[0])
    client.force_login(manager_user)
    assert 'class="mark-toggle"' in text(client.get(LIST))
    client.force_login(member_user)
    html = text(client.get(LIST))
    assert 'class="mark-toggle"' not in html and "mark--static" in html
    assert reverse("commitment_edit", args=[Commitment.objects.get().pk]) not in html


# --- Commitment forms ---------------------------------------------------------------------------


def test_manager_edits_a_commitment_in_the_modal(manager_client, manager_user, funds):
    item = commitment(lp(), funds[0], "5000000")
    url = reverse("commitment_edit", args=[item.pk])
    form = text(manager_client.get(url, headers=HX))
    assert form.lstrip().startswith('<div id="commitment-form"') and 'value="5000000.00"' in form
    data = {
        "status": CommitmentStatus.CLOSED,
        "commitment_amount": "6000000",
        "funded_amount": "3000000",
        "commitment_date": "2024-05-01",
        "wire_received": "on",
        "wire_date": "2024-06-01",
        "notes": "<script>x</script>",
    }
    response = manager_client.post(url, data, headers=HX)
    assert "closeDialog" in response["HX-Trigger"] and "commitmentsChanged" in response["HX-Trigger"]
    item.refresh_from_db()
    assert item.commitment_amount == Decimal("6000000") and item.wire_received and item.fund == funds[0]
    assert item.history.first().history_user == manager_user


def test_commitment_edit_refuses_funded_above_committed_and_bad_numbers(manager_client, funds):
    item = commitment(lp(), funds[0], "5000000")
    url = reverse("commitment_edit", args=[item.pk])
    base = {"status": CommitmentStatus.SIGNED, "commitment_amount": "1000000", "funded_amount": "2000000"}
    response = manager_client.post(url, base, headers=HX)
    assert response.status_code == 200 and "Funded cannot exceed the commitment." in text(response)
    response = manager_client.post(url, {**base, "commitment_amount": "lots", "commitment_date": "31/12/2024"})
    html = text(response)
    assert "Enter an amount in dollars" in html and "Enter a date like 2025-03-14." in html
    response = manager_client.post(url, {**base, "commitment_amount": "1" * 20, "funded_amount": "0"})
    assert "Ensure that there are no more than" in text(response)
    item.refresh_from_db()
    assert item.commitment_amount == Decimal("5000000")


def test_member_cannot_edit_or_add_commitments(member_client, funds):
    profile = lp()
    item = commitment(profile, funds[0])
    assert member_client.get(reverse("commitment_edit", args=[item.pk])).status_code == 403
    assert member_client.post(reverse("commitment_create", args=[profile.pk]), {}).status_code == 403


def test_manager_adds_a_commitment_but_not_a_second_to_the_same_fund(manager_client, funds):
    profile = lp()
    url = reverse("commitment_create", args=[profile.pk])
    data = {
        "fund": funds[1].pk,
        "status": CommitmentStatus.SOFT_CIRCLE,
        "commitment_amount": "3000000",
        "funded_amount": "0",
    }
    response = manager_client.post(url, data)
    assert response.status_code == 302 and response["Location"] == reverse("lp_detail", args=[profile.pk])
    assert profile.commitments.get().status == CommitmentStatus.SOFT_CIRCLE
    again = manager_client.post(url, data, headers=HX)
    assert again.status_code == 200 and "already has a commitment to Fund II" in text(again)
    assert profile.commitments.count() == 1


# --- LP profiles ---------------------------------------------------------------------------------


def test_creating_an_lp_profile_makes_the_contact_an_investor(manager_client, manager_user):
    person = contact("Park", first_name="Helen", contact_type=ContactType.PROSPECT)
    url = f"{reverse('lp_create')}?contact={person.pk}"
    form = text(manager_client.get(url, headers=HX))
    assert f"Make {person.full_name} an LP" in form
    response = manager_client.post(url, {"investor_type": OrganizationType.INDIVIDUAL, "accredited": "on"})
    profile = LPProfile.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("lp_detail", args=[profile.pk])
    person.refresh_from_db()
    assert person.contact_type == ContactType.INVESTOR and profile.accredited
    assert profile.history.get().history_user == manager_user
    assert person.history.first().history_user == manager_user


def test_lp_create_with_the_picker_and_bad_input(member_client):
    person = contact("Whitfield", first_name="James")
    url = reverse("lp_create")
    missing = member_client.post(url, {"investor_type": "pension"}, headers=HX)
    assert missing.status_code == 200 and "Choose the contact who invests." in text(missing)
    bad_type = member_client.post(url, {"contact": person.pk, "investor_type": "<script>"}, headers=HX)
    assert "Select a valid choice" in text(bad_type)
    response = member_client.post(url, {"contact_search": "james whitfield", "investor_type": "foundation"}, headers=HX)
    assert "commitmentsChanged" in response["HX-Trigger"] and '<article id="lp-panel"' in text(response)
    assert LPProfile.objects.get().contact == person


def test_lp_create_for_a_contact_who_is_already_an_lp_goes_to_the_profile(member_client):
    profile = lp()
    response = member_client.get(f"{reverse('lp_create')}?contact={profile.contact_id}")
    assert response.status_code == 302 and response["Location"] == reverse("lp_detail", args=[profile.pk])
    response = member_client.post(reverse("lp_create"), {"contact": profile.contact_id, "investor_type": "pension"})
    assert response.status_code == 200 and LPProfile.objects.count() == 1


def test_member_edits_an_lp_profile(member_client, member_user):
    profile = lp(investor_type=OrganizationType.INDIVIDUAL)
    url = reverse("lp_edit", args=[profile.pk])
    assert 'name="contact"' not in text(member_client.get(url, headers=HX))
    member_client.post(url, {"investor_type": OrganizationType.FOUNDATION, "notes": "Prefers calls"})
    profile.refresh_from_db()
    assert profile.investor_type == OrganizationType.FOUNDATION and profile.notes == "Prefers calls"


def test_lp_profile_shows_commitments_timeline_and_open_opportunities(member_client, funds):
    fund_one, fund_two = funds
    person = contact("Haddad", first_name="Amira")
    profile = lp(person)
    commitment(profile, fund_one, "25000000", status=CommitmentStatus.CLOSED, funded_amount=Decimal("25000000"))
    commitment(profile, fund_two, "5000000", status=CommitmentStatus.SOFT_CIRCLE)
    comm(person, subject="Due diligence session")
    opportunity(person, fund_two, stage("Due diligence"), name="Amira into Fund II")
    opportunity(person, fund_one, stage("Passed"), name="Lost deal")
    url = reverse("lp_detail", args=[profile.pk])
    panel = text(member_client.get(url, headers=HX))
    assert panel.lstrip().startswith('<article id="lp-panel"') and "<html" not in panel
    for expected in ("Fund I", "Fund II", "$25,000,000", "Soft circle", "Due diligence session", "Amira into Fund II"):
        assert expected in panel
    assert "Lost deal" not in panel
    assert "<html" in text(member_client.get(url))


def test_lp_profile_runs_a_fixed_number_of_queries(member_client, funds):
    profile = lp()

    def queries_with(n: int) -> int:
        for i in range(n):
            comm(profile.contact, subject=f"Touch {i}")
            opportunity(profile.contact, funds[1])
        with CaptureQueriesContext(connection) as ctx:
            member_client.get(reverse("lp_detail", args=[profile.pk]))
        return len(ctx.captured_queries)

    commitment(profile, funds[0])
    assert queries_with(1) == queries_with(15)


def test_missing_lp_is_404(member_client):
    assert member_client.get(reverse("lp_detail", args=[424242])).status_code == 404


# --- Export --------------------------------------------------------------------------------------


def test_manager_exports_the_filtered_commitments(manager_client, funds):
    commitment(lp(contact("Okafor", first_name="Daniel")), funds[0], "20000000", wire_received=True)
    commitment(lp(contact("Other")), funds[1], "1000000")
    response = manager_client.get(reverse("commitment_export"), {"fund": funds[0].pk})
    body = b"".join(response.streaming_content).decode("utf-8-sig").strip().splitlines()
    assert body[0].startswith("LP,Email,Organization,Investor type,Fund,Investing entity,Status,Committed")
    assert len(body) == 2 and "Daniel Okafor" in body[1] and "20000000" in body[1]
    xlsx = manager_client.get(reverse("commitment_export"), {"format": "xlsx"})
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.values)
    assert len(rows) == 3 and isinstance(rows[1][7], (int, float))  # a number, not text


def test_member_cannot_export_commitments(member_client):
    assert member_client.get(reverse("commitment_export")).status_code == 403
