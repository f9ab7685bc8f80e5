"""Settings → Email capture: connecting, editing, syncing and disconnecting one's own mailbox (issue 17)."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape
from django_tasks_db.models import DBTaskResult

from conftest import HX, make_user
from contacts.models import Communication, Mailbox
from crm.models import Role
from crm.testing import factories, mailseed

FORM = {
    "host": "imap.fund.example",
    "port": "993",
    "use_tls": "on",
    "username": "max@fund.example",
    "password": "app-password-123",
    "folders": "INBOX\nSent",
    "start_date": "2026-11-01",
    "enabled": "on",
}


def mailbox_of(user) -> Mailbox:
    return Mailbox.objects.get(user=user)


@pytest.mark.parametrize("headers", [{}, HX])
def test_a_member_connects_their_mailbox_and_the_password_is_stored_encrypted(member_client, member_user, headers):
    response = member_client.post("/settings/mailbox/", FORM, headers=headers)

    mailbox = mailbox_of(member_user)
    assert mailbox.host == "imap.fund.example" and mailbox.port == 993 and mailbox.use_tls
    assert mailbox.folder_list == ["INBOX", "Sent"] and mailbox.start_date == datetime.date(2026, 11, 1)
    assert mailbox.password() == "app-password-123"
    assert "app-password-123" not in mailbox.password_encrypted
    if headers:
        assert response.status_code == 200 and 'id="mailbox"' in response.content.decode()
    else:
        assert response.status_code == 302 and response["Location"] == "/settings/#mailbox"


def test_the_password_is_never_shown_again(member_client, member_user):
    member_client.post("/settings/mailbox/", FORM)

    html = member_client.get("/settings/").content.decode()
    section = html.split('id="mailbox"')[1].split("</section>")[0]
    assert "app-password-123" not in html and mailbox_of(member_user).password_encrypted not in html
    assert 'name="password"' in section and "Leave empty to keep it" in section
    assert 'value="imap.fund.example"' in section


def test_saving_without_a_password_keeps_the_stored_one(member_client, member_user):
    member_client.post("/settings/mailbox/", FORM)

    member_client.post("/settings/mailbox/", {**FORM, "password": "", "host": "mail.fund.example"})

    mailbox = mailbox_of(member_user)
    assert mailbox.host == "mail.fund.example" and mailbox.password() == "app-password-123"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"password": ""}, "password", "Enter the app password the CRM signs in with."),
        ({"host": "https://imap.fund.example"}, "host", "The server's name only"),
        ({"port": "70000"}, "port", "A port between 1 and 65535"),
        ({"folders": "  \n "}, "folders", "Name at least one folder"),
    ],
)
def test_bad_mailbox_input_is_refused_beside_the_field(member_client, member_user, change, field, message):
    response = member_client.post("/settings/mailbox/", {**FORM, **change}, headers=HX)

    assert response.status_code == 200
    assert escape(message) in response.content.decode()
    assert not Mailbox.objects.filter(user=member_user).exists()


def test_each_user_sees_and_changes_only_their_own_mailbox(member_client, member_user, admin_user):
    Mailbox.objects.create(user=admin_user, host="imap.admin.example", username="alice", start_date="2026-11-01")

    html = member_client.get("/settings/").content.decode()
    member_client.post("/settings/mailbox/", FORM)
    member_client.post("/settings/mailbox/disconnect/")

    assert "imap.admin.example" not in html
    assert Mailbox.objects.get(user=admin_user).host == "imap.admin.example"
    assert not Mailbox.objects.filter(user=member_user).exists()


@pytest.mark.parametrize("headers", [{}, HX])
def test_disconnecting_forgets_the_mailbox_but_keeps_what_was_captured(member_client, member_user, headers):
    member_client.post("/settings/mailbox/", FORM)
    captured = factories.comm(factories.contact(), created_by=member_user, message_id="<kept@example>")

    response = member_client.post("/settings/mailbox/disconnect/", headers=headers)

    assert not Mailbox.objects.filter(user=member_user).exists()
    assert Communication.objects.filter(pk=captured.pk).exists()
    assert response.status_code == (200 if headers else 302)


def test_the_settings_page_asks_the_same_number_of_queries_with_a_mailbox(member_client, member_user):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert member_client.get("/settings/").status_code == 200
        return len(captured)

    without = queries()
    member_client.post("/settings/mailbox/", FORM)
    Mailbox.objects.filter(user=member_user).update(
        last_sync_at=datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC), last_sync_message="Read 3 new messages."
    )

    assert queries() == without


@pytest.mark.slow
@pytest.mark.parametrize("headers", [{}, HX])
def test_sync_now_syncs_the_mailbox_and_shows_the_status(client, imap_server, headers, db):
    ana = make_user("ana", Role.MEMBER, email=mailseed.ANA)
    factories.contact("Okafor", first_name="Ada", email=mailseed.ADA)
    client.force_login(ana)
    form = {**FORM, "host": imap_server.host, "port": imap_server.port, "username": "ana"}
    client.post("/settings/mailbox/", {**form, "password": mailseed.USERS["ana"], "use_tls": ""})

    # Tests run tasks at once (conftest's ImmediateBackend); production queues it for db_worker.
    response = client.post("/settings/mailbox/sync/", headers=headers, follow=not headers)

    mailbox = mailbox_of(ana)
    assert mailbox.last_sync_ok and mailbox.last_sync_at is not None
    assert Communication.objects.filter(message_id="<m1@seed.example>", created_by=ana).exists()
    assert mailbox.last_sync_message in response.content.decode()


def test_sync_now_without_a_mailbox_says_to_connect_one_first(member_client):
    response = member_client.post("/settings/mailbox/sync/", headers=HX)

    assert "Connect a mailbox first." in response.content.decode()


@pytest.fixture
def queued_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_sync_now_queues_one_task_for_the_worker(member_client, member_user, queued_tasks):
    member_client.post("/settings/mailbox/", FORM)

    member_client.post("/settings/mailbox/sync/")

    task = DBTaskResult.objects.get()
    assert task.task_path == "crm.capture.tasks.sync_mailbox"
    assert task.args_kwargs["args"] == [mailbox_of(member_user).pk]


def test_the_sweep_queues_a_sync_for_each_enabled_mailbox_of_an_active_user(db, queued_tasks, capsys):
    on = Mailbox.objects.create(user=make_user("on", Role.MEMBER), host="h", username="u", start_date="2026-11-01")
    Mailbox.objects.create(
        user=make_user("off", Role.MEMBER), host="h", username="u", start_date="2026-11-01", enabled=False
    )
    Mailbox.objects.create(
        user=make_user("gone", Role.MEMBER, is_active=False), host="h", username="u", start_date="2026-11-01"
    )

    call_command("sync_mailboxes")

    assert [t.args_kwargs["args"] for t in DBTaskResult.objects.all()] == [[on.pk]]
    assert capsys.readouterr().out.strip() == "Queued 1 mailbox sync for the worker."


def test_an_earlier_start_date_makes_the_next_sync_read_every_folder_again(member_client, member_user):
    member_client.post("/settings/mailbox/", FORM)
    Mailbox.objects.filter(user=member_user).update(folder_state={"INBOX": {"uidvalidity": 1, "last_uid": 40}})

    member_client.post("/settings/mailbox/", {**FORM, "password": "", "enabled": ""})
    kept = mailbox_of(member_user).folder_state
    member_client.post("/settings/mailbox/", {**FORM, "password": "", "start_date": "2026-01-01"})

    assert kept == {"INBOX": {"uidvalidity": 1, "last_uid": 40}}
    assert mailbox_of(member_user).folder_state == {}
