"""Email capture (issue 17) against a real dovecot: what a sync stores, what it never stores, and how it fails.

The server (contacts/tests/conftest.py ``imap_server``) holds the messages of
crm/testing/mailseed.py; every test only reads it, so they share one server.
"""

from __future__ import annotations

import datetime
import io
import socket
import threading

import pytest
from django.core.management import call_command

from conftest import make_user
from contacts.models import CaptureExclusion, Communication, Contact, Direction, Mailbox
from crm.capture import sync
from crm.models import Role
from crm.testing import mailseed

pytestmark = pytest.mark.slow


def connect(user, server, *, password: str | None = None, **extra) -> Mailbox:
    extra.setdefault("use_tls", False)
    mailbox = Mailbox(
        user=user,
        host=server.host,
        port=server.port,
        username=user.username,
        start_date=datetime.date(2026, 11, 1),
        **extra,
    )
    mailbox.set_password(password or mailseed.USERS[user.username])
    mailbox.save()
    return mailbox


@pytest.fixture
def ana(db):
    return make_user("ana", Role.MEMBER, email=mailseed.ANA)


@pytest.fixture
def ben(db):
    return make_user("ben", Role.MEMBER, email=mailseed.BEN)


def by_subject() -> dict[str, Communication]:
    return {c.subject: c for c in Communication.objects.prefetch_related("contact_attendees")}


def test_a_sync_stores_each_message_with_a_contact_as_an_email_communication(imap_server, people, ana):
    mailbox = connect(ana, imap_server)

    status = sync.sync_mailbox(mailbox)

    found = by_subject()
    assert set(found) == {"Fund III data room", "Lunch?", "Documents", "Réunion à Zürich", "Re: Fund III data room"}
    assert Communication.objects.count() == 6  # m1 to m6: m5 and m6 share the "Re:" subject
    first = Communication.objects.get(message_id="<m1@seed.example>")
    assert first.type == "email" and first.direction == Direction.INBOUND
    assert first.body == "Could you send the data room link?\n\nBest,\nAda"  # the signature trimmed
    assert first.contact == people["ada"] and first.opportunity == people["deal"]
    assert first.communication_date == datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)
    assert first.created_by == ana
    lunch = found["Lunch?"]
    assert lunch.body == "Hello Ana,\nlunch on Friday?"  # HTML-only, as text
    assert lunch.opportunity is None  # Bo has two open deals: no guess
    documents = found["Documents"]
    assert documents.attachment_names.splitlines() == ["LPA draft.pdf", "Side letter.pdf"]
    assert documents.body == "The drafts are attached."
    assert found["Réunion à Zürich"].body == "Café à Zürich, mardi à 10h."
    assert mailbox.__class__.objects.get(pk=mailbox.pk).last_sync_ok
    assert "captured 6" in status and "1 could not be read" in status


def test_an_answer_is_outbound_with_every_contact_on_it_and_threads_under_what_it_answers(imap_server, people, ana):
    sync.sync_mailbox(connect(ana, imap_server))

    first = Communication.objects.get(message_id="<m1@seed.example>")
    answer = Communication.objects.get(message_id="<m6@seed.example>")
    again = Communication.objects.get(message_id="<m5@seed.example>")
    assert answer.direction == Direction.OUTBOUND
    assert answer.contact == people["ada"] and answer.opportunity == people["deal"]
    # The main contact is the communication's contact; the others are its "also present".
    assert list(answer.contact_attendees.all()) == [people["bo"]]
    assert answer.body == "Here it is: https://dataroom.example/fund3"  # the quoted part trimmed
    assert answer.parent == first and answer.in_reply_to == "<m1@seed.example>"
    # m5 came first in INBOX, before its parent m6 was read: it is linked once m6 is stored.
    assert again.parent == answer
    assert again.references.splitlines() == ["<m1@seed.example>", "<m6@seed.example>"]


def test_mail_with_no_contact_an_excluded_address_or_a_never_capture_contact_is_never_stored(imap_server, people, ana):
    sync.sync_mailbox(connect(ana, imap_server))

    stored = set(Communication.objects.values_list("message_id", flat=True))
    assert "<m7@seed.example>" not in stored  # from an unknown address
    assert "<m8@seed.example>" not in stored  # Cy (never capture) is on it, Ada too
    assert "<m9@seed.example>" not in stored  # Dee's domain is excluded
    assert not Communication.objects.filter(subject__in=["Buy now", "Private", "Weekend", "broken"]).exists()
    assert not Communication.objects.filter(contact__in=[people["cy"], people["dee"]]).exists()


