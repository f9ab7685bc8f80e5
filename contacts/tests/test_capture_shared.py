"""The shared "BCC/forward to CRM" mailbox (issue 17) against a real dovecot.

The server (contacts/tests/conftest.py ``imap_server``) holds, in the "crm" user's INBOX,
crm/testing/mailseed.py's SHARED messages: a BCC'd email, inline forwards as Gmail and
Apple Mail write them, a forward as attachment, two from a stranger, a copy of one Ana also
has in her Sent, and one to a never-captured contact.
"""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from conftest import make_user
from contacts.models import Communication, Direction, Mailbox, SharedMailbox
from contacts.services import delete_shared_mailbox, save_shared_mailbox
from contacts.tests.test_capture import connect
from crm.capture import sync, tasks
from crm.models import Role
from crm.testing import mailseed

pytestmark = pytest.mark.slow


@pytest.fixture
def ana(db):
    return make_user("ana", Role.MEMBER, email=mailseed.ANA)


@pytest.fixture
def ben(db):
    return make_user("ben", Role.MEMBER, email=mailseed.BEN)


def shared_mailbox(server, *, user, **extra) -> Mailbox:
    mailbox = Mailbox(
        host=server.host,
        port=server.port,
        use_tls=False,
        username="crm",
        folders="INBOX",
        start_date=datetime.date(2026, 11, 1),
        **extra,
    )
    mailbox.set_password(mailseed.USERS["crm"])
    return save_shared_mailbox(mailbox, user)


@pytest.fixture
def shared(imap_server, admin_user):
    return shared_mailbox(imap_server, user=admin_user)


def test_an_email_a_member_copied_to_the_crm_is_their_outbound_email_with_the_contacts_on_it(people, ana, ben, shared):
    sync.sync_mailbox(shared)

    email = Communication.objects.get(message_id="<m20@seed.example>")
    assert email.direction == Direction.OUTBOUND and email.created_by == ana
    assert email.contact == people["ada"] and list(email.contact_attendees.all()) == [people["bo"]]
    assert email.opportunity == people["deal"]
    assert email.body == "Attached is the term sheet."
    assert set(email.history.values_list("history_user", flat=True)) == {ana.pk}


def test_a_gmail_forward_logs_the_original_message_as_received_by_the_member(people, ana, ben, shared):
    sync.sync_mailbox(shared)

    email = Communication.objects.get(message_id="<m21@seed.example>")  # the forward's id: the text has none
    assert email.subject == "Allocation question"
    assert email.direction == Direction.INBOUND and email.created_by == ben
    assert email.contact == people["ada"] and list(email.contact_attendees.all()) == [people["bo"]]
    assert email.body == "Could we take a larger allocation in the first close?\n\nAda"  # not "FYI", no signature
    # "Tue, Nov 3, 2026 at 3:15 PM" has no zone: the team's own (UTC in the tests).
    assert email.communication_date == datetime.datetime(2026, 11, 3, 15, 15, tzinfo=datetime.UTC)


def test_an_apple_mail_forward_logs_the_original_with_its_date(people, ana, ben, shared):
    sync.sync_mailbox(shared)

    email = Communication.objects.get(message_id="<m22@seed.example>")
    assert (email.subject, email.body) == ("Visit in December", "We could visit your office on the 12th.")
    assert email.direction == Direction.INBOUND and email.created_by == ana and email.contact == people["bo"]
    assert email.communication_date == datetime.datetime(2026, 11, 4, 9, 30, tzinfo=datetime.UTC)


def test_a_forward_as_attachment_logs_the_original_with_its_own_message_id(people, ana, ben, shared):
    sync.sync_mailbox(shared)

    email = Communication.objects.get(message_id="<m30@seed.example>")
    assert email.subject == "Side letter comments" and email.in_reply_to == "<m1@seed.example>"
    assert email.direction == Direction.INBOUND and email.created_by == ben and email.contact == people["ada"]
    assert email.body == "Our comments on the side letter are below.\n\nAda"
    assert not Communication.objects.filter(message_id="<m23@seed.example>").exists()  # the forward itself


def test_mail_to_the_shared_address_from_someone_not_on_the_team_is_never_stored(people, ana, ben, shared):
    status = sync.sync_mailbox(shared)

    stored = set(Communication.objects.values_list("message_id", flat=True))
    assert "<m24@seed.example>" not in stored and "<m25@seed.example>" not in stored
    assert not Communication.objects.filter(subject__in=["Please log me", "Fwd: Allocation question"]).exists()
    # Ben's forward of the same Gmail text is in; the stranger's copy of it added nothing.
    assert Communication.objects.filter(subject="Allocation question").count() == 1
    assert "Read 8 new messages, captured 5." in status


