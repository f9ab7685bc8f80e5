"""LP documents (issue 16): stored under the data folder, served only through a checked view,
type and size limits, and a file and its row kept together."""

from __future__ import annotations

import datetime
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.testing.factories import commitment, lp
from lps import calls, documents
from lps.documents import save_document, tiny_pdf
from lps.models import CommitmentStatus, Document, DocumentKind, SideLetter


def stored_files() -> list[Path]:
    root = Path(settings.DOCUMENTS_DIR)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def docx_bytes(part: str = "word/document.xml") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(part, "<w:document/>")
    return out.getvalue()


def upload(manager_client, profile, name: str, data: bytes, owner: str = "lp", kind: str = "subscription"):
    return manager_client.post(
        reverse("lp_document_upload", args=[profile.pk]),
        {"file": SimpleUploadedFile(name, data), "kind": kind, "title": "", "owner": owner},
    )


@pytest.fixture
def profile(db):
    return lp()


def test_a_manager_attaches_subscription_documents_to_an_lp_with_history(manager_client, manager_user, profile):
    response = upload(manager_client, profile, "Subscription agreement.pdf", tiny_pdf("Signed"))
    assert response.status_code == 302
    document = Document.objects.get()
    assert (document.lp, document.document_type, document.title) == (profile, "subscription", "Subscription agreement")
    assert document.content_type == "application/pdf" and document.size == len(tiny_pdf("Signed"))
    assert document.uploaded_by == manager_user and document.history.get().history_user == manager_user
    # On disk under the documents folder, owner-only, under a name that is not the uploader's.
    [path] = stored_files()
    assert path.is_relative_to(Path(settings.DOCUMENTS_DIR)) and "Subscription" not in path.name
    assert path.stat().st_mode & 0o077 == 0


def test_a_document_can_be_attached_to_one_of_the_lps_commitments(manager_client, profile, fund_two):
    item = commitment(profile, fund_two)
    assert (
        upload(manager_client, profile, "notes.txt", b"Wire details", owner=f"commitment:{item.pk}").status_code == 302
    )
    document = Document.objects.get()
    assert document.commitment == item and document.lp is None
    html = manager_client.get(reverse("lp_detail", args=[profile.pk])).content.decode()
    assert reverse("document_download", args=[document.pk]) in html


def test_a_side_letter_gets_its_signed_copy_and_a_member_downloads_it(manager_client, member_user, profile, fund_two):
    letter = SideLetter.objects.create(commitment=commitment(profile, fund_two), signed_date=datetime.date(2025, 3, 4))
    other = SideLetter.objects.create(commitment=commitment(lp(), fund_two))
    refused = upload(manager_client, profile, "theirs.pdf", tiny_pdf("x"), owner=f"side_letter:{other.pk}")
    assert refused.status_code == 400 and not Document.objects.exists()  # another LP's letter is not a choice
    response = upload(
        manager_client,
        profile,
        "Side letter.pdf",
        tiny_pdf("Signed"),
        owner=f"side_letter:{letter.pk}",
        kind="side_letter",
    )
    assert response.status_code == 302
    document = Document.objects.get()
    assert (document.side_letter, document.lp, document.commitment) == (letter, None, None)
    member_client = manager_client
    member_client.force_login(member_user)  # one test client: now the member's
    html = member_client.get(reverse("lp_detail", args=[profile.pk])).content.decode()
    assert reverse("document_download", args=[document.pk]) in html and f"{fund_two.name} side letter" in html
    assert member_client.get(reverse("document_download", args=[document.pk])).status_code == 200
    letter.delete()  # the letter's documents go with it
    assert not Document.objects.exists()