def test_every_captured_record_is_in_history_with_the_mailbox_owner(imap_server, people, ana):
    sync.sync_mailbox(connect(ana, imap_server))

    created = Communication.history.filter(history_type="+")
    assert created.count() == Communication.objects.count() == 6
    assert set(Communication.history.values_list("history_user", flat=True)) == {ana.pk}


def test_the_same_message_in_inbox_and_sent_is_stored_once(imap_server, people, ana):
    sync.sync_mailbox(connect(ana, imap_server))

    assert Communication.objects.filter(message_id="<m6@seed.example>").count() == 1


def test_running_the_sync_again_adds_nothing_even_when_it_reads_everything_again(imap_server, people, ana):
    mailbox = connect(ana, imap_server)
    sync.sync_mailbox(mailbox)
    before = sorted(Communication.objects.values_list("pk", "message_id", "parent_id"))

    second = sync.sync_mailbox(mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(folder_state={})  # as after a new start date
    mailbox.refresh_from_db()
    third = sync.sync_mailbox(mailbox)

    assert sorted(Communication.objects.values_list("pk", "message_id", "parent_id")) == before
    assert second == "No new messages."
    assert "Read 11 new messages, captured 0." in third


def test_a_message_in_two_users_mailboxes_is_stored_once_and_each_keeps_their_own(imap_server, people, ana, ben):
    sync.sync_mailbox(connect(ana, imap_server))
    sync.sync_mailbox(connect(ben, imap_server))

    assert Communication.objects.filter(message_id="<m1@seed.example>").get().created_by == ana
    coffee = Communication.objects.get(subject="Coffee")
    assert coffee.created_by == ben and coffee.contact == people["bo"]
    assert set(coffee.history.values_list("history_user", flat=True)) == {ben.pk}


def test_a_wrong_password_gives_a_clear_status_and_stores_nothing(imap_server, people, ana):
    mailbox = connect(ana, imap_server, password="not-the-password")

    sync.sync_mailbox(mailbox)

    mailbox.refresh_from_db()
    assert not mailbox.last_sync_ok and mailbox.last_sync_at is not None
    assert mailbox.last_sync_message == (
        "The server refused the user name or app password. Check them, or make a new app password."
    )
    assert not Communication.objects.exists()


def test_tls_to_a_plain_port_gives_a_clear_status(imap_server, people, ana):
    mailbox = connect(ana, imap_server, use_tls=True)

    sync.sync_mailbox(mailbox)

    mailbox.refresh_from_db()
    assert not mailbox.last_sync_ok
    assert mailbox.last_sync_message.startswith(f"TLS failed with 127.0.0.1:{imap_server.port}")
    assert "993 is for TLS" in mailbox.last_sync_message


@pytest.fixture
def silent_server():
    """A port that accepts connections and never says a word, like a hung server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_server_that_never_answers_times_out_with_a_clear_status(silent_server, ana):
    mailbox = Mailbox(user=ana, host="127.0.0.1", port=silent_server, use_tls=False, username="ana")
    mailbox.start_date = datetime.date(2026, 11, 1)
    mailbox.set_password("x")
    mailbox.save()

    sync.sync_mailbox(mailbox, timeout=0.5)

    mailbox.refresh_from_db()
    assert not mailbox.last_sync_ok
    assert mailbox.last_sync_message == f"127.0.0.1:{silent_server} did not answer within 0.5 seconds."


def test_a_folder_the_server_lacks_is_named_and_the_others_are_still_read(imap_server, people, ana):
    mailbox = connect(ana, imap_server, folders="Archive\nINBOX")

    sync.sync_mailbox(mailbox)

    mailbox.refresh_from_db()
    assert not mailbox.last_sync_ok
    assert "There is no folder “Archive” on the server." in mailbox.last_sync_message
    assert Communication.objects.filter(message_id="<m1@seed.example>").exists()


def test_one_users_failing_mailbox_does_not_stop_the_others_sync(
    imap_server, silent_server, people, ana, ben, monkeypatch
):
    monkeypatch.setattr(sync, "TIMEOUT", 0.5)
    carl = make_user("carl", Role.MEMBER, email="carl@fund.example")
    refused = connect(ana, imap_server, password="wrong")
    hung = Mailbox(user=carl, host="127.0.0.1", port=silent_server, use_tls=False, username="carl")
    hung.start_date = datetime.date(2026, 11, 1)
    hung.set_password("x")
    hung.save()
    working = connect(ben, imap_server)

    out = io.StringIO()
    call_command("sync_mailboxes", "--now", stdout=out)

    refused.refresh_from_db()
    hung.refresh_from_db()
    working.refresh_from_db()
    assert not refused.last_sync_ok and "refused" in refused.last_sync_message
    assert not hung.last_sync_ok and "did not answer" in hung.last_sync_message
    assert working.last_sync_ok
    subjects = set(Communication.objects.values_list("subject", flat=True))
    assert subjects == {"Fund III data room", "Coffee", "Re: Coffee"}
    assert out.getvalue().splitlines()[-1] == "Synced 3 mailboxes, 2 with problems."


def test_a_bug_in_one_sync_is_recorded_and_the_next_mailbox_is_still_synced(imap_server, people, ana, ben, monkeypatch):
    broken = connect(ana, imap_server)
    working = connect(ben, imap_server)
    real = sync.sync_mailbox

    def failing_for_ana(mailbox, **kwargs):
        if mailbox.pk == broken.pk:
            raise RuntimeError("a bug")
        return real(mailbox, **kwargs)

    monkeypatch.setattr(sync, "sync_mailbox", failing_for_ana)

    sync.sync_all()

    broken.refresh_from_db()
    working.refresh_from_db()
    assert (
        not broken.last_sync_ok
        and broken.last_sync_message == "The sync stopped with an error. It will be tried again."
    )
    assert working.last_sync_ok and Communication.objects.filter(subject="Coffee").exists()


def test_a_contact_marked_never_capture_later_stays_out_of_the_next_sync(imap_server, people, ben):
    Contact.objects.filter(pk=people["bo"].pk).update(never_capture=True)

    sync.sync_mailbox(connect(ben, imap_server))

    assert list(Communication.objects.values_list("subject", flat=True)) == ["Fund III data room"]  # Bo's are out


def test_a_captured_email_shows_its_direction_thread_and_attachment_names(client, imap_server, people, ana):
    sync.sync_mailbox(connect(ana, imap_server))
    client.force_login(ana)
    reply = Communication.objects.get(message_id="<m5@seed.example>")
    answer = Communication.objects.get(message_id="<m6@seed.example>")
    documents = Communication.objects.get(subject="Documents")

    reply_page = client.get(f"/communications/{reply.pk}/").content.decode()
    documents_page = client.get(f"/communications/{documents.pk}/").content.decode()

    assert "Inbound · captured from Ana's mailbox" in reply_page
    assert f'<a href="/communications/{answer.pk}/">Re: Fund III data room</a>' in reply_page
    assert documents_page.index("LPA draft.pdf") < documents_page.index("Side letter.pdf")
    assert documents_page.count("Keep this file") == 2


def test_an_excluded_domain_covers_its_subdomains_and_an_excluded_address_only_itself(db):
    CaptureExclusion.objects.create(value=" Fund.Example ")
    CaptureExclusion.objects.create(value="ana.private@gmail.com")

    excluded = CaptureExclusion.objects.matcher()

    assert excluded("ana@fund.example") and excluded("ops@eu.fund.example") and excluded("ANA.PRIVATE@gmail.com")
    assert not excluded("someone@gmail.com") and not excluded("ana@notfund.example")


def test_sent_is_read_from_the_folder_the_server_flags_as_sent_mail(imap_server, people, ben):
    sync.sync_mailbox(connect(ben, imap_server))  # asks for INBOX and Sent; the server has "Sent Items"

    answer = Communication.objects.get(subject="Re: Coffee")
    assert answer.direction == Direction.OUTBOUND and answer.contact == people["bo"]
    assert answer.parent == Communication.objects.get(subject="Coffee")
    assert Mailbox.objects.get(user=ben).last_sync_ok
