"""A request that writes commits all of it or nothing (crm.middleware.AtomicWritesMiddleware).

The failure is forced after the first write — the contact row is in, its history row too —
and the database must then hold none of it, while the user gets a clear answer.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.db.models.signals import post_save
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Contact, Tag

pytestmark = pytest.mark.django_db

CREATE = reverse("contact_create")


@pytest.fixture
def failing_after_save():
    """Make the next saved contact fail right after its row (and history row) were written."""
    raised = []

    def install(error: Exception):
        def fail(sender, instance, created, **kwargs):
            raised.append(instance.pk)
            raise error

        post_save.connect(fail, sender=Contact, dispatch_uid="test-fail-after-save", weak=False)
        return raised

    yield install
    post_save.disconnect(sender=Contact, dispatch_uid="test-fail-after-save")


@pytest.fixture
def member_browser(member_user) -> Client:
    client = Client(raise_request_exception=False)  # as a browser sees it: a response, not a traceback
    client.force_login(member_user)
    return client


def contact_data(tag: Tag) -> dict:
    return {
        "first_name": "Ada",
        "last_name": "Okafor",
        "contact_type": "prospect",
        "status": "active",
        "tags": [tag.pk],
    }


def nothing_of_ada_is_left() -> bool:
    history = Contact.history.model
    return (
        not Contact.objects.filter(last_name="Okafor").exists()
        and not history.objects.filter(last_name="Okafor").exists()
        and not Contact.tags.through.objects.exists()
    )


def test_an_error_after_the_first_write_leaves_nothing_written(member_browser, failing_after_save):
    tag = Tag.objects.create(name="Warm intro")
    raised = failing_after_save(RuntimeError("history signal blew up"))

    response = member_browser.post(CREATE, contact_data(tag))

    assert raised, "the failure happened after the contact row was inserted"
    assert response.status_code == 500
    assert "nothing was saved" in response.content.decode()
    assert nothing_of_ada_is_left()


def test_a_database_failure_answers_503_saying_nothing_was_saved_and_takes_back_the_flash(
    member_browser, failing_after_save
):
    tag = Tag.objects.create(name="Warm intro")
    failing_after_save(OperationalError("database is locked"))

    response = member_browser.post(CREATE, contact_data(tag), headers={"HX-Request": "true"})

    assert response.status_code == 503
    assert "Nothing was saved" in response.content.decode()
    assert nothing_of_ada_is_left()
    later = member_browser.get(reverse("contact_list")).content.decode()
    assert "Added Ada" not in later and "Ada Okafor" not in later


def test_the_same_post_commits_when_nothing_fails(member_browser):
    tag = Tag.objects.create(name="Warm intro")
    response = member_browser.post(CREATE, contact_data(tag))
    assert response.status_code == 302
    contact = Contact.objects.get(last_name="Okafor")
    assert list(contact.tags.all()) == [tag] and contact.history.exists()


def test_pages_that_only_read_open_no_transaction(member_browser):
    # On SQLite every transaction here begins IMMEDIATE, taking the write lock: a page view
    # must not queue behind the team's saves. (The test's own transaction is outside.)
    with CaptureQueriesContext(connection) as reads:
        assert member_browser.get(reverse("contact_list")).status_code == 200
    with CaptureQueriesContext(connection) as writes:
        member_browser.post(CREATE, {"last_name": "Okafor", "contact_type": "prospect", "status": "active"})
    assert not any("SAVEPOINT" in q["sql"] for q in reads.captured_queries)
    assert any("SAVEPOINT" in q["sql"] for q in writes.captured_queries)
