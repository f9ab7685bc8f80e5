"""The commitment ladder: every level a commitment reached keeps its own amount and date.

An LP who soft-circles $5M and signs $3M leaves both on record, so slippage between levels
is visible, while totals use the level reached now (the commitment's amount).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.imports import writer
from crm.testing.factories import commitment, contact, lp
from crm.testing.migrations import migrate_back_to, migrate_forward
from lps.models import Commitment, CommitmentStatus

S, H, SIGNED, CLOSED, W = (
    CommitmentStatus.SOFT_CIRCLE,
    CommitmentStatus.HARD_CIRCLE,
    CommitmentStatus.SIGNED,
    CommitmentStatus.CLOSED,
    CommitmentStatus.WITHDRAWN,
)


def rungs(c: Commitment) -> dict[str, tuple[Decimal | None, datetime.date | None]]:
    c.refresh_from_db()
    return {rung.status: (rung.amount, rung.date) for rung in c.ladder}


def move(c: Commitment, status: str, amount: str) -> None:
    c.status, c.commitment_amount = status, Decimal(amount)
    c.save()


def test_moving_up_the_ladder_keeps_each_lower_levels_amount(ada, fund_two):
    c = commitment(ada, fund_two, "5000000", status=S)
    move(c, H, "4000000")
    move(c, SIGNED, "3000000")
    ladder = rungs(c)
    assert ladder[S] == (Decimal("5000000"), None)  # entered without a date: when is unknown
    assert ladder[H] == (Decimal("4000000"), timezone.localdate())
    assert ladder[SIGNED] == (Decimal("3000000"), timezone.localdate())
    assert ladder[CLOSED] == (None, None)
    # Totals use the level reached now.
    assert Commitment.objects.filter(pk=c.pk).totals()["committed"] == Decimal("3000000")


def test_revising_the_amount_at_the_same_level_changes_only_that_level(ada, fund_two):
    c = commitment(ada, fund_two, "5000000", status=S)
    move(c, H, "4000000")
    move(c, H, "3500000")
    assert rungs(c)[S][0] == Decimal("5000000")
    assert rungs(c)[H][0] == Decimal("3500000")


def test_a_commitment_entered_as_signed_reached_the_levels_below_at_its_amount_and_date(ada, fund_two):
    c = commitment(ada, fund_two, "2000000", status=SIGNED, commitment_date=datetime.date(2025, 3, 1))
    ladder = rungs(c)
    assert ladder[S] == ladder[H] == ladder[SIGNED] == (Decimal("2000000"), datetime.date(2025, 3, 1))


def test_the_signed_level_takes_the_documents_signed_date(ada, fund_two):
    c = commitment(ada, fund_two, "2000000", status=S)
    assert rungs(c)[S] == (Decimal("2000000"), None)
    c.status, c.signed_date = SIGNED, datetime.date(2026, 1, 15)
    c.save()
    ladder = rungs(c)
    assert ladder[SIGNED] == (Decimal("2000000"), datetime.date(2026, 1, 15))
    assert ladder[S] == (Decimal("2000000"), None)
    assert ladder[H] == (Decimal("2000000"), datetime.date(2026, 1, 15))


def test_moving_back_down_is_a_correction_that_clears_the_levels_above(ada, fund_two):
    c = commitment(ada, fund_two, "5000000", status=S)
    move(c, SIGNED, "3000000")
    move(c, H, "3000000")
    ladder = rungs(c)
    assert ladder[SIGNED][0] is None
    assert ladder[H][0] == Decimal("3000000")
    assert ladder[S][0] == Decimal("5000000")


def test_a_withdrawal_keeps_how_far_the_lp_got_and_when_they_left(ada, fund_two):
    c = commitment(ada, fund_two, "5000000", status=S)
    move(c, H, "4000000")
    c.status, c.withdrawn_reason = W, "Allocation cut"
    c.save()
    ladder = rungs(c)
    assert ladder[S][0] == Decimal("5000000")
    assert ladder[H][0] == Decimal("4000000")
    assert (c.withdrawn_date, c.withdrawn_reason) == (timezone.localdate(), "Allocation cut")
    assert rungs(c)[H][1] == timezone.localdate()
    assert Commitment.objects.filter(pk=c.pk).totals()["committed"] == 0
    # Reinstated: the withdrawal is no longer current (its history keeps it).
    move(c, H, "4000000")
    c.refresh_from_db()
    assert (c.withdrawn_date, c.withdrawn_reason) == (None, "")
    assert c.history.filter(withdrawn_reason="Allocation cut").exists()


def test_each_level_reached_is_in_the_commitments_history(ada, fund_two):
    c = commitment(ada, fund_two, "5000000", status=S)
    move(c, H, "4000000")
    latest = c.history.order_by("-history_id").first()
    assert (latest.soft_amount, latest.hard_amount) == (Decimal("5000000"), Decimal("4000000"))


def test_the_imports_bulk_writer_climbs_the_ladder_as_save_does(ada, fund_two):
    created = Commitment(lp=ada, fund=fund_two, status=SIGNED, commitment_amount=Decimal("750000"))
    writer._prepare(created, writer.timezone.now(), None)
    assert (created.soft_amount, created.hard_amount, created.signed_amount) == (Decimal("750000"),) * 3
    existing = commitment(ada, fund_two, "1000000", status=S, investing_entity="Trust")
    existing.status, existing.commitment_amount = H, Decimal("800000")
    writer._prepare(existing, writer.timezone.now(), {"status": S})
    assert (existing.soft_amount, existing.hard_amount) == (Decimal("1000000"), Decimal("800000"))


def test_ladder_totals_count_and_sum_each_level_in_one_query(ada, fund_two, django_assert_num_queries):
    bob = lp(contact("Okafor", first_name="Bob"))
    cy = lp(contact("Tan", first_name="Cy"))
    first = commitment(ada, fund_two, "5000000", status=S)
    move(first, SIGNED, "3000000")
    commitment(bob, fund_two, "2000000", status=S)
    gone = commitment(cy, fund_two, "1000000", status=H)
    gone.status, gone.withdrawn_reason = W, "Timing"
    gone.save()
    with django_assert_num_queries(1):
        totals = Commitment.objects.filter(fund=fund_two).ladder_totals()
    assert (totals["soft_circle_count"], totals["soft_circle_amount"]) == (3, Decimal("8000000"))
    assert (totals["hard_circle_count"], totals["hard_circle_amount"]) == (2, Decimal("4000000"))
    assert (totals["signed_count"], totals["signed_amount"]) == (1, Decimal("3000000"))
    assert (totals["closed_count"], totals["closed_amount"]) == (0, Decimal("0"))
    assert (totals["withdrawn_count"], totals["withdrawn_amount"]) == (1, Decimal("1000000"))


# --- The form ---------------------------------------------------------------------------------


def form_data(c: Commitment, **changes) -> dict:
    data = {
        "fund": c.fund_id,
        "investing_entity": c.investing_entity,
        "status": c.status,
        "commitment_amount": str(c.commitment_amount),
        "funded_amount": "0",
        "soft_amount": "" if c.soft_amount is None else str(c.soft_amount),
        "hard_amount": "" if c.hard_amount is None else str(c.hard_amount),
    }
    return {**data, **changes}


def test_withdrawing_in_the_form_asks_why(manager_client, ada, fund_two):
    c = commitment(ada, fund_two, "5000000", status=H)
    url = reverse("commitment_edit", args=[c.pk])
    response = manager_client.post(url, form_data(c, status=W))
    assert response.status_code == 200
    assert "Say why the LP withdrew or declined" in response.content.decode()
    c.refresh_from_db()
    assert c.status == H
    response = manager_client.post(url, form_data(c, status=W, withdrawn_reason="Fund size"))
    assert response.status_code in (200, 302)
    c.refresh_from_db()
    assert (c.status, c.withdrawn_reason, c.hard_amount) == (W, "Fund size", Decimal("5000000"))


def test_an_earlier_level_typed_in_the_form_is_kept_when_the_commitment_moves_up(manager_client, ada, fund_two):
    c = commitment(ada, fund_two, "3000000", status=H, soft_amount=Decimal("5000000"))
    manager_client.post(
        reverse("commitment_edit", args=[c.pk]), form_data(c, status=SIGNED, commitment_amount="2500000")
    )
    ladder = rungs(c)
    assert (ladder[S][0], ladder[H][0], ladder[SIGNED][0]) == (
        Decimal("5000000"),
        Decimal("3000000"),
        Decimal("2500000"),
    )


def test_the_lp_page_shows_each_level_reached(manager_client, ada, fund_two):
    c = commitment(ada, fund_two, "5000000", status=S)
    move(c, SIGNED, "3000000")
    html = manager_client.get(reverse("lp_detail", args=[ada.pk])).content.decode()
    assert 'class="ladder"' in html
    assert "Soft circle" in html and "$5" in html and "$3" in html


# --- The migration ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_todays_status_and_amount_the_matching_level():
    old = migrate_back_to("lps", "0005_investor_type_is_organization_type")
    OldFund, OldContact = old.get_model("lps", "Fund"), old.get_model("contacts", "Contact")
    OldLP, OldCommitment = old.get_model("lps", "LPProfile"), old.get_model("lps", "Commitment")
    f = OldFund.objects.create(name="Fund I")
    made = {}
    for status, day in ((S, None), (H, datetime.date(2024, 5, 1)), (SIGNED, None), (CLOSED, None), (W, None)):
        person = OldContact.objects.create(first_name=status, last_name="LP")
        made[status] = OldCommitment.objects.create(
            lp=OldLP.objects.create(contact=person),
            fund=f,
            status=status,
            commitment_amount=Decimal("1000000"),
            commitment_date=day,
            signed_date=datetime.date(2024, 6, 1) if status in (SIGNED, CLOSED) else None,
        ).pk
    migrate_forward()
    got = {status: Commitment.objects.get(pk=pk) for status, pk in made.items()}
    million = Decimal("1000000")
    assert (got[S].soft_amount, got[S].hard_amount, got[S].soft_date) == (million, None, None)
    assert (got[H].soft_amount, got[H].hard_amount, got[H].signed_amount) == (million, million, None)
    assert got[H].hard_date == datetime.date(2024, 5, 1)
    assert (got[SIGNED].hard_amount, got[SIGNED].signed_amount, got[SIGNED].signed_date) == (
        million,
        million,
        datetime.date(2024, 6, 1),
    )
    assert got[SIGNED].soft_date == datetime.date(2024, 6, 1)
    assert (got[CLOSED].signed_amount, got[CLOSED].closed_amount) == (million, million)
    assert (got[W].soft_amount, got[W].hard_amount, got[W].status) == (million, None, W)
