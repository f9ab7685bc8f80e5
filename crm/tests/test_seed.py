"""seed_demo, seed_bulk and create_user: what they create, that re-runs are safe, and that history names a user."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Sum
from django.urls import reverse

from contacts.models import Communication, Contact, ContactType, Organization, Tag
from crm.demo.seed_demo import is_empty_database
from crm.models import Role, User
from lps import k1s
from lps.models import CallLine, Commitment, Document, Fund, LPProfile, ReupAsk, latest_tax_year
from pipeline.models import Opportunity, StageOutcome

pytestmark = pytest.mark.django_db

SEEDED_MODELS = [Tag, Organization, Contact, Fund, LPProfile, Commitment, Opportunity, Communication]
DEMO_TAGS = ["Family Office", "Fund I LP", "Fund II Prospect", "High Priority", "Institutional", "Re-up Target"]
STRONG_PASSWORD = "quiet-Harbor-lantern-57"


def run(command: str, *args: str, **options) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in [User, *SEEDED_MODELS]}


def history_counts() -> dict[str, int]:
    return {model.__name__: model.history.count() for model in [User, *SEEDED_MODELS]}


# --- seed_demo -----------------------------------------------------------------------------


def test_seed_demo_creates_the_demo_set():
    output = run("seed_demo")

    assert "Demo data loaded" in output
    assert Contact.objects.count() == 12
    assert Contact.objects.filter(contact_type=ContactType.INVESTOR).count() == 6
    assert Contact.objects.filter(contact_type=ContactType.PROSPECT).count() == 6
    assert Organization.objects.count() == 8
    assert sorted(Tag.objects.values_list("name", flat=True)) == DEMO_TAGS
    assert Tag.objects.values("colour").distinct().count() == 6
    assert LPProfile.objects.count() == 6
    assert Communication.objects.count() == 9
    # Two emails as email capture stores them: an outbound letter and the reply threaded under it.
    reply = Communication.objects.get(message_id="<reply.q3-letter@atlasfamily.example>")
    assert reply.direction == "in" and reply.parent.message_id == "<q3-letter.vance@venture-crm.example>"
    assert set(Communication.objects.values_list("type", flat=True)) >= {"email", "call", "meeting", "note"}
    assert set(User.objects.values_list("username", "role")) == {("admin", Role.ADMIN), ("grant", Role.ADMIN)}
    assert User.objects.get(username="admin").check_password("admin123")
    assert User.objects.get(username="grant").check_password("password")


def test_seed_demo_fund_one_is_83m_committed_and_funded_by_its_six_lps():
    run("seed_demo")

    totals = Commitment.objects.filter(fund__name="Fund I").totals()

    assert totals["committed"] == Decimal("83000000")
    assert totals["funded"] == Decimal("83000000")
    assert totals["soft_circled"] == Decimal("0")
    assert Commitment.objects.filter(fund__name="Fund I", status="closed").count() == 6
    # Paid in through three capital calls, each line received in full.
    fund_one = Fund.objects.get(name="Fund I")
    assert list(fund_one.capital_calls.values_list("number", "percent")) == [
        (1, Decimal("40")),
        (2, Decimal("35")),
        (3, Decimal("25")),
    ]
    lines = CallLine.objects.filter(call__fund=fund_one).aggregate(called=Sum("amount"), paid=Sum("received_amount"))
    assert lines == {"called": Decimal("83000000"), "paid": Decimal("83000000")}


def test_seed_demo_has_two_fund_one_side_letters_an_open_mfn_round_and_a_check_expiring_soon(admin_client):
    from lps.models import ComplianceCheck, MFNRound, SideLetter

    run("seed_demo")

    assert SideLetter.objects.filter(commitment__fund__name="Fund I").count() == 2
    mfn_round = MFNRound.objects.get(fund__name="Fund I")
    assert sorted(mfn_round.elections.values_list("status", flat=True)) == ["elected", "pending"]
    assert ComplianceCheck.objects.filter(kind="accreditation", status="verified").count() == 6
    actions = admin_client.get(reverse("actions")).content.decode()
    assert "MFN election from Daniel Okafor" in actions and "9 days left" in actions
    assert "Renew KYC / AML: Marcus Chen" in actions
    assert "Demo data already present" in run("seed_demo")


def test_seed_demo_has_fund_ones_k1s_for_two_years_with_one_lp_missing_the_latest(admin_user):
    run("seed_demo")
    fund_one = Fund.objects.get(name="Fund I")
    latest = latest_tax_year()

    earlier = [row.status for row in k1s.k1_rows(fund_one, latest - 1, admin_user)]
    newest = [row.status for row in k1s.k1_rows(fund_one, latest, admin_user)]

    assert earlier == ["sent"] * 6
    assert sorted(newest) == ["missing"] + ["sent"] * 5


def test_seed_demo_attaches_two_small_generated_documents(admin_client):
    run("seed_demo")
    subscription, wire = Document.objects.order_by("pk")
    assert subscription.commitment is not None and subscription.content_type == "application/pdf"
    assert wire.call_line is not None and wire.content_type == "text/plain"
    response = admin_client.get(reverse("document_download", args=[subscription.pk]))
    assert b"".join(response.streaming_content).startswith(b"%PDF-1.4")
    run("seed_demo")
    assert Document.objects.count() == 2  # a second run adds none


def test_seed_demo_fund_two_has_closes_and_re_ups_at_every_level_of_the_ladder():
    run("seed_demo")

    fund_two = Fund.objects.get(name="Fund II")
    assert list(fund_two.closes.values_list("name", "state")) == [
        ("First close", "held"),
        ("Second close", "planned"),
        ("Final close", "planned"),
    ]
    re_ups = Commitment.objects.filter(fund=fund_two)
    assert set(re_ups.values_list("status", flat=True)) == {
        "soft_circle",
        "hard_circle",
        "signed",
        "closed",
        "withdrawn",
    }
    assert re_ups.filter(soft_amount__gt=F("commitment_amount")).count() >= 2  # soft circles that shrank
    assert re_ups.totals()["committed"] == Decimal("50000000")
    assert re_ups.get(status="withdrawn").withdrawn_reason


def test_seed_demo_gives_the_re_up_cockpit_asks_in_several_states(admin_client):
    run("seed_demo")

    assert ReupAsk.objects.filter(fund__name="Fund II").count() == 5
    data = admin_client.get(reverse("reup_list")).context["cockpit"]
    statuses = {row.contact.email: row.status for row in data.rows}
    assert len(statuses) == 6, "every Fund I LP is a prior LP of Fund II"
    assert set(statuses.values()) == {"asked", "soft", "hard", "signed", "declined"}
    assert statuses["marcus.chen@summitinsurance.example"] == "asked"
    assert data.prior_dollars == Decimal("83000000")
    assert data.reup_dollars == Decimal("50000000")


def test_seed_demo_fund_two_pipeline_is_40m_in_open_stages():
    run("seed_demo")

    opportunities = Opportunity.objects.filter(fund__name="Fund II")

    assert opportunities.count() == 6
    assert opportunities.totals()["expected"] == Decimal("40000000")
    assert opportunities.open().count() == 6
    assert opportunities.values("stage").distinct().count() == 4
    for opportunity in opportunities.select_related("stage"):
        assert opportunity.probability == opportunity.stage.default_probability
        assert opportunity.owner is not None
        assert opportunity.next_step and opportunity.next_step_date


def test_seed_demo_twice_changes_nothing_and_keeps_a_changed_password():
    run("seed_demo")
    admin = User.objects.get(username="admin")
    admin.set_password(STRONG_PASSWORD)
    admin.save()
    before, history_before = counts(), history_counts()

    output = run("seed_demo")

    assert "nothing created" in output
    assert counts() == before
    assert history_counts() == history_before
    admin.refresh_from_db()
    assert admin.check_password(STRONG_PASSWORD)
    assert not admin.check_password("admin123")


def test_seed_demo_history_names_an_acting_user():
    run("seed_demo")
    admin = User.objects.get(username="admin")

    for model in SEEDED_MODELS:
        history = model.history.all()
        assert history.count() >= model.objects.count() > 0, model.__name__
        assert not history.filter(history_user__isnull=True).exists(), model.__name__
        # The admin creates everything; the demo deals' earlier board moves are their owners'.
        assert set(history.filter(history_type="+").values_list("history_user", flat=True)) == {admin.pk}
        team = set(User.objects.filter(username__in=["admin", "grant"]).values_list("pk", flat=True))
        assert set(history.values_list("history_user", flat=True)) <= team, model.__name__
    assert not User.history.filter(history_user__isnull=True).exists()


def test_demo_deals_carry_the_board_moves_that_brought_them_to_their_stage():
    from pipeline.models import Opportunity

    run("seed_demo")

    for opportunity in Opportunity.objects.select_related("stage"):
        stages = [h.stage.name for h in opportunity.history.order_by("history_date").select_related("stage")]
        assert stages[0] == "Lead", opportunity.name
        assert stages[-1] == opportunity.stage.name, opportunity.name
    moved = Opportunity.objects.exclude(stage__name="Lead")
    assert moved.exists()
    assert all(o.history.filter(history_type="~").count() >= 1 for o in moved)


def test_dashboard_shows_the_demo_figures(admin_client):
    run("seed_demo")

    html = admin_client.get("/").content.decode()

    assert 'data-kpi="lp-count">6<' in html
    assert 'data-kpi="pipeline-expected">$40M<' in html
    fund_one = html[html.index('data-fund="Fund I"') : html.index('data-fund="Fund II"')]
    assert 'data-figure="committed">$83M<' in fund_one
    assert "<dt>Funded</dt><dd>$83M</dd>" in fund_one


def test_seed_demo_if_empty_skips_a_database_with_users(admin_user):
    output = run("seed_demo", "--if-empty")

    assert "Skipped" in output
    assert Contact.objects.count() == 0
    assert not User.objects.filter(username="admin").exists()


def test_seed_demo_if_empty_loads_into_an_empty_database():
    assert is_empty_database()

    run("seed_demo", "--if-empty")

    assert Contact.objects.count() == 12
    assert not is_empty_database()


# --- seed_bulk -----------------------------------------------------------------------------


def wipe_seeded_records() -> None:
    # Not `flush`: that would also remove the pipeline stages the data migration created.
    for model in [Communication, Commitment, LPProfile, Opportunity, Contact, Organization, Tag, Fund]:
        model.objects.all().delete()


def snapshot() -> dict:
    return {
        "emails": sorted(Contact.objects.values_list("email", flat=True)),
        "orgs": sorted(Organization.objects.values_list("name", flat=True)),
        "expected": Opportunity.objects.aggregate(total=Sum("expected_amount"))["total"],
        "opportunities": sorted(
            Opportunity.objects.values_list("name", "stage__name", "position", "expected_amount", "owner__username")
        ),
        "commitments": sorted(
            Commitment.objects.values_list("lp__contact__email", "fund__name", "status", "commitment_amount")
        ),
        "communications": sorted(Communication.objects.values_list("contact__email", "subject", "communication_date")),
    }


def test_seed_bulk_creates_the_stated_counts():
    output = run("seed_bulk", "--scale", "20", "--as-of", "2025-06-15")

    assert Organization.objects.count() == 20
    assert Contact.objects.count() == 50
    assert Opportunity.objects.count() == 30
    assert Communication.objects.count() == 200
    assert set(Fund.objects.values_list("name", flat=True)) == {"Fund I", "Fund II"}
    assert User.objects.filter(is_active=True).count() == 3
    assert "20 organizations" in output
    investors = Contact.objects.filter(contact_type=ContactType.INVESTOR).count()
    assert LPProfile.objects.count() == round(investors * 0.3)
    assert Commitment.objects.exists()
    assert Commitment.objects.values("status").distinct().count() > 1
    assert Commitment.objects.filter(funded_amount__gt=0, funded_amount__lt=F("commitment_amount")).exists()


def test_seed_bulk_opportunities_have_probabilities_and_distinct_positions():
    run("seed_bulk", "--scale", "20")

    for opportunity in Opportunity.objects.select_related("stage"):
        assert opportunity.probability == opportunity.stage.default_probability
        assert opportunity.stage_changed_at is not None
    duplicates = Opportunity.objects.values("fund", "stage", "position").annotate(n=Count("pk")).filter(n__gt=1)
    assert not duplicates.exists()
    assert not Opportunity.objects.filter(fund__name="Fund I", stage__outcome=StageOutcome.OPEN).exists()


def test_seed_bulk_is_deterministic_for_a_given_scale():
    run("seed_bulk", "--scale", "20", "--as-of", "2025-06-15")
    first = snapshot()
    wipe_seeded_records()

    run("seed_bulk", "--scale", "20", "--as-of", "2025-06-15")

    assert snapshot() == first
    assert len(first["emails"]) == 50


def test_seed_bulk_scale_changes_the_data():
    run("seed_bulk", "--scale", "20", "--as-of", "2025-06-15")
    twenty = snapshot()
    wipe_seeded_records()

    run("seed_bulk", "--scale", "21", "--as-of", "2025-06-15")

    assert snapshot()["emails"] != twenty["emails"]


def test_seed_bulk_writes_history_with_an_acting_user():
    run("seed_bulk", "--scale", "20")

    for model in SEEDED_MODELS:
        history = model.history.all()
        assert history.count() == model.objects.count() > 0, model.__name__
        assert not history.filter(history_user__isnull=True).exists(), model.__name__
    tagged_contact = Contact.objects.annotate(n=Count("tags")).filter(n__gt=0).first()
    assert tagged_contact is not None
    creation = tagged_contact.history.get(history_type="+")
    assert set(creation.tags.values_list("tag_id", flat=True)) == set(tagged_contact.tags.values_list("pk", flat=True))


def test_seed_bulk_refuses_a_second_identical_run():
    run("seed_bulk", "--scale", "20")
    before = counts()

    with pytest.raises(CommandError, match="already exist"):
        run("seed_bulk", "--scale", "20")

    assert counts() == before


def test_seed_bulk_after_another_scale_and_after_the_demo_adds_alongside():
    run("seed_demo")
    run("seed_bulk", "--scale", "20")

    run("seed_bulk", "--scale", "21")

    assert Organization.objects.count() == 8 + 20 + 21
    assert Contact.objects.count() == 12 + 50 + 52
    assert Fund.objects.count() == 2
    assert Tag.objects.filter(name__in=DEMO_TAGS).count() == 6


def test_seed_bulk_rejects_a_scale_out_of_range():
    with pytest.raises(CommandError, match="between 1 and"):
        run("seed_bulk", "--scale", "0")
    assert Organization.objects.count() == 0


# --- create_user ---------------------------------------------------------------------------


def test_create_user_reads_the_password_from_stdin():
    output = run(
        "create_user",
        "nora",
        "--role",
        "manager",
        "--email",
        "Nora@Fund.example",
        "--full-name",
        "Nora  North",
        "--password-stdin",
        stdin=io.StringIO(STRONG_PASSWORD + "\n"),
    )

    user = User.objects.get(username="nora")
    assert user.role == Role.MANAGER
    assert user.email == "nora@fund.example"
    assert user.full_name == "Nora North"
    assert user.check_password(STRONG_PASSWORD)
    assert "Created manager 'nora'" in output


def test_create_user_prompts_twice_for_the_password(monkeypatch):
    answers = iter([STRONG_PASSWORD, STRONG_PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    run("create_user", "ivan", "--role", "member")

    assert User.objects.get(username="ivan").check_password(STRONG_PASSWORD)


def test_create_user_refuses_mismatched_prompts(monkeypatch):
    answers = iter([STRONG_PASSWORD, STRONG_PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    with pytest.raises(CommandError, match="did not match"):
        run("create_user", "ivan", "--role", "member")
    assert not User.objects.filter(username="ivan").exists()


def test_create_user_rejects_a_weak_password_with_the_validator_message():
    with pytest.raises(CommandError, match="too short") as excinfo:
        run("create_user", "nora", "--role", "member", "--password-stdin", stdin=io.StringIO("1234\n"))

    assert "entirely numeric" in str(excinfo.value)
    assert not User.objects.filter(username="nora").exists()


def test_create_user_rejects_a_duplicate_username(member_user):
    with pytest.raises(CommandError, match="already exists"):
        run("create_user", "MAX", "--role", "admin", "--password-stdin", stdin=io.StringIO(STRONG_PASSWORD + "\n"))
    assert User.objects.count() == 1


def test_create_user_rejects_an_unknown_role():
    with pytest.raises(CommandError, match="invalid choice: 'boss'"):
        run("create_user", "nora", "--role", "boss", "--password-stdin", stdin=io.StringIO(STRONG_PASSWORD + "\n"))
    assert not User.objects.exists()
