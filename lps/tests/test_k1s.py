"""K-1s per tax year (issue 16): one delivery per commitment and year, the fund's K-1 page, and
lps 0012, which turned the single "K-1 sent" tick into the latest tax year's delivery."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.testing.factories import commitment, contact, lp
from crm.testing.migrations import migrate_back_to, migrate_forward
from lps.models import Commitment, CommitmentStatus, K1Delivery, latest_tax_year

CLOSED = CommitmentStatus.CLOSED


def _post(commitment_pk: int, **values: str) -> dict:
    return {f"k1-{commitment_pk}-{key}": value for key, value in values.items()}


def test_the_latest_tax_year_is_the_year_before_today():
    assert latest_tax_year(datetime.date(2026, 1, 2)) == 2025
    assert latest_tax_year(datetime.date(2026, 12, 31)) == 2025


def test_the_k1_page_lists_every_admitted_commitment_and_who_is_missing_one(member_client, fund_two):
    sent = commitment(lp(contact("Sent")), fund_two, status=CLOSED)
    prepared = commitment(lp(contact("Prepared")), fund_two, status=CLOSED)
    commitment(lp(contact("Missing")), fund_two, status=CLOSED)
    commitment(lp(contact("Signedonly")), fund_two, status=CommitmentStatus.SIGNED)  # not admitted: owes none
    year = latest_tax_year()
    K1Delivery.objects.create(commitment=sent, tax_year=year, prepared_on="2026-03-01", sent_on="2026-03-10")
    K1Delivery.objects.create(commitment=prepared, tax_year=year, prepared_on="2026-03-01")
    K1Delivery.objects.create(commitment=prepared, tax_year=year - 1, sent_on="2025-03-01")  # another year

    html = member_client.get(reverse("k1_status", args=[fund_two.pk]), {"year": str(year)}).content.decode()

    assert 'data-figure="sent">1<' in html and 'data-figure="prepared">1<' in html
    assert 'data-figure="missing">1<' in html
    assert "Signedonly" not in html
    assert 'data-k1-status="missing"' in html
    assert "k1-form-" not in html  # members read; only managers get the forms


def test_a_year_outside_the_funds_years_shows_the_latest(member_client, fund_two):
    response = member_client.get(reverse("k1_status", args=[fund_two.pk]), {"year": "1850"})
    assert response.status_code == 200
    assert f"Tax year {latest_tax_year()}" in response.content.decode()


def test_a_manager_records_a_k1_as_sent_with_history(manager_client, manager_user, fund_two):
    item = commitment(lp(), fund_two, status=CLOSED)
    response = manager_client.post(
        reverse("k1_record", args=[item.pk]),
        _post(item.pk, tax_year="2024", prepared_on="2025-03-01", sent_on="2025-03-05", method="portal"),
    )
    assert response.status_code == 302 and response["Location"].endswith("?year=2024")
    delivery = K1Delivery.objects.get(commitment=item, tax_year=2024)
    assert (delivery.sent_on, delivery.method) == (datetime.date(2025, 3, 5), "portal")
    assert delivery.history.get().history_user == manager_user

    # The page posts every field: clearing the sent date keeps it prepared.
    manager_client.post(
        reverse("k1_record", args=[item.pk]), _post(item.pk, tax_year="2024", prepared_on="2025-03-01", sent_on="")
    )
    delivery.refresh_from_db()
    assert delivery.sent_on is None and delivery.prepared_on == datetime.date(2025, 3, 1)
    assert K1Delivery.objects.filter(commitment=item).count() == 1  # one per commitment and year
    assert delivery.history.count() == 2


def test_a_k1_sent_before_it_was_prepared_is_refused_with_a_field_error(manager_client, fund_two):
    item = commitment(lp(), fund_two, status=CLOSED)
    response = manager_client.post(
        reverse("k1_record", args=[item.pk]),
        _post(item.pk, tax_year=str(latest_tax_year()), prepared_on="2026-03-10", sent_on="2026-03-01"),
    )
    assert response.status_code == 400
    assert "cannot be sent before it is prepared" in response.content.decode()
    assert not K1Delivery.objects.exists()


def test_a_member_cannot_record_a_k1(member_client, fund_two):
    item = commitment(lp(), fund_two, status=CLOSED)
    response = member_client.post(
        reverse("k1_record", args=[item.pk]), _post(item.pk, tax_year="2024", sent_on="2025-03-05")
    )
    assert response.status_code == 403
    assert not K1Delivery.objects.exists()


def test_the_tracker_k1_mark_is_the_latest_tax_years_delivery(manager_client, fund_two):
    item = commitment(lp(), fund_two, status=CLOSED)
    K1Delivery.objects.create(commitment=item, tax_year=latest_tax_year() - 1, sent_on="2024-03-01")
    assert not Commitment.objects.for_tracker().get(pk=item.pk).k1_sent  # an older year's K-1 is not this year's
    manager_client.post(reverse("commitment_toggle", args=[item.pk]), {"field": "k1_sent"})
    assert Commitment.objects.for_tracker().get(pk=item.pk).k1_sent
    manager_client.post(reverse("commitment_toggle", args=[item.pk]), {"field": "k1_sent"})
    assert not Commitment.objects.for_tracker().get(pk=item.pk).k1_sent
    assert K1Delivery.objects.filter(commitment=item).count() == 2  # the older one untouched


def test_the_k1_page_runs_the_same_queries_for_two_and_twelve_lps(manager_client, fund_two):
    def queries_with(count: int) -> int:
        for _ in range(count - Commitment.objects.filter(fund=fund_two).count()):
            made = commitment(lp(), fund_two, status=CLOSED)
            K1Delivery.objects.create(commitment=made, tax_year=latest_tax_year(), prepared_on=timezone.localdate())
        with CaptureQueriesContext(connection) as ctx:
            response = manager_client.get(reverse("k1_status", args=[fund_two.pk]))
        assert response.content.decode().count('data-k1-status="prepared"') == count
        return len(ctx.captured_queries)

    assert queries_with(2) == queries_with(12)


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_the_k1_tick_into_the_latest_tax_years_delivery():
    old = migrate_back_to("lps", "0011_side_letters")
    OldFund, OldContact = old.get_model("lps", "Fund"), old.get_model("contacts", "Contact")
    OldLP, OldCommitment = old.get_model("lps", "LPProfile"), old.get_model("lps", "Commitment")
    f = OldFund.objects.create(name="Fund I")
    made = {}
    for name, ticked in (("Ticked", True), ("Unticked", False)):
        person = OldLP.objects.create(contact=OldContact.objects.create(first_name=name, last_name="X"))
        made[name] = OldCommitment.objects.create(
            lp=person, fund=f, status="closed", commitment_amount=1000, k1_sent=ticked
        ).pk
    migrate_forward()
    delivery = K1Delivery.objects.get()
    assert delivery.commitment_id == made["Ticked"]
    assert delivery.tax_year == datetime.date.today().year - 1
    assert delivery.sent_on is not None and delivery.prepared_on == delivery.sent_on
    assert Commitment.objects.for_tracker().get(pk=made["Ticked"]).k1_sent
    assert not Commitment.objects.for_tracker().get(pk=made["Unticked"]).k1_sent

    # And back: the delivery is the tick again.
    old = migrate_back_to("lps", "0011_side_letters")
    assert old.get_model("lps", "Commitment").objects.get(pk=made["Ticked"]).k1_sent
    assert not old.get_model("lps", "Commitment").objects.get(pk=made["Unticked"]).k1_sent
    migrate_forward()
