"""Attachments kept on request (issue 17): "Keep this file" fetches the part from a real dovecot.

Ana's mailbox (crm/testing/mailseed.py) holds "Documents" (m3) with two PDF attachments;
capture stores their names only, and a file only when someone asks.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from django.conf import settings

from conftest import make_user
from contacts.models import AttachmentStatus, Communication, KeptAttachment
from contacts.tests.test_capture import connect
from crm.capture import attachments, sync
from crm.models import Role
from crm.testing import mailseed
from crm.tests.test_access_helpers import hide  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def ana(db):
    return make_user("ana", Role.MEMBER, email=mailseed.ANA)


@pytest.fixture
def documents(imap_server, people, ana) -> Communication:
    sync.sync_mailbox(connect(ana, imap_server))
    return Communication.objects.get(message_id="<m3@seed.example>")


def keep(client, communication, position):
    return client.post(f"/communications/{communication.pk}/attachments/{position}/keep/")


def test_keeping_a_file_fetches_it_from_the_mailbox_and_the_download_gives_the_same_bytes(client, documents, ana):
    client.force_login(ana)
    assert "Keep this file" in client.get(f"/communications/{documents.pk}/").content.decode()

    response = keep(client, documents, 1)  # tasks run at once in the tests: the fetch is done

    assert response.status_code == 302
    kept = KeptAttachment.objects.get(communication=documents)
    assert (kept.position, kept.name, kept.status) == (1, "Side letter.pdf", AttachmentStatus.STORED)
    assert kept.content_type == "application/pdf" and kept.size == len(b"%PDF-1.4 not really")
    download = client.get(f"/communications/{documents.pk}/attachments/1/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 not really"
    assert (
        download["Content-Disposition"].startswith("attachment;")
        and "Side letter.pdf" in download["Content-Disposition"]
    )
    assert download["X-Content-Type-Options"] == "nosniff"
    # Stored as LP documents are: owner-only, under a random name in the data folder, in history.
    path = Path(kept.file.path)
    assert path.is_relative_to(Path(settings.DOCUMENTS_DIR) / "email") and "Side" not in path.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(kept.history.values_list("history_user", flat=True)) == {ana.pk}
    page = client.get(f"/communications/{documents.pk}/").content.decode()
    assert f'<a href="/communications/{documents.pk}/attachments/1/" download>Side letter.pdf</a>' in page


def test_only_the_file_asked_for_is_kept(client, documents, ana):
    client.force_login(ana)
    keep(client, documents, 0)

    assert list(KeptAttachment.objects.values_list("name", flat=True)) == ["LPA draft.pdf"]
    assert client.get(f"/communications/{documents.pk}/attachments/1/").status_code == 404


def test_a_user_who_cannot_see_the_email_gets_404_for_its_file_and_cannot_ask_for_one(client, documents, ana, hide):  # noqa: F811
    client.force_login(ana)
    keep(client, documents, 0)
    other = make_user("otto", Role.MEMBER, email="otto@fund.example")
    client.force_login(other)
    url = f"/communications/{documents.pk}/attachments/0/"
    assert client.get(url).status_code == 200  # while the email is visible

    hide(documents)

    assert client.get(url).status_code == 404
    assert keep(client, documents, 1).status_code == 404
    assert not KeptAttachment.objects.filter(position=1).exists()


def test_a_place_with_no_attachment_or_a_logged_communication_answers_404(client, documents, ana):
    client.force_login(ana)
    logged = Communication.objects.create(
        contact=documents.contact, subject="Call", communication_date=documents.communication_date
    )

    assert keep(client, documents, 2).status_code == 404
    assert keep(client, logged, 0).status_code == 404
    assert not KeptAttachment.objects.exists()


def test_a_file_of_a_type_not_kept_is_refused_with_a_reason_and_nothing_stored(documents, ana, monkeypatch):
    monkeypatch.setattr(attachments, "attachment", lambda raw, position: ("tool.exe", b"MZ a program"))
    kept = KeptAttachment.objects.create(communication=documents, position=0, name="tool.exe", requested_by=ana)

    attachments.fetch(kept)

    kept.refresh_from_db()
    assert kept.status == AttachmentStatus.FAILED and not kept.file
    assert kept.problem.startswith("Files of this type are not kept. Accepted: .pdf")


def test_a_changed_attachment_list_is_refused(documents, ana):
    kept = KeptAttachment.objects.create(communication=documents, position=0, name="Other.pdf", requested_by=ana)

    attachments.fetch(kept)

    kept.refresh_from_db()
    assert kept.status == AttachmentStatus.FAILED
    assert kept.problem == "The email's attachments are not the ones listed any more."


def test_a_file_over_the_size_limit_is_refused(documents, ana, settings):
    settings.CRM_DOCUMENT_MAX_MB = 0
    kept = KeptAttachment.objects.create(communication=documents, position=0, name="LPA draft.pdf", requested_by=ana)

    attachments.fetch(kept)

    kept.refresh_from_db()
    assert kept.status == AttachmentStatus.FAILED and kept.problem.startswith("The file is 0.0 MB; the limit is 0 MB")
    assert not any((Path(settings.DOCUMENTS_DIR) / "email").rglob("*.pdf"))


def test_an_email_no_longer_in_any_mailbox_gives_a_clear_reason_and_can_be_asked_again(client, documents, ana):
    Communication.objects.filter(pk=documents.pk).update(message_id="<gone@seed.example>")
    documents.refresh_from_db()
    client.force_login(ana)

    keep(client, documents, 0)

    kept = KeptAttachment.objects.get()
    assert kept.status == AttachmentStatus.FAILED and "no longer in the mailbox" in kept.problem
    assert "no longer in the mailbox" in client.get(f"/communications/{documents.pk}/").content.decode()
    Communication.objects.filter(pk=documents.pk).update(message_id="<m3@seed.example>")
    keep(client, documents, 0)
    kept.refresh_from_db()
    assert kept.status == AttachmentStatus.STORED


def test_a_content_that_is_not_what_its_name_says_is_refused(documents, ana, monkeypatch):
    monkeypatch.setattr(attachments, "attachment", lambda raw, position: ("LPA draft.pdf", b"MZ not a pdf"))
    kept = KeptAttachment.objects.create(communication=documents, position=0, name="LPA draft.pdf", requested_by=ana)

    attachments.fetch(kept)

    kept.refresh_from_db()
    assert (
        kept.status == AttachmentStatus.FAILED
        and kept.problem == "The file is named .pdf but its content is not a PDF."
    )


def test_deleting_the_email_removes_its_kept_files(client, documents, ana, django_capture_on_commit_callbacks):
    client.force_login(ana)
    keep(client, documents, 0)
    path = Path(KeptAttachment.objects.get().file.path)
    assert path.exists()

    with django_capture_on_commit_callbacks(execute=True):
        documents.delete()

    assert not path.exists()