def test_a_former_member_is_a_stranger_to_the_shared_mailbox(people, ana, ben, shared):
    ben.is_active = False
    ben.save()

    sync.sync_mailbox(shared)

    assert not Communication.objects.filter(created_by=ben).exists()
    assert Communication.objects.filter(created_by=ana).exists()


def test_the_shared_mailbox_keeps_exclusions_and_never_capture(people, ana, ben, shared):
    sync.sync_mailbox(shared)

    assert not Communication.objects.filter(message_id="<m26@seed.example>").exists()  # to Cy, never captured
    assert not Communication.objects.filter(contact=people["cy"]).exists()


def test_a_message_captured_from_a_personal_mailbox_is_not_stored_again_from_the_shared_one(
    imap_server, people, ana, ben, shared
):
    sync.sync_mailbox(connect(ana, imap_server))
    before = Communication.objects.get(message_id="<m6@seed.example>")

    sync.sync_mailbox(shared)

    assert Communication.objects.filter(message_id="<m6@seed.example>").get() == before
    # And the forward as attachment threads under m1, which Ana's mailbox had stored.
    first = Communication.objects.get(message_id="<m1@seed.example>")
    assert Communication.objects.get(message_id="<m30@seed.example>").parent == first


def test_syncing_the_shared_mailbox_again_adds_nothing(people, ana, ben, shared):
    sync.sync_mailbox(shared)
    before = sorted(Communication.objects.values_list("pk", "message_id"))
    Mailbox.objects.filter(pk=shared.pk).update(folder_state={})
    shared.refresh_from_db()

    again = sync.sync_mailbox(shared)

    assert sorted(Communication.objects.values_list("pk", "message_id")) == before
    assert "captured 0" in again


def test_the_schedule_and_the_sweep_sync_the_shared_mailbox_too(people, ana, ben, shared, member_user):
    assert tasks.enqueue_all() == 1  # tasks run at once in the tests: this was the sync
    assert Communication.objects.filter(message_id="<m20@seed.example>").exists()

    out = io.StringIO()
    call_command("sync_mailboxes", "--now", stdout=out)
    assert f"shared (crm on {shared.host}): No new messages." in out.getvalue()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.MEMBER])
def test_only_an_admin_sets_up_or_removes_a_shared_mailbox(imap_server, admin_user, role):
    someone = make_user("sam", role, email="sam@fund.example")
    with pytest.raises(PermissionDenied):
        shared_mailbox(imap_server, user=someone)
    assert not Mailbox.objects.exists()

    mailbox = shared_mailbox(imap_server, user=admin_user)
    with pytest.raises(PermissionDenied):
        delete_shared_mailbox(mailbox, someone)
    assert Mailbox.objects.filter(pk=mailbox.pk, shared=True, user=None).exists()


def test_a_personal_mailbox_cannot_be_deleted_as_a_shared_one(imap_server, admin_user, ana):
    personal = connect(ana, imap_server)
    with pytest.raises(PermissionDenied):
        delete_shared_mailbox(personal, admin_user)
    assert Mailbox.objects.filter(pk=personal.pk).exists()


def test_an_admin_adds_a_shared_mailbox_on_the_admin_site_and_it_lists_shared_ones_only(admin_client, imap_server, ana):
    personal = connect(ana, imap_server)
    response = admin_client.post(
        "/admin/contacts/sharedmailbox/add/",
        {
            "host": imap_server.host,
            "port": imap_server.port,
            "username": "crm",
            "password": mailseed.USERS["crm"],
            "folders": "INBOX",
            "start_date": "2026-11-01",
            "enabled": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    mailbox = SharedMailbox.objects.get()
    assert mailbox.shared and mailbox.user is None and mailbox.password() == mailseed.USERS["crm"]
    listing = admin_client.get("/admin/contacts/sharedmailbox/")
    assert list(listing.context["cl"].result_list) == [mailbox]  # Ana's personal one is not there
    assert Mailbox.objects.filter(pk=personal.pk, user=ana, shared=False).exists()
    assert (
        mailseed.USERS["crm"]
        not in admin_client.get(f"/admin/contacts/sharedmailbox/{mailbox.pk}/change/").content.decode()
    )


def test_the_admin_sync_now_action_syncs_the_shared_mailbox(admin_client, people, ana, ben, shared):
    response = admin_client.post(
        "/admin/contacts/sharedmailbox/", {"action": "sync_now", "_selected_action": [shared.pk]}
    )

    assert response.status_code == 302
    shared.refresh_from_db()
    assert shared.last_sync_ok and "captured 5" in shared.last_sync_message


def test_a_shared_mailbox_is_in_no_ones_settings(member_client, shared):
    page = member_client.get("/settings/").content.decode()
    assert "crm on" not in page and "Connect mailbox" in page
