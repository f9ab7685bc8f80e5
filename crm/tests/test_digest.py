"""The morning digest, sent to a real SMTP server (aiosmtpd on a loopback port)."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from io import StringIO

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.core.management import call_command
from django.utils import timezone

from conftest import make_user
from crm.digest import send
from crm.lib import digest
from crm.models import DigestDelivery, Role
from crm.testing import factories as f


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook name
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list:
        return [message for rcpts, message in self.messages if address in rcpts]


def _start(settings, inbox: Inbox, **options) -> Controller:
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    settings.CRM_EMAIL_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.CRM_BASE_URL = "https://crm.example.org"
    return controller


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = _start(settings, inbox)
    yield inbox
    controller.stop()


@pytest.fixture
def team(db):
    return {
        "manager": make_user("mara", Role.MANAGER, email="mara@fund.example"),
        "member": make_user("milo", Role.MEMBER, email="milo@fund.example"),
        "idle": make_user("ida", Role.MEMBER, email="ida@fund.example"),
    }


def _parts(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_each_user_with_something_due_gets_one_digest_with_text_and_html_parts(smtp, team):
    person = f.contact("Okafor")
    overdue = f.action(person, -2, by=team["member"], next_action="Send the deck")
    f.action(person, 0, by=team["member"], next_action="Call back Ada")
    f.action(person, 3, by=team["member"], next_action="Later thing")

    outcome = send.send_digests()

    assert outcome.sent == ["milo"] and not outcome.failed
    [message] = smtp.to("milo@fund.example")
    assert message["Subject"].startswith("Your CRM digest for") and "2 due" in message["Subject"]
    text, html = _parts(message)
    for body in (text, html):
        assert "Send the deck" in body and "Call back Ada" in body and "Later thing" not in body
        assert f"https://crm.example.org/communications/{overdue.pk}/" in body
    assert "OVERDUE" in text and "Overdue" in html
    assert "<img" not in html


def test_a_user_with_nothing_due_gets_no_email(smtp, team):
    f.action(f.contact(), 0, by=team["member"])
    outcome = send.send_digests()
    assert smtp.to("ida@fund.example") == []
    assert "ida" in outcome.empty


def test_a_manager_gets_the_raises_changes_since_yesterday_and_a_member_does_not(smtp, team):
    fund = f.fund("Fund III", status="raising")
    f.opportunity(f.contact("Lindqvist"), fund, name="Lindqvist into Fund III")
    f.action(f.contact(), 0, by=team["member"])

    send.send_digests()

    [message] = smtp.to("mara@fund.example")
    text, html = _parts(message)
    for body in (text, html):
        assert "Fund III" in body and "Lindqvist into Fund III" in body
        assert "https://crm.example.org/pipeline/changes/?fund=" in body
    member_text, _ = _parts(smtp.to("milo@fund.example")[0])
    assert "Lindqvist into Fund III" not in member_text


def test_a_digest_is_sent_at_most_once_per_user_per_day(smtp, team):
    f.action(f.contact(), 0, by=team["member"])
    send.send_digests()
    second = send.send_digests()
    assert len(smtp.to("milo@fund.example")) == 1
    assert second.already == ["milo"]
    assert DigestDelivery.objects.filter(user=team["member"], day=timezone.localdate()).count() == 1


def test_users_who_opted_out_are_inactive_or_have_no_email_get_nothing(smtp, team):
    for user, change in ((team["member"], {"digest_opt_out": True}), (team["idle"], {"email": ""})):
        for name, value in change.items():
            setattr(user, name, value)
        user.save()
        f.action(f.contact(), 0, by=user)
    gone = make_user("gus", Role.MEMBER, email="gus@fund.example", is_active=False)
    f.action(f.contact(), 0, by=gone)
    outcome = send.send_digests()
    assert smtp.messages == [] and outcome.sent == []


def test_a_registered_section_appears_in_the_digest(smtp, team):
    item = digest.Item("Review the LPA", "Task from Mara", timezone.localdate(), "/tasks/1/")
    digest.register(
        "test-tasks",
        lambda user, today: digest.Section("tasks", "Your tasks", [item]) if user.username == "ida" else None,
    )
    try:
        send.send_digests()
    finally:
        digest.unregister("test-tasks")
    [message] = smtp.to("ida@fund.example")
    text, html = _parts(message)
    assert "Your tasks" in text and "https://crm.example.org/tasks/1/" in html


def test_a_server_that_refuses_the_password_gives_a_clear_error_and_sends_nothing(settings, team):
    class Refuse:
        def __call__(self, server, session, envelope, mechanism, auth_data):
            return AuthResult(success=False, handled=False)

    inbox = Inbox()
    controller = _start(settings, inbox, authenticator=Refuse(), auth_require_tls=False)
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "crm", "wrong"
    f.action(f.contact(), 0, by=team["member"])
    f.action(f.contact(), 0, by=team["manager"])
    try:
        outcome = send.send_digests()
    finally:
        controller.stop()
    assert set(outcome.failed) == {"mara", "milo"}  # the first failure did not stop the second
    assert "refused the user name or password" in outcome.failed["milo"]
    assert inbox.messages == []
    assert not DigestDelivery.objects.exists()  # the next run tries again


def test_a_server_that_is_down_gives_a_clear_error_for_each_user(settings, team):
    settings.CRM_EMAIL_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _free_port()
    settings.EMAIL_USE_TLS = False
    f.action(f.contact(), 0, by=team["member"])
    f.action(f.contact(), 0, by=team["manager"])
    outcome = send.send_digests()
    assert set(outcome.failed) == {"mara", "milo"}
    assert "Could not reach the SMTP server 127.0.0.1" in outcome.failed["milo"]


def test_send_digest_says_email_is_off_by_default_and_sends_nothing(settings, team):
    assert settings.CRM_EMAIL_ENABLED is False
    f.action(f.contact(), 0, by=team["member"])
    out = StringIO()
    call_command("send_digest", stdout=out)
    assert send.EMAIL_OFF in out.getvalue()
    assert not DigestDelivery.objects.exists()


def test_send_digest_dry_run_prints_the_digests_and_records_nothing(settings, team):
    f.action(f.contact(), 0, by=team["member"], next_action="Call back Ada")
    out = StringIO()
    call_command("send_digest", "--dry-run", stdout=out)
    assert "To: milo@fund.example" in out.getvalue() and "Call back Ada" in out.getvalue()
    assert "Dry run: 1 digest(s) sent" in out.getvalue()
    assert not DigestDelivery.objects.exists()


def test_the_worker_task_sends_the_digest(smtp, team):
    from crm.digest.tasks import send_daily_digest

    f.action(f.contact(), 0, by=team["member"])
    result = send_daily_digest.enqueue()
    assert "1 digest(s) sent" in result.return_value
    assert len(smtp.to("milo@fund.example")) == 1


def test_a_user_turns_the_digest_off_and_on_again_in_settings(member_client, member_user):
    assert 'name="daily_digest"' in member_client.get("/settings/").content.decode()
    posted = {"full_name": "Milo Member", "email": "milo@fund.example"}
    member_client.post("/settings/profile/", posted)
    member_user.refresh_from_db()
    assert member_user.digest_opt_out is True
    member_client.post("/settings/profile/", {**posted, "daily_digest": "on"})
    member_user.refresh_from_db()
    assert member_user.digest_opt_out is False
    assert member_user.history.first().history_user == member_user


@pytest.mark.parametrize("actions", [1, 6])
def test_building_a_managers_digest_runs_a_fixed_number_of_queries(team, django_assert_num_queries, actions):
    from crm.digest import compose

    fund = f.fund("Fund III", status="raising")
    f.opportunity(f.contact(), fund)
    for _ in range(actions):
        f.action(f.contact(), -1, by=team["manager"])
    # 9 for the actions, the deadlines' sources and the raise's changes; 1 for the tasks (a slice;
    # a count only when it is full); 2 for the stale relationships (thresholds, slice; the same).
    with django_assert_num_queries(12):
        built = compose.build(team["manager"], timezone.localdate())
    assert len(built.sections[0].items) == actions and built.changes is not None


def test_a_digest_lists_only_the_users_own_actions(team):
    from crm.digest import compose

    f.action(f.contact(), 0, by=team["manager"], next_action="Mara's call")
    f.action(f.contact(), 0, by=team["member"], next_action="Milo's call")
    built = compose.build(team["member"], timezone.localdate())
    assert [item.title for item in built.sections[0].items] == ["Milo's call"]


def test_a_section_that_fails_for_one_user_does_not_stop_the_others(smtp, team):
    def broken(user, today):
        if user.username == "milo":
            raise RuntimeError("bug")
        return

    f.action(f.contact(), 0, by=team["member"])
    f.action(f.contact(), 0, by=team["manager"])
    digest.register("test-broken", broken)
    try:
        outcome = send.send_digests()
    finally:
        digest.unregister("test-broken")
    assert outcome.sent == ["mara"] and "could not be built" in outcome.failed["milo"]
    assert len(smtp.to("mara@fund.example")) == 1


def test_the_digest_lists_the_users_overdue_tasks_and_the_stale_relationships_they_own(smtp, team):
    from pipeline import todo

    today = timezone.localdate()
    todo.create_task(team["manager"], title="Chase the side letter", owner=team["idle"], due_date=today)
    todo.create_task(
        team["manager"], title="Next month's thing", owner=team["idle"], due_date=today.replace(year=today.year + 1)
    )
    forgotten = f.contact("Forgotten", owner=team["idle"], contact_type="prospect")  # never touched: stale
    kept_warm = f.contact("Warm", owner=team["idle"], contact_type="prospect")
    f.comm(kept_warm, 2)
    f.contact("Elsewhere", owner=team["member"], contact_type="prospect")

    send.send_digests()

    [message] = smtp.to("ida@fund.example")
    text, html = _parts(message)
    for body in (text, html):
        assert "Chase the side letter" in body and "Next month's thing" not in body
        assert "Stale relationships you own" in body
        assert str(forgotten) in body and "never touched" in body
        assert str(kept_warm) not in body and "Elsewhere" not in body
    assert f"https://crm.example.org/contacts/{forgotten.pk}/" in html


def test_every_due_task_counts_in_the_digest_beyond_the_first_twenty(team):
    from crm.digest import compose
    from pipeline import todo

    today = timezone.localdate()
    for n in range(todo.DIGEST_LIMIT + 2):
        todo.create_task(team["manager"], title=f"Chase {n}", owner=team["idle"], due_date=today)
    built = compose.build(team["idle"], today)
    [tasks] = [section for section in built.sections if section.key == "tasks"]
    assert len(tasks.items) == todo.DIGEST_LIMIT and tasks.remaining == 2
    assert tasks.more_url == "/tasks/?who=mine"