def test_a_commitment_of_another_lp_is_not_a_choice(manager_client, profile, fund_two):
    other = commitment(lp(), fund_two)
    response = upload(manager_client, profile, "notes.txt", b"x", owner=f"commitment:{other.pk}")
    assert response.status_code == 400
    assert not Document.objects.exists() and not stored_files()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("run.exe", b"MZ\x90\x00", "cannot be attached"),
        ("fake.pdf", b"<html><script>alert(1)</script>", "is not a PDF"),
        ("photo.png", b"\xff\xd8\xff\xe0 jpeg really", "is not a PNG"),
        ("letter.docx", docx_bytes("xl/workbook.xml"), "is not a Word document"),
        ("table.csv", b"a,b\x00,c", "is not a CSV"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_a_file_of_the_wrong_type_is_refused_with_a_field_error(manager_client, profile, name, data, message):
    response = upload(manager_client, profile, name, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Document.objects.exists() and not stored_files()


def test_accepted_types_are_recognised_by_their_content(manager_user, profile):
    for name, data, content_type in [
        ("a.pdf", tiny_pdf("x"), "application/pdf"),
        ("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "image/png"),
        ("a.JPG", b"\xff\xd8\xff\xe0" + b"\x00" * 8, "image/jpeg"),
        ("a.docx", docx_bytes(), documents.BY_EXTENSION[".docx"].content_type),
        ("a.xlsx", docx_bytes("xl/workbook.xml"), documents.BY_EXTENSION[".xlsx"].content_type),
        ("a.csv", "name,amount\nAdé,1\n".encode(), "text/csv"),
    ]:
        made = save_document(Document(lp=profile), SimpleUploadedFile(name, data), manager_user)
        assert made.content_type == content_type, name


def test_a_file_over_the_size_limit_is_refused_with_the_limit(manager_client, profile, settings):
    settings.CRM_DOCUMENT_MAX_MB = 1
    response = upload(manager_client, profile, "big.txt", b"a" * (1024 * 1024 + 1))
    assert response.status_code == 400
    assert "the limit is 1 MB" in response.content.decode()
    assert not stored_files()


def test_a_member_cannot_attach_or_remove_documents(member_client, manager_user, profile):
    assert upload(member_client, profile, "a.txt", b"hello").status_code == 403
    document = save_document(Document(lp=profile), SimpleUploadedFile("a.txt", b"hello"), manager_user)
    assert member_client.post(reverse("document_delete", args=[document.pk])).status_code == 403
    assert Document.objects.count() == 1 and len(stored_files()) == 1


def test_the_model_refuses_a_member_whatever_the_path(member_user, profile):
    with pytest.raises(PermissionDenied):
        save_document(Document(lp=profile), SimpleUploadedFile("a.txt", b"hello"), member_user)
    assert not stored_files()  # the refused row left no file behind


def test_a_document_with_two_owners_is_refused_and_leaves_no_file(manager_user, profile, fund_two):
    both = Document(lp=profile, commitment=commitment(profile, fund_two))  # the check constraint's case
    with pytest.raises(ValidationError):
        save_document(both, SimpleUploadedFile("a.txt", b"hello"), manager_user)
    assert not stored_files()


def test_a_member_downloads_a_pdf_inline_and_other_files_as_attachments(member_client, manager_user, profile):
    pdf = save_document(Document(lp=profile), SimpleUploadedFile("K-1 2025.pdf", tiny_pdf("K-1")), manager_user)
    text = save_document(Document(lp=profile), SimpleUploadedFile("wire.txt", b"<b>wire</b>"), manager_user)

    response = member_client.get(reverse("document_download", args=[pdf.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline") and b"".join(response.streaming_content).startswith(
        b"%PDF"
    )
    assert response["X-Content-Type-Options"] == "nosniff"

    response = member_client.get(reverse("document_download", args=[text.pk]))
    assert (
        response["Content-Disposition"].startswith("attachment")
        and 'filename="wire.txt"' in response["Content-Disposition"]
    )
    assert response["Content-Type"] == "text/plain"


def test_an_anonymous_visitor_is_sent_to_sign_in_and_there_is_no_public_url(anonymous_client, manager_user, profile):
    document = save_document(Document(lp=profile), SimpleUploadedFile("a.txt", b"secret"), manager_user)
    response = anonymous_client.get(reverse("document_download", args=[document.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]
    with pytest.raises(ValueError):
        _url = document.file.url
    assert not str(settings.DOCUMENTS_DIR).startswith(str(settings.STATIC_ROOT))
    assert anonymous_client.get("/media/" + document.file.name).status_code in (302, 404)


def test_removing_a_document_removes_its_file_once_committed(
    manager_client, manager_user, profile, django_capture_on_commit_callbacks
):
    document = save_document(Document(lp=profile), SimpleUploadedFile("a.txt", b"x"), manager_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(reverse("document_delete", args=[document.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("lp_detail", args=[profile.pk])
    assert not Document.objects.exists() and not stored_files()
    assert document.history.model.objects.filter(id=document.pk, history_type="-").get().history_user == manager_user


def test_deleting_an_lp_takes_its_documents_files_with_it(manager_user, profile, django_capture_on_commit_callbacks):
    save_document(Document(lp=profile), SimpleUploadedFile("a.txt", b"x"), manager_user)
    with django_capture_on_commit_callbacks(execute=True):
        profile._history_user = manager_user
        profile.contact.delete()
    assert not Document.objects.exists() and not stored_files()


def test_a_notice_is_attached_to_a_call_line_and_listed_on_the_call(manager_client, manager_user, fund_two):
    item = commitment(lp(), fund_two, status=CommitmentStatus.CLOSED)
    import datetime
    from decimal import Decimal

    call = calls.issue_call(
        fund_two, manager_user, notice_date=datetime.date(2026, 9, 1), due_date=datetime.date(2026, 9, 15),
        amount=Decimal("1000"),
    )  # fmt: skip
    line = call.lines.get(commitment=item)
    response = manager_client.post(
        reverse("call_line_document_upload", args=[line.pk]),
        {f"doc-{line.pk}-file": SimpleUploadedFile("notice.pdf", tiny_pdf("Call 1")), f"doc-{line.pk}-kind": "notice"},
    )
    assert response.status_code == 302
    document = Document.objects.get()
    assert document.call_line == line and document.document_type == DocumentKind.NOTICE
    html = manager_client.get(reverse("capital_call_detail", args=[call.pk])).content.decode()
    assert reverse("document_download", args=[document.pk]) in html


def test_the_lp_page_runs_the_same_queries_with_one_or_eight_documents(member_client, manager_user, profile, fund_two):
    item = commitment(profile, fund_two)

    def queries_with(count: int) -> int:
        while Document.objects.count() < count:
            owner = {"lp": profile} if Document.objects.count() % 2 else {"commitment": item}
            save_document(Document(**owner), SimpleUploadedFile("a.txt", b"x"), manager_user)
        with CaptureQueriesContext(connection) as ctx:
            html = member_client.get(reverse("lp_detail", args=[profile.pk])).content.decode()
        assert html.count("data-document=") == count
        return len(ctx.captured_queries)

    assert queries_with(1) == queries_with(8)
